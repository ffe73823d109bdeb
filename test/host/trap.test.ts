// The watchdog around the agent's tick, for a core that traps: a signed
// module whose tick executes `unreachable` from its 21st tick on
// (test/assembly/trap_core.ts). A trap must not take the agent down: that
// tick writes the safe output with the trip output de-energized, the trap is
// counted (stats, the `watchdog/traps` metric, onTrap), and a working core
// comes back: the one a deploy replaced (rollback), else a fresh instance of
// the same module. Each story has its contrapositive: the real core never
// trips the watchdog. Loopback broker, simulated clock, bounded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../host/mqtt/broker.js';
import { Agent, type AgentOptions, type TrapReport } from '../../host/agent/agent.js';
import { Core, DEFAULT_CORE_PATH } from '../../host/runtime/core.js';
import { generateFleetKey, signModule } from '../../host/deploy/signing.js';
import type { IoBinding } from '../../host/io/binding.js';
import { Fopdt } from '../../firmware-sim/plants/fopdt.js';
import { coreBytes } from '../support/core.js';

const TRAP = readFileSync(join(DEFAULT_CORE_PATH, '..', 'trap_core.wasm'));
const LOOP = readFileSync(join(DEFAULT_CORE_PATH, '..', 'loop_core.wasm'));
const fleet = generateFleetKey();
const CONFIG = {
  s0_scale: 0.05, range_min: -10, range_max: 200, kp: 10, ti: 16, out_min: 0, out_max: 100, safe_output: 5,
  model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, period_min_us: 100_000, period_max_us: 100_000,
} as const;

let broker: EmbeddedBroker | null = null;
afterEach(async () => { await broker?.close(); broker = null; });

/**
 * The chamber at 80 C behind one sensor; the command the agent wrote on each
 * tick and the trip output as it left it after the tick (on a release the
 * command is written before the trip is energized again).
 */
function recordingChamber(): IoBinding & { commands: number[]; trips: boolean[]; endTick: () => void } {
  const plant = new Fopdt({ k: 1.5, tau: 60, theta: 0, ambient: 20, dt: 0.1, y0: 80 });
  const commands: number[] = [];
  const trips: boolean[] = [];
  let tripped = false;
  let u = 0;
  return {
    commands, trips,
    read: () => ({ sensors: [Math.round(plant.output * 20)] }),
    writeTrip: (t) => { tripped = t; },
    write: (v) => { u = v; },
    endTick: () => { commands.push(u); trips.push(tripped); plant.step(tripped ? 0 : u); },
  };
}

async function agentOn(bytes: Uint8Array, binding: ReturnType<typeof recordingChamber>, reports: TrapReport[], extra: Partial<AgentOptions> = {}) {
  broker = await startEmbeddedBroker();
  const core = Core.fromBytes(bytes);
  core.configure(CONFIG);
  core.setSetpoint(80, 0);
  let now = 0;
  const agent = new Agent({ group: 'plant1', node: 'gw1', device: 'loop1', core, config: CONFIG, moduleBytes: bytes, fleetKey: fleet.publicKeyPem,
    binding, broker: broker.url, clockUs: () => now, onTrap: (r) => reports.push(r), ...extra });
  const run = (n: number) => { for (let i = 0; i < n; i++) { now += 100_000; agent.tick(); binding.endTick(); } };
  return { agent, run, now: () => now };
}

describe('a core that breaks an invariant (build/invariant_core.wasm, the field build: a bug on its 21st tick)', () => {
  it('the agent counts it (stats, the core/invariant_fails metric), hands the event on, and the loop latches SAFE_STOP with the trip asserted; the agent lives', async () => {
    // ticks 1..20 good -> tick 21: invariant broken (counted, logged) ->
    // integrity not repairable -> SAFE_STOP, the core's trip -> latched.
    const binding = recordingChamber();
    const events: string[] = [];
    const { agent, run } = await agentOn(readFileSync(join(DEFAULT_CORE_PATH, '..', 'invariant_core.wasm')), binding, [],
      { onCoreEvent: (e) => { if (e.kind === 'invariant') events.push(`${e.stage ?? 'bug'} ${e.reason}`); } });
    run(20);
    expect(agent.stats.invariantFails).toBe(0);
    run(40);
    expect(agent.stats.invariantFails).toBe(1);
    expect(events).toEqual([expect.stringMatching(/^bug cascade: /)]);
    expect(agent.stats.traps).toBe(0);
    expect(agent.core.mode).toBe('SAFE_STOP');
    expect(binding.trips.at(-1)).toBe(true);
    expect(agent.stats.ticks).toBe(60);
    await agent.stop();
  });
});

describe('a core that traps', () => {
  it('running from the start: every trap tick writes the safe output (5 %) with the trip de-energized, and a fresh instance of the module takes over; the agent lives', async () => {
    // ticks 1..20 good, 21 traps -> safe output, trip, restart (a fresh
    // instance: 20 good ticks again, 22..41) -> 42 traps -> 60 ticks: 2 traps.
    const binding = recordingChamber();
    const reports: TrapReport[] = [];
    const { agent, run } = await agentOn(TRAP, binding, reports);
    run(60);
    expect(agent.stats.ticks).toBe(60);
    expect(agent.stats.traps).toBe(2);
    expect(reports.map((r) => r.action)).toEqual(['restart', 'restart']);
    expect(reports[0].error.message).toMatch(/unreachable/);
    for (const i of [20, 41]) {
      expect(binding.commands[i], `tick ${i + 1}`).toBe(5);
      expect(binding.trips[i], `tick ${i + 1}`).toBe(true);
    }
    // The ticks in between ran the loop with the trip energized.
    expect(binding.trips.filter(Boolean)).toHaveLength(2);
    expect(agent.core.mode).toBe('NOMINAL');
    await agent.stop();
  });

  it('a binding that throws on a read does not stop the agent either: that tick writes the safe output with the trip de-energized, counted; the next good read runs the loop again', async () => {
    const binding = recordingChamber();
    const reports: TrapReport[] = [];
    let fail = false;
    const read = binding.read.bind(binding);
    binding.read = (now) => { if (fail) throw new Error('ADC bus error'); return read(now); };
    const { agent, run } = await agentOn(coreBytes(), binding, reports);
    run(5);
    fail = true;
    run(2);
    fail = false;
    run(5);
    expect(agent.stats.tickErrors).toBe(2);
    expect(agent.stats.ticks).toBe(10);   // the two failed ticks did not finish
    expect(binding.commands.slice(5, 7)).toEqual([5, 5]);
    expect(binding.trips.slice(5, 7)).toEqual([true, true]);
    expect(binding.trips.slice(7)).toEqual([false, false, false, false, false]);
    expect(reports).toEqual([]);   // not the core's trap
    await agent.stop();
  });

  it('contrapositive: the real core for 60 ticks never trips the watchdog', async () => {
    const binding = recordingChamber();
    const reports: TrapReport[] = [];
    const { agent, run } = await agentOn(coreBytes(), binding, reports);
    run(60);
    expect(agent.stats.traps).toBe(0);
    expect(reports).toEqual([]);
    expect(binding.trips.some(Boolean)).toBe(false);
    await agent.stop();
  });

  it('deployed over a good core: its first trap rolls the loop back to the core it replaced, which runs on', async () => {
    const binding = recordingChamber();
    const reports: TrapReport[] = [];
    const { agent, run, now } = await agentOn(coreBytes(), binding, reports);
    run(10);
    const before = agent.coreVersion;
    const slot = (agent as unknown as { slot: { install: (b: Uint8Array, s: Uint8Array, k: string, sp: number, t: number) => string } }).slot;
    const v2 = slot.install(TRAP, signModule(TRAP, fleet.privateKeyPem), fleet.publicKeyPem, 80, now());
    expect(agent.coreVersion).toBe(v2);
    run(60);
    expect(agent.stats.traps).toBe(1);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ action: 'rollback', version: before });
    expect(agent.coreVersion).toBe(before);
    expect(agent.core.mode).toBe('NOMINAL');
    expect(binding.trips.filter(Boolean)).toHaveLength(1);
    await agent.stop();
  });
});

// A core whose tick never returns (test/assembly/loop_core.ts, from its 21st
// tick) would freeze an agent that runs it in its own thread for good. With
// `isolate`, every core runs in a worker thread and every call has a
// deadline (here 300 ms): the stuck tick is stopped and handled as a trap.
describe('a core whose tick never returns, isolated', () => {
  it('running from the start: the stuck tick is stopped after its deadline, that tick writes the safe output with the trip de-energized, and a fresh instance runs on', async () => {
    const binding = recordingChamber();
    const reports: TrapReport[] = [];
    const { agent, run } = await agentOn(LOOP, binding, reports, { isolate: { deadlineMs: 300 } });
    run(30);
    expect(agent.stats.ticks).toBe(30);
    expect(agent.stats.traps).toBe(1);
    expect(reports).toHaveLength(1);
    expect(reports[0].error.name).toBe('CoreStalled');
    expect(reports[0].action).toBe('restart');
    expect(binding.commands[20]).toBe(5);
    expect(binding.trips[20]).toBe(true);
    expect(binding.trips.slice(21)).toEqual(new Array(9).fill(false));
    expect(agent.core.mode).toBe('NOMINAL');
    // The new core has the host's setpoint (kept by the agent: the stuck core could not be asked).
    expect(agent.core.setpoint).toBe(80);
    expect(agent.stats.tickErrors).toBe(0);
    await agent.stop();
  }, 20_000);

  it('deployed over a good core: the stuck tick rolls the loop back to the core it replaced', async () => {
    const binding = recordingChamber();
    const reports: TrapReport[] = [];
    const { agent, run, now } = await agentOn(coreBytes(), binding, reports, { isolate: { deadlineMs: 300 } });
    run(5);
    const before = agent.coreVersion;
    const slot = (agent as unknown as { slot: { install: (b: Uint8Array, s: Uint8Array, k: string, sp: number, t: number) => string } }).slot;
    slot.install(LOOP, signModule(LOOP, fleet.privateKeyPem), fleet.publicKeyPem, 80, now());
    run(30);
    expect(agent.stats.traps).toBe(1);
    expect(reports[0]).toMatchObject({ action: 'rollback', version: before });
    expect(agent.coreVersion).toBe(before);
    expect(agent.core.mode).toBe('NOMINAL');
    await agent.stop();
  }, 20_000);

  it('contrapositive: the real core isolated runs 60 ticks with no trap, as it does in the agent\'s own thread', async () => {
    const isolated = recordingChamber();
    const inThread = recordingChamber();
    const a = await agentOn(coreBytes(), isolated, [], { isolate: true });
    a.run(60);
    expect(a.agent.stats.traps).toBe(0);
    await a.agent.stop();
    await broker?.close();
    broker = null;
    const b = await agentOn(coreBytes(), inThread, []);
    b.run(60);
    await b.agent.stop();
    // The same commands, bit for bit: the same core, only in another thread.
    expect(isolated.commands).toEqual(inThread.commands);
  }, 20_000);
});

// The release floor on disk (Agent option releaseFile): a restarted agent
// still refuses the releases it refused before it stopped.
describe('the release floor across a restart', () => {
  it('release 200 deployed and the agent restarted: release 150 (validly signed) is refused by the new agent; without the file it would be taken', async () => {
    const { mkdtempSync, readFileSync: read } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'edgeloop-release-')), 'release');
    type Slot = { install: (b: Uint8Array, s: Uint8Array, k: string, sp: number, t: number) => string };
    const first = await agentOn(coreBytes(), recordingChamber(), [], { releaseFile: file });
    first.run(3);
    (first.agent as unknown as { slot: Slot }).slot.install(coreBytes(), signModule(coreBytes(), fleet.privateKeyPem, 200), fleet.publicKeyPem, 80, first.now());
    expect(read(file, 'utf8')).toBe('200\n');
    await first.agent.stop();
    await broker?.close();
    broker = null;
    const again = await agentOn(coreBytes(), recordingChamber(), [], { releaseFile: file });
    again.run(3);
    const slot = (again.agent as unknown as { slot: Slot }).slot;
    expect(() => slot.install(coreBytes(), signModule(coreBytes(), fleet.privateKeyPem, 150), fleet.publicKeyPem, 80, again.now()))
      .toThrow(/release 150 is not newer than the highest release this agent has run 200/);
    await again.agent.stop();
    await broker?.close();
    broker = null;
    // Contrapositive: without the file the restarted agent knows only its starting core's release (0).
    const bare = await agentOn(coreBytes(), recordingChamber(), []);
    bare.run(3);
    (bare.agent as unknown as { slot: Slot }).slot.install(coreBytes(), signModule(coreBytes(), fleet.privateKeyPem, 150), fleet.publicKeyPem, 80, bare.now());
    await bare.agent.stop();
  });
});
