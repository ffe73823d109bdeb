// Command streams that drive the core's trip channel, recorded on the V8
// reference (firmware-sim/pil/protocol.ts) for the bit-exact target tests:
// Wasmtime, native and the firmware under QEMU replay the same lines and
// must give the same replies, the trip field of every T reply included.

import { benchLoopStream, type Stream } from '../../firmware-sim/pil/measure.js';
import { DEMANDS } from '../../host/runtime/core.js';
import { cmd, parseReply, type TickReply } from '../../firmware-sim/pil/protocol.js';

/** Where the host's demands fall, in ticks of the bench loop (100 ms each). */
export const DEMAND_SCRIPT = {
  trip: 300,
  releaseTrip: 500,
  reset: 1100,
  fallback: 1300,
  releaseFallback: 1500,
  end: 2300,
} as const;

/**
 * The bench loop settled, then a coordinator's demands, with a diagnosis
 * (D, which carries guard_status) at each step:
 *
 *   tick 300   G 2: the trip from the next tick; the contactor opens and
 *              the chamber cools (benchLoopStream feeds no power while
 *              tripped, and the feedback shows it)
 *   tick 500   G 0: released; the loop returns the guard's way
 *   tick 1100  R: an operator's reset, for whatever latched meanwhile
 *   tick 1300  G 1: the fallback controller
 *   tick 1500  G 0: released
 *   and G with an unknown kind, which must change nothing.
 */
export function demandStream(sensors: 1 | 3 = 1): Stream {
  const S = DEMAND_SCRIPT;
  const at: Record<number, readonly string[]> = {
    [S.trip - 1]: [cmd.diag(), cmd.demand(7)],
    [S.trip]: [cmd.demand('trip')],
    [S.trip + 1]: [cmd.diag()],
    [S.releaseTrip]: [cmd.diag(), cmd.demand('none'), cmd.demand(-1)],
    [S.reset]: [cmd.diag(), cmd.reset()],
    [S.fallback]: [cmd.demand('fallback')],
    [S.fallback + 1]: [cmd.diag()],
    [S.releaseFallback]: [cmd.demand('none'), cmd.demand(2147483647)],
    [S.end - 1]: [cmd.diag()],
  };
  return benchLoopStream(sensors, 0, S.end, { hostLines: (i) => at[i] ?? [] });
}

/** Where the heater fault falls, in ticks of the bench loop (100 ms each). */
export const ENVELOPE_SCRIPT = { stuck: 300, repaired: 900, reset: 1200, end: 2400 } as const;

/** The bench chamber's envelope (as firmware-sim's thermal chamber has one): 10..95 C, acted on 3 C before a limit. */
export const BENCH_ENVELOPE = {
  env_min: 10, env_max: 95, env_margin: 3, env_hi_dir: 'down', env_lo_dir: 'up', trip_fb: 0,
} as const;

/**
 * The bench loop with its envelope; the guard trips by itself:
 *
 *   tick 300   the heater sticks at full power, whatever the command
 *              (steady state 170 C) -> the temperature heads for 95 C ->
 *              the guard holds the command down, the heater ignores it ->
 *              the trip: the contactor opens, the chamber cools
 *   tick 900   the heater is repaired
 *   tick 1200  R: an operator's reset, for a latched trip
 *
 * with a diagnosis (D, guard_status) every 50 ticks.
 */
export function envelopeStream(sensors: 1 | 3 = 3): Stream {
  const S = ENVELOPE_SCRIPT;
  return benchLoopStream(sensors, 0, S.end, {
    config: BENCH_ENVELOPE,
    heater: (i, u) => (i >= S.stuck && i < S.repaired ? 100 : u),
    hostLines: (i) => [...(i % 50 === 0 ? [cmd.diag()] : []), ...(i === S.reset ? [cmd.reset()] : [])],
  });
}

/** The T replies strictly between the first line `from` and the next line `to` after it. */
export function ticksBetween(lines: readonly string[], replies: readonly string[], from: string, to: string): TickReply[] {
  const start = lines.indexOf(from);
  const end = lines.indexOf(to, start + 1);
  if (start < 0 || end < 0) throw new Error(`stream: expected a line '${from}' and a later '${to}'`);
  const out: TickReply[] = [];
  for (let i = start + 1; i < end; i++) {
    if (!lines[i].startsWith('T ')) continue;
    const r = parseReply(lines[i], replies[i]);
    if (r.kind !== 'tick') throw new Error(`stream: '${lines[i]}' -> '${replies[i]}': expected a tick reply`);
    out.push(r);
  }
  return out;
}

/** The T replies of a stream's ticks [from, to) (tick indexes as in DEMAND_SCRIPT). */
export function ticksInRange(lines: readonly string[], replies: readonly string[], from: number, to: number): TickReply[] {
  const out: TickReply[] = [];
  let tick = -1;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('T ')) continue;
    tick++;
    if (tick < from || tick >= to) continue;
    const r = parseReply(lines[i], replies[i]);
    if (r.kind !== 'tick') throw new Error(`stream: '${lines[i]}' -> '${replies[i]}': expected a tick reply`);
    out.push(r);
  }
  return out;
}

/**
 * What the ABI promises of a demand stream's replies (on any target): the
 * settled loop runs with the trip output energized; every tick while the
 * trip is demanded reports trip 1; every tick while the fallback is demanded
 * runs the fallback (mode 2); a known kind is accepted (ok 0), an unknown
 * one refused (ok -2). Returns what is wrong, or [] if nothing is.
 */
export function demandProblems(lines: readonly string[], replies: readonly string[]): string[] {
  const problems: string[] = [];
  const S = DEMAND_SCRIPT;
  const settled = ticksInRange(lines, replies, S.trip - 100, S.trip);
  if (settled.some((r) => r.trip !== 0)) problems.push('the settled loop before the demand reported trip 1');
  const tripped = ticksBetween(lines, replies, cmd.demand('trip'), cmd.demand('none'));
  if (tripped.length === 0) problems.push('no tick while the trip was demanded');
  const notTripped = tripped.findIndex((r) => r.trip !== 1);
  if (notTripped >= 0) problems.push(`tick ${notTripped + 1} after G 2 reported trip ${tripped[notTripped].trip}, expected 1 while the trip is demanded`);
  const fallback = ticksBetween(lines, replies, cmd.demand('fallback'), cmd.demand('none'));
  if (fallback.length === 0) problems.push('no tick while the fallback was demanded');
  const notFallback = fallback.findIndex((r) => r.mode !== 2);
  if (notFallback >= 0) problems.push(`tick ${notFallback + 1} after G 1 reported mode ${fallback[notFallback].mode}, expected 2 (FALLBACK) while the fallback is demanded`);
  const last = ticksInRange(lines, replies, S.end - 1, S.end)[0];
  if (last.trip !== 0 || last.mode !== 0) problems.push(`the released loop ended with trip ${last.trip}, mode ${last.mode}; expected trip 0, NOMINAL`);
  lines.forEach((l, i) => {
    if (!l.startsWith('G ')) return;
    const kind = Number(l.slice(2));
    const known = Number.isInteger(kind) && kind >= 0 && kind < DEMANDS.length;
    const want = known ? 'ok 0' : 'ok -2';
    if (replies[i] !== want) problems.push(`'${l}' -> '${replies[i]}', expected '${want}'`);
  });
  return problems;
}

/**
 * The story of an envelope stream, on any target: the settled loop runs with
 * the trip output energized; the guard trips by itself (no host demand)
 * while the heater is stuck, before the chamber leaves its envelope; after
 * the repair and the operator's reset the loop runs again, NOMINAL. Returns
 * what is wrong, or [] if nothing is.
 */
export function envelopeProblems(lines: readonly string[], replies: readonly string[]): string[] {
  const problems: string[] = [];
  const S = ENVELOPE_SCRIPT;
  if (lines.some((l) => l.startsWith('G '))) problems.push('the stream demands something: the trip must be the guard\'s own');
  if (ticksInRange(lines, replies, 0, S.stuck).some((r) => r.trip !== 0)) problems.push('the loop reported trip 1 before the heater stuck');
  const fault = ticksInRange(lines, replies, S.stuck, S.repaired);
  const first = fault.findIndex((r) => r.trip === 1);
  if (first < 0) problems.push('no trip while the heater was stuck at full power');
  let hottest = -Infinity;
  for (const l of lines) {
    if (!l.startsWith('T ')) continue;
    const [, , s0, s1, s2] = l.split(' ').map(Number);
    hottest = Math.max(hottest, (s0 + s1 + s2) / 3 / 20); // 0.05 C per count (benchConfig)
  }
  if (hottest > BENCH_ENVELOPE.env_max) problems.push(`the chamber reached ${hottest.toFixed(1)} C, over env_max ${BENCH_ENVELOPE.env_max} C`);
  const last = ticksInRange(lines, replies, S.end - 1, S.end)[0];
  if (last.trip !== 0 || last.mode !== 0) problems.push(`after the repair and the reset the loop ended with trip ${last.trip}, mode ${last.mode}; expected trip 0, NOMINAL`);
  return problems;
}
