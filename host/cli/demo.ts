// `edgeloop chamber`: a thermal chamber on a simulated MCU. Three redundant
// 12-bit temperature sensors, a heater with a power meter and a contactor
// (the core's trip output cuts its power), the core at 10 Hz (slower when
// settled). Scripted faults, narrated as they are caught.

import { Core, type CoreEvent, type Mode } from '../runtime/core.js';
import { describeCause } from '../runtime/causes.js';
import { Fopdt } from '../../firmware-sim/plants/fopdt.js';
import { Rng } from '../../firmware-sim/rng.js';

export const DEMO_FAULTS = ['all', 'stuck-sensor', 'weak-heater', 'actuator-stuck', 'none'] as const;
export type DemoFault = (typeof DEMO_FAULTS)[number];

export interface DemoOptions {
  fault: DemoFault;
  seed: number;
  seconds: number;
  json: boolean;
}

const COUNTS_PER_C = 20;          // 0.05 C per count
const ADC_MAX = 4095;
const PLANT_DT_S = 0.01;          // the plant integrates at 100 Hz
const SETPOINT_C = 80;
const LIMIT_C = 95;               // the chamber's safety envelope

const CONFIG = {
  n_sensors: 3, adc_min: 0, adc_max: 4095, s0_scale: 0.05, s1_scale: 0.05, s2_scale: 0.05,
  range_min: -10, range_max: 200, rate_max: 20, spike_thr: 3, disagree_thr: 1.5,
  model_gain: 1.5, model_tau: 60, model_offset: 20, model_delay_us: 2_000_000, resid_sigma: 0.12,
  kp: 10, ti: 16, out_min: 0, out_max: 100, slew: 20,
  fb_setpoint: 40, fb_kp: 2, fb_ti: 60, safe_output: 0,
  track_thr: 10, mismatch_thr: 5, ew_window: 32,
  period_min_us: 100_000, period_max_us: 800_000, settle_band: 0.5, settle_ticks: 50,
  'sens_stuck.trip_ticks': 20,
  // The safety envelope, acted on 3 C before a limit; the trip cuts the heater, whose meter then
  // reads 0 %, and the chamber cools (trip_dir: a stop heading under 10 C holds on the meter instead).
  env_min: 10, env_max: LIMIT_C, env_margin: 3, env_hi_dir: 'down', env_lo_dir: 'up', trip_fb: 0, trip_dir: 'down',
} as const;

interface Script {
  stuckSensorAt?: number;
  weakHeaterAt?: number;
  actuatorStuckAt?: number;
}

function scriptFor(fault: DemoFault, seconds: number): Script {
  const s = (frac: number) => Math.round(seconds * frac);
  switch (fault) {
    case 'all': return { stuckSensorAt: s(0.25), weakHeaterAt: s(0.5) };
    case 'stuck-sensor': return { stuckSensorAt: s(0.3) };
    case 'weak-heater': return { weakHeaterAt: s(0.3) };
    case 'actuator-stuck': return { actuatorStuckAt: s(0.3) };
    case 'none': return {};
  }
}

const SENSOR_NAMES = ['A', 'B', 'C'];

function describe(ev: CoreEvent): string {
  const who = ev.monitor ?? '';
  switch (ev.kind) {
    case 'trip': return `${who} tripped (${ev.stage} stage) -> root cause of a new episode`;
    case 'consequential': return `${who} tripped as a consequence (suppressed, not a new alarm)`;
    case 'warn': return `${who} warning (${ev.stage} stage)`;
    case 'clear': return `${who} cleared`;
    case 'mode': return `mode ${ev.from} -> ${ev.to} (reason: ${describeCause(ev.reason)})`;
    case 'trip_out': return ev.tripped ? `TRIP: the heater's contactor opens (cause: ${describeCause(ev.reason)})` : 'trip released: the heater\'s contactor closes again';
    case 'trip_failed': return `TRIP FAILED: the heater's meter still reads ${(ev.value / 65536).toFixed(1)} % (cause: ${describeCause(ev.reason)})`;
    case 'handback': return `handed back to the primary controller (hand-back ${ev.value})`;
    case 'demand': return `demand from the host: ${ev.demand}`;
    case 'sensor_out': return `sensor ${SENSOR_NAMES[ev.value]} out of the vote (${who})`;
    case 'sensor_in': return `sensor ${SENSOR_NAMES[ev.value]} back in the vote`;
    case 'episode_end': return `episode of ${who} over, ${ev.value} consequential alarm(s) suppressed`;
    case 'reset': return `reset, ${ev.value} latch(es) released`;
    case 'isolated': return `isolation settled: the ${who} alarm points at the ${ev.stage} stage`;
    default: return ev.kind;
  }
}

export function runDemo(opts: DemoOptions, print: (line: string) => void): number {
  const rng = new Rng(opts.seed);
  const core = Core.load();
  core.configure(CONFIG);
  const plant = new Fopdt({ k: 1.5, tau: 60, theta: 2, ambient: 20, dt: PLANT_DT_S });
  const script = scriptFor(opts.fault, opts.seconds);
  const say = (t: number, text: string) => { if (!opts.json) print(`t=${t.toFixed(1).padStart(6)} s  ${text}`); };

  if (!opts.json) {
    print(`edgeloop demo: thermal chamber, setpoint ${SETPOINT_C} C, safety limit ${LIMIT_C} C, 3 redundant sensors, ` +
      `core at ${1e6 / CONFIG.period_min_us} Hz (down to ${1e6 / CONFIG.period_max_us} Hz when settled), fault script '${opts.fault}'`);
  }
  core.setSetpoint(SETPOINT_C, 0);

  let nextTickUs = 0;
  let heaterGain = 1;
  let stuckCode: number | null = null;
  let actuatorHeld: number | null = null;
  let u = 0;
  let ticks = 0;
  let maxTemp = -Infinity;
  let lastMode: Mode = core.mode;
  const steps = Math.round(opts.seconds / PLANT_DT_S);
  const faultsAnnounced = new Set<string>();
  const announce = (key: string, t: number, text: string) => {
    if (faultsAnnounced.has(key)) return;
    faultsAnnounced.add(key);
    say(t, `>>> FAULT INJECTED: ${text}`);
  };

  for (let k = 0; k <= steps; k++) {
    const tUs = Math.round(k * PLANT_DT_S * 1e6);
    const t = tUs / 1e6;
    if (script.weakHeaterAt !== undefined && t >= script.weakHeaterAt) {
      heaterGain = 0.5;
      announce('heater', t, 'heater element loses half its power (actuation fault the primary PID does not know about)');
    }
    if (script.actuatorStuckAt !== undefined && t >= script.actuatorStuckAt) {
      actuatorHeld ??= u;
      announce('actuator', t, `heater driver stuck at ${actuatorHeld.toFixed(1)} % (feedback shows it)`);
    }
    // The contactor: open while the core's trip output is de-energized, whatever the driver does.
    const applied = core.tripped ? 0 : actuatorHeld ?? u;
    const y = plant.step(applied * heaterGain);
    maxTemp = Math.max(maxTemp, y);
    if (tUs < nextTickUs) continue;

    const codes = [0, 1, 2].map(() => Math.min(ADC_MAX, Math.max(0, Math.round(y * COUNTS_PER_C + 2 * rng.gauss()))));
    if (script.stuckSensorAt !== undefined && t >= script.stuckSensorAt) {
      stuckCode ??= codes[1];
      codes[1] = stuckCode;
      announce('stuck', t, `sensor B frozen at code ${stuckCode} (${(stuckCode / COUNTS_PER_C).toFixed(2)} C)`);
    }
    u = core.tick(tUs, { sensors: codes, feedback: applied });
    ticks++;
    nextTickUs = tUs + core.nextIntervalUs;
    for (const ev of core.events()) {
      if (ev.kind === 'config') continue;
      if (opts.json) print(JSON.stringify({ t, ...ev }));
      else say(t, describe(ev));
    }
    if (core.mode !== lastMode) {
      lastMode = core.mode;
      if (!opts.json) say(t, `controller now: ${lastMode === 'FALLBACK' ? `fallback PI toward the safe setpoint ${CONFIG.fb_setpoint} C` :
        lastMode === 'SAFE_STOP' ? 'safe stop: the trip output holds the heater\'s contactor open' : lastMode === 'DEGRADED' ? 'primary PID on the remaining sensors' : 'primary PID'}`);
    }
    if (!opts.json && ticks % 200 === 0) {
      say(t, `   ${core.mode.padEnd(9)} T=${core.measurement.toFixed(2)} C  heater=${u.toFixed(1)} %  interval=${core.nextIntervalUs / 1000} ms`);
    }
  }

  const fixedRateTicks = Math.floor(opts.seconds * 1e6 / CONFIG.period_min_us) + 1;
  const summary = {
    final_mode: core.mode,
    cause: core.cause,
    root_trips: core.counter('root_trips'),
    consequential_suppressed: core.counter('consequential'),
    max_temperature_c: Number(maxTemp.toFixed(2)),
    safety_limit_c: LIMIT_C,
    envelope_kept: maxTemp <= LIMIT_C,
    samples_taken: ticks,
    samples_at_fixed_rate: fixedRateTicks,
  };
  if (opts.json) {
    print(JSON.stringify({ summary }));
  } else {
    print('');
    print(`summary: final mode ${summary.final_mode}` + (summary.cause ? `, root cause ${summary.cause.monitor} (${summary.cause.stage} stage)` : ''));
    print(`  root causes raised: ${summary.root_trips}; consequential alarms suppressed: ${summary.consequential_suppressed}`);
    print(`  hottest: ${summary.max_temperature_c} C (limit ${LIMIT_C} C): envelope ${summary.envelope_kept ? 'kept' : 'VIOLATED'}`);
    print(`  samples taken: ${ticks} (a fixed ${1e6 / CONFIG.period_min_us} Hz loop would take ${fixedRateTicks}: ` +
      `${(100 * (1 - ticks / fixedRateTicks)).toFixed(0)}% fewer)`);
  }
  return summary.envelope_kept ? 0 : 1;
}
