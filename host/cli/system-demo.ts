// `edgeloop demo` (npm start): the whole system on the embedded default.
// An embedded MQTT broker on loopback; a line of six thermal zones, each its
// own loop on its own simulated MCU (firmware-sim) and its own agent, each
// following the zone before it; the coordinator with the telemetry history
// and the live dashboard. It runs the scripted fault twice: first without
// coordination (fast, to count what the cascade does), then with it, paced
// so the dashboard can be watched, and narrates detection, the trip (what
// tripped and why) and containment.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker } from '../mqtt/broker.js';
import type { ContainAction, Coordinator } from '../coordinator/coordinator.js';
import { LINE_DRAG_C, LINE_FAULT, LINE_ZONES, runLine, type LineResult, type ZoneResult } from './line.js';
import type { Dashboard } from '../telemetry/dashboard.js';
import { openTelemetry, serveDashboard } from './telemetry.js';
import { untilStopped, type Print } from './system.js';

export interface SystemDemoOptions {
  seconds: number;
  /** Simulated seconds per real second in the coordinated run (0: as fast as possible). */
  speed: number;
  /** Keep the dashboard up this long after the run, s (0: exit at once). */
  linger: number;
  port: number;
  dashboardPort: number;
  db?: string;
  /** How the coordinated run contains the cascade (default 'hold'). */
  containWith?: ContainAction;
}

function zoneSummary(z: ZoneResult, i: number): string {
  const modes = z.leftNominal ? z.modes.filter((m) => m !== 'NOMINAL').join('/') : 'NOMINAL';
  const trip = z.tripped ? `, tripped (${z.tripCause})` : '';
  const contained = z.contained ? `, ${z.contained === 'hold' ? 'held' : 'switched to its fallback'}` : '';
  return `zone ${i + 1} ${modes}${trip}${contained} (${z.minTemperature.toFixed(0)}..${z.maxTemperature.toFixed(0)} C)`;
}

function summary(r: LineResult): string {
  return r.zones.map(zoneSummary).join(', ');
}

/** What happened to the faulty zone itself: tripped or not, and whether it kept inside its envelope. */
function leadSummary(r: LineResult): string {
  const z = r.zones[0];
  const trip = z.tripped ? `tripped at t=${z.trippedAtS?.toFixed(1)} s by ${z.tripCause}` : 'never tripped';
  return `${trip}; hottest ${z.maxTemperature.toFixed(1)} C: ${z.envelopeViolated ? 'OUTSIDE its 10..95 C envelope' : 'inside its 10..95 C envelope'}`;
}

export async function systemDemo(o: SystemDemoOptions, print: Print, signal?: AbortSignal): Promise<number> {
  const broker = await startEmbeddedBroker({ port: o.port });
  const dir = o.db ? null : mkdtempSync(join(tmpdir(), 'edgeloop-demo-'));
  const telemetry = openTelemetry({ db: o.db ?? join(dir!, 'telemetry.db') });
  let coord: Coordinator | null = null;
  let dashboard: Promise<Dashboard> | null = null;
  try {
    print(`edgeloop demo: embedded MQTT broker at ${broker.url}; a line of ${LINE_ZONES} thermal zones on simulated MCUs, one agent each; ` +
      `zone 1 leads at 80 C and every other zone follows the one before it.`);
    print(`Scripted fault: at t=${LINE_FAULT.onsetS} s zone 1's heater driver fails reversed (it heats when told to stop). No command through ` +
      `the driver can stop it; zone 1's core classes the actuator reversed and trips: its trip output cuts the heater's power.`);
    print('');
    print(`1. Without coordination (observing only, ${o.seconds} simulated seconds, as fast as it runs):`);
    const without = await runLine({ broker: broker.url, contain: false, seconds: o.seconds, onEvent: (l) => print(`   ${l}`) });
    print(`   -> ${summary(without)}`);
    print('');
    const containWith = o.containWith ?? 'hold';
    print(`2. With the coordinator containing the cascade (${containWith === 'hold' ? 'holding' : 'switching to its fallback'} the dependent of a zone ` +
      `out of control; ${o.speed ? `${o.speed}x real time` : 'as fast as it runs'}); telemetry recorded:`);
    const paceMs = o.speed ? 100 / o.speed : 0;
    const withC = await runLine({
      broker: broker.url, contain: containWith, seconds: o.seconds, paceMs, recorder: telemetry.recorder,
      onEvent: (l) => print(`   ${l}`),
      onCoordinator: (c) => {
        coord = c;
        dashboard = serveDashboard(() => coord, telemetry.store, { port: o.dashboardPort });
        dashboard.then((d) => print(`   dashboard: ${d.url}  (live charts with the safety envelope and the trip, alarms with the first-out cause, ` +
          `health with the trip and the guard's causes, containment decisions; /metrics)`),
          (err: Error) => print(`   dashboard not started: ${err.message}`));
      },
    });
    telemetry.recorder.flush();
    print(`   -> ${summary(withC)}`);
    print('');
    const lead = [leadSummary(without), leadSummary(withC)];
    print(lead[0] === lead[1] ? `Zone 1, in both runs: ${lead[0]}.` : `Zone 1: ${lead[0]} without coordination; ${lead[1]} with it.`);
    print(`Downstream zones dragged more than ${LINE_DRAG_C} C off the ${without.operatingPoint} C operating point (their product lost): ` +
      `${without.downstreamDragged} of ${LINE_ZONES - 1} without coordination, ${withC.downstreamDragged} with it.`);
    print(`Downstream zones pushed out of NOMINAL by the one fault: ${without.downstreamOutOfNominal} of ${LINE_ZONES - 1} without coordination, ` +
      `${withC.downstreamOutOfNominal} with it.`);
    print(`Downstream zones driven outside their safety envelope (10..95 C): ${without.downstreamEnvelopeViolations} without, ${withC.downstreamEnvelopeViolations} with.`);
    print(`Containment decisions: ${withC.decisions.length === 0 ? 'none' : withC.decisions.map((d) => `${d.action} ${d.agent}`).join('; ')}.`);
    const counts = telemetry.store.counts();
    print(`Telemetry stored: ${counts.reduce((n, c) => n + c.samples, 0)} samples from ${counts.length} agents, ` +
      `${telemetry.store.alarms(0).length} alarm rows.`);
    if (dashboard && o.linger > 0) {
      const d: Dashboard = await dashboard;
      print('');
      print(`The dashboard stays up for ${o.linger} s at ${d.url} (Ctrl-C to stop now; --linger 0 to skip).`);
      const timer = new AbortController();
      const t = setTimeout(() => timer.abort(), o.linger * 1000);
      const stop = signal ? AbortSignal.any([signal, timer.signal]) : timer.signal;
      await untilStopped(stop);
      clearTimeout(t);
    }
    const kept = !without.zones[0].envelopeViolated && !withC.zones[0].envelopeViolated && withC.downstreamEnvelopeViolations === 0;
    return kept && withC.downstreamDragged <= without.downstreamDragged ? 0 : 1;
  } finally {
    if (dashboard) await (await (dashboard as Promise<Dashboard>).catch(() => null))?.close();
    telemetry.close();
    await broker.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
