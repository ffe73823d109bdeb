// The cost of a full tick on every target, on the loop bench/core.ts
// measures in V8: a closed thermal loop settled at 80 C, every monitor on,
// 3 redundant sensors (or 1) with 2 counts rms of noise. The loop runs on
// the V8 reference and is recorded as protocol lines; each target replays
// the same lines, its replies must equal V8's bit for bit, and the
// firmware's T replies carry each tick's instruction count.
//
//   node dist/firmware-sim/pil/measure.js [--ticks N] [--targets m3,m4,native]
//
// (npm run firmware first.) Prints instructions per tick on the Cortex-M3
// and M4 under QEMU and ns per tick of the native build.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Core, Q16, type ParamName, type ParamValue } from '../../host/runtime/core.js';
import { Rng } from '../rng.js';
import { cmd, configLines, firstDifference, parseReply, ReferenceTarget } from './protocol.js';
import { nativePath } from './native.js';
import { startQemu, type McuTarget } from './qemu.js';
import type { LineTarget } from './target.js';

const PERIOD_US = 100_000;
const NOISE_LEN = 1 << 16;

/** The core configuration of bench/core.ts (makeCore). */
export function benchConfig(sensors: 1 | 3): Partial<Record<ParamName, ParamValue>> {
  return {
    n_sensors: sensors, s0_scale: 0.05, s1_scale: 0.05, s2_scale: 0.05, range_min: -10, range_max: 200,
    rate_max: 50, spike_thr: 5, stuck_band: 0, disagree_thr: 2, lpf_tau: 0.2,
    model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, ew_window: 32,
    kp: 10, ti: 16, td: 0.5, tf: 2, out_min: 0, out_max: 100, slew: 20,
    fb_setpoint: 40, fb_kp: 2, fb_ti: 60, track_thr: 10, osc_amp: 3, mismatch_thr: 5,
    period_min_us: PERIOD_US, period_max_us: PERIOD_US,
  };
}

export interface Stream {
  lines: string[];
  /** The V8 reference's replies. */
  replies: string[];
  /** Index of the first T line of the measured (settled) part. */
  measuredFrom: number;
}

/**
 * The bench/core.ts loop on the V8 reference, as lines: I, the
 * configuration, the setpoint, `settle` ticks, then `ticks` measured ticks
 * (same plant, same noise: Rng(7), 2 counts rms). The loop ends NOMINAL.
 */
export function benchStream(sensors: 1 | 3, settle: number, ticks: number): Stream {
  const s = benchLoopStream(sensors, settle, ticks);
  const last = parseReply(s.lines[s.lines.length - 1], s.replies[s.replies.length - 1]);
  if (last.kind !== 'tick' || last.mode !== 0) throw new Error('bench stream: the loop is not NOMINAL at the end');
  return s;
}

/** What a stream adds to the bench loop (benchLoopStream). */
export interface LoopOptions {
  /** Parameters over benchConfig (an envelope, say). */
  config?: Partial<Record<ParamName, ParamValue>>;
  /** A host's lines (`G`, `D`, `R`…) sent before tick i (0-based, settling ticks included). */
  hostLines?: (tick: number) => readonly string[];
  /** The heater's power (%) at tick i for the command u (a stuck heater, say); default: u. */
  heater?: (tick: number, u: number) => number;
}

/**
 * The loop of benchStream with a host's lines, configuration and heater
 * faults (LoopOptions). The heater is fed through the trip output's
 * contactor: no power while the last T reply said trip 1, and the feedback
 * (the heater's metered power) shows it.
 */
export function benchLoopStream(sensors: 1 | 3, settle: number, ticks: number, opts: LoopOptions = {}): Stream {
  const { hostLines = () => [], heater = (_: number, u: number) => u } = opts;
  const ref = ReferenceTarget.v8();
  const config = { ...benchConfig(sensors), ...opts.config };
  const lines = [cmd.init(), ...configLines(Core.load(), config), cmd.setpoint(80 * Q16, 0)];
  const replies = lines.map((l) => ref.handle(l));
  replies.forEach((r, i) => { if (r !== 'ok 0') throw new Error(`bench stream: setup line '${lines[i]}' -> '${r}', expected 'ok 0'`); });
  const rng = new Rng(7);
  const noise = [0, 1, 2].map(() => Float64Array.from({ length: NOISE_LEN }, () => 2 * rng.gauss()));
  const a = 1 - Math.exp(-PERIOD_US / 1e6 / 60);
  let y = 80;
  let u = 40;
  let tripped = false;
  let now = 0;
  let measuredFrom = -1;
  for (let i = 0; i < settle + ticks; i++) {
    for (const l of hostLines(i)) {
      lines.push(l);
      replies.push(ref.handle(l));
    }
    const j = i & (NOISE_LEN - 1);
    const power = tripped ? 0 : heater(i, u);
    now += PERIOD_US;
    y += a * (1.5 * power + 20 - y);
    const counts = y * 20;
    if (i === settle) measuredFrom = lines.length;
    const line = cmd.tick(now, Math.round(counts + noise[0][j]), Math.round(counts + noise[1][j]), Math.round(counts + noise[2][j]),
      Math.round(power * Q16));
    const reply = ref.handle(line);
    lines.push(line);
    replies.push(reply);
    const r = parseReply(line, reply);
    if (r.kind !== 'tick') throw new Error(`bench stream: ${line} -> ${reply}`);
    u = r.commandQ16 / Q16;
    tripped = r.trip !== 0;
  }
  return { lines, replies, measuredFrom };
}

export interface Replay {
  target: string;
  /** The first reply that differs from V8's (null: bit for bit). */
  difference: ReturnType<typeof firstDifference>;
  /** Instructions per tick over the measured part (null if the target reports none). */
  insns: { mean: number; min: number; max: number; median: number; ticks: number } | null;
}

/** Replay a stream on a target, compare with V8, collect the per-tick cost of the measured part. */
export async function replay(target: LineTarget, stream: Stream): Promise<Replay> {
  const replies = await target.requestMany(stream.lines, 64);
  const costs: number[] = [];
  for (let i = stream.measuredFrom; i < stream.lines.length; i++) {
    const r = parseReply(stream.lines[i], replies[i]);
    if (r.kind === 'tick' && r.cost !== null) costs.push(r.cost);
  }
  costs.sort((x, y) => x - y);
  return {
    target: target.name,
    difference: firstDifference(stream.lines, stream.replies, replies),
    insns: costs.length === 0 ? null : {
      mean: costs.reduce((s, c) => s + c, 0) / costs.length, min: costs[0], max: costs[costs.length - 1],
      median: costs[costs.length >> 1], ticks: costs.length,
    },
  };
}

async function cli(argv: string[]): Promise<number> {
  let ticks = 2000;
  let targets = ['m3', 'm4', 'native'];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--ticks') ticks = Number(argv[++i]);
    else if (argv[i] === '--targets') targets = argv[++i].split(',');
    else { console.error('usage: node dist/firmware-sim/pil/measure.js [--ticks N] [--targets m3,m4,native]'); return 64; }
  }
  let ok = true;
  for (const sensors of [3, 1] as const) {
    const stream = benchStream(sensors, 1000, ticks);
    for (const t of targets.filter((x): x is McuTarget => x === 'm3' || x === 'm4')) {
      const q = await startQemu({ target: t });
      try {
        const r = await replay(q, stream);
        const i = r.insns;
        console.log(`${t} (${q.banner.target}), ${sensors} sensor${sensors > 1 ? 's' : ' '}: ` +
          (i ? `${i.mean.toFixed(1)} instructions per full tick (median ${i.median}, min ${i.min}, max ${i.max}, ${i.ticks} settled ticks)` : 'no count') +
          `; replies ${r.difference ? `DIFFER from V8 at tick ${r.difference.tick}: '${r.difference.line}' -> ${r.difference.b} (V8 ${r.difference.a})` : 'equal to V8 bit for bit'}`);
        ok &&= r.difference === null;
      } finally {
        await q.close();
      }
    }
  }
  if (targets.includes('native')) {
    for (const variant of ['guard-pages', 'boundscheck'] as const) {
      const r = spawnSync(nativePath(variant), ['--bench', String(2_000_000)], { encoding: 'utf8' });
      process.stdout.write(r.stdout + r.stderr);
      ok &&= r.status === 0;
    }
  }
  return ok ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
