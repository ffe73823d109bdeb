// One narrated scenario per monitor, on a simulated thermal chamber (see
// test/support/thermal.ts): the loop warms up from ambient to 80 C, settles,
// then one fault starts at t = 80 s. Each story states, in its first comment,
// how soon the monitor must trip (in ticks from the first tick that could see
// the fault: "on the Nth faulty tick"), what the guard does (the reaction of
// the cause the trip is isolated to: guard/react.ts), and who is named as the
// root cause. Then the contrapositive: long nominal runs with every check
// switched on must not trip any monitor.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MONITORS, type CoreEvent, type MonitorName } from '../../host/runtime/core.js';
import { ALARMS, SENSORS, Thermal, chamber, settle } from '../support/thermal.js';

// ---- helpers ----------------------------------------------------------------


/** The first trip, consequential or warn event of a monitor at or after a tick. */
function alarmOf(th: Thermal, m: MonitorName, from: number): CoreEvent {
  const e = th.log.find((x) => x.tick >= from && x.monitor === m && (ALARMS.has(x.kind) || x.kind === 'warn'));
  if (!e) throw new Error(`${m} never raised an alarm; events: ${describeEvents(th.log.filter((x) => x.tick >= from))}`);
  return e;
}

/** On which faulty tick (1 = the first tick that could see the fault) an event came. */
const nth = (e: CoreEvent, onset: number): number => e.tick - onset + 1;

function modeEventAt(th: Thermal, tick: number): CoreEvent | undefined {
  return th.log.find((e) => e.kind === 'mode' && e.tick === tick);
}

function describeEvents(es: CoreEvent[]): string {
  return es.map((e) => `${e.tick}:${e.kind}:${e.monitor ?? ''}${e.reason ? `(${e.reason})` : ''}${e.to ? `->${e.to}` : ''}`).join(' ');
}

/** Measured latencies, printed at the end when LATENCY_REPORT is set. */
const measured: string[] = [];
function record(m: MonitorName, stated: number, got: number): void {
  measured.push(`${m.padEnd(16)} stated <= ${String(stated).padStart(5)}  measured ${got}`);
}
afterAll(() => {
  if (process.env.LATENCY_REPORT) console.log(measured.join('\n'));
});

/**
 * A trip that opened an episode: trip kind, latency, and the guard's
 * reaction: the mode it moved to and the cause that decided it (an
 * estimation root is named once its isolation settles, so the mode may move
 * up to 16 ticks before the trip event), or, for a warning-level reaction
 * (mode 'NOMINAL'), no mode change at all.
 */
function expectRootTrip(th: Thermal, m: MonitorName, onset: number, within: number, mode: string, reason?: string): CoreEvent {
  const e = alarmOf(th, m, onset);
  record(m, within, nth(e, onset));
  expect(e.kind, `${m} opens the episode`).toBe('trip');
  expect(nth(e, onset)).toBeLessThanOrEqual(within);
  const modes = th.log.filter((x) => x.kind === 'mode' && x.tick >= onset && x.tick <= e.tick);
  if (mode === 'NOMINAL') {
    expect(modes, `no mode change at ${m}'s trip: the reaction is a warning`).toEqual([]);
    return e;
  }
  const me = modes.at(-1);
  expect(me?.to, `mode at ${m}'s trip`).toBe(mode);
  expect(e.tick - me!.tick).toBeLessThanOrEqual(16);
  expect(me?.reason).toBe(reason);
  return e;
}

// ---- scenarios ---------------------------------------------------------------

describe('monitor scenarios (thermal chamber, fault at t = 80 s)', () => {
  it('core_integrity: a bit flip in the running configuration -> named within one scrub pass, repaired, a warning only', () => {
    // cosmic ray flips bit 3 of osc_window in the running configuration table,
    // at every phase of the scrub cycle in turn -> core_integrity trips within
    // one scrub pass (param_count()/8 + 1 ticks); cause core_integrity / core.
    // The scrub repairs the word from the shadow copy taken at commit (counter
    // 'repairs'): a repaired soft error warns (cause soft_repaired), the loop
    // stays NOMINAL and nothing latches.
    const worst: number[] = [];
    let pass = 0;
    for (let phase = 0; phase < 18; phase++) {
      const th = chamber({ seed: 11 });
      settle(th, 80 + phase * 0.1);
      const r = th.core.raw;
      pass = Math.floor(r.param_count() / 8) + 1;
      const at = r.config_addr() + 45 * 4; // osc_window
      const mem = new DataView(r.memory.buffer);
      const good = mem.getInt32(at, true);
      mem.setInt32(at, good ^ 8, true);
      const onset = th.core.ticks;
      th.run(2 * pass + 5);
      const e = alarmOf(th, 'core_integrity', onset);
      worst.push(nth(e, onset));
      expect(e.kind).toBe('trip');
      expect(modeEventAt(th, e.tick)).toBeUndefined();
      expect(th.core.mode).toBe('NOMINAL');
      expect(e.stage).toBe('core');
      expect(mem.getInt32(at, true)).toBe(good);
      expect(th.core.counter('repairs')).toBe(1);
      expect(th.core.tripped).toBe(false);
      expect(th.core.latchedCauses).toEqual([]);
    }
    record('core_integrity', pass, Math.max(...worst));
    expect(worst.every((n) => n <= pass), `ticks to detection by scrub phase: ${worst.join(',')}`).toBe(true);
  });

  it('core_integrity: the same word flipped in the running table and in its shadow -> a latched trip that reset() cannot release', () => {
    // both copies corrupted alike: nothing to repair from -> core_integrity
    // holds, cause soft_failed -> SAFE_STOP: the trip output de-energized,
    // latched; reset() cannot release it while the table is bad; only a new
    // configuration (commit) re-arms the check. (Different words hit in the
    // two copies are repaired from a mix of both: see test/core/guard.test.ts.)
    const th = chamber({ seed: 12 });
    settle(th);
    const r = th.core.raw;
    const mem = new DataView(r.memory.buffer);
    for (const base of [r.config_addr(), r.config_shadow_addr()]) {
      mem.setInt32(base + 45 * 4, mem.getInt32(base + 45 * 4, true) ^ 8, true);
    }
    th.run(40);
    expect(th.core.mode).toBe('SAFE_STOP');
    expect(th.core.tripped).toBe(true);
    expect(th.core.latchedCauses).toEqual(['soft_failed']);
    expect(th.core.counter('repairs')).toBe(0);
    expect(th.core.reset()).toBe(0);
    th.run(5);
    expect(th.core.mode).toBe('SAFE_STOP');
    expect(th.core.tripped).toBe(true);
  });

  it('tim_clock: the host clock stalls for half a second -> named on the first stalled tick, a warning; the primary keeps control', () => {
    // host clock stalls at t=80 s for 5 ticks (same timestamp), then counts on
    // from where it stopped -> tim_clock trips on the 1st stalled tick; cause
    // tim_clock / timing; the reaction to a timing cause is a warning (the
    // controller already uses the measured interval) -> NOMINAL throughout;
    // the monitor clears after 10 good ticks and the episode ends.
    const th = chamber();
    const onset = settle(th);
    const t0 = th.tUs - 100_000; // the last good timestamp
    th.clockFault = (t) => (t < t0 + 600_000 ? t0 : t - 500_000);
    th.run(5);
    const e = expectRootTrip(th, 'tim_clock', onset, 1, 'NOMINAL');
    expect(th.core.cause).toEqual({ monitor: 'tim_clock', stage: 'timing' });
    expect(th.core.causes).toContain('timing');
    th.run(20);
    const clear = th.log.find((x) => x.kind === 'clear' && x.monitor === 'tim_clock' && x.tick > e.tick);
    expect(clear!.tick - (onset + 4)).toBe(10); // 10 healthy ticks after the last stalled one
    expect(th.log.find((x) => x.kind === 'episode_end' && x.tick > e.tick)).toBeDefined();
    expect(th.log.filter((x) => x.kind === 'mode' && x.tick >= onset)).toEqual([]);
  });

  it('tim_overrun: the host runs 5 ms late every tick -> a warning after 3 ticks, the loop stays NOMINAL', () => {
    // CPU hog from t=80 s: every tick starts 5 ms later than due (105 ms
    // intervals, 2 ms tolerated) -> tim_overrun warns on the 3rd late tick ->
    // NOMINAL, no episode (cause null) -> the hog goes away -> clears after 10.
    const th = chamber();
    const onset = settle(th);
    const t0 = th.tUs;
    const late = (t: number) => t0 - 100_000 + Math.round((t - t0 + 100_000) * 1.05);
    th.clockFault = (t) => (t < t0 + 3_000_000 ? late(t) : t - t0 - 3_000_000 + late(t0 + 3_000_000) + 100_000);
    th.run(30);
    const e = alarmOf(th, 'tim_overrun', onset);
    record('tim_overrun', 3, nth(e, onset));
    expect(e.kind).toBe('warn');
    expect(nth(e, onset)).toBeLessThanOrEqual(3);
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.cause).toBeNull();
    expect(th.log.filter((x) => x.tick >= onset && x.kind === 'mode')).toEqual([]);
    th.run(20);
    expect(th.log.some((x) => x.kind === 'clear' && x.monitor === 'tim_overrun')).toBe(true);
  });

  it('tim_missed: the host drops every 4th tick -> named on the 3rd gap, a warning', () => {
    // scheduler starvation from t=80 s: every 4th tick is not run (the heater
    // keeps its last command) -> the core sees a gap on its 1st, 4th and 7th
    // tick -> tim_missed (3 of the last 16) trips on the 7th faulty tick;
    // cause tim_missed / timing -> a warning, NOMINAL. tim_overrun sees single
    // late ticks only, never 3 in a row, and stays quiet.
    const th = chamber();
    const onset = settle(th);
    const h0 = th.hostTicks;
    let k = 0;
    th.skipTick = () => k++ % 4 === 0 && th.hostTicks >= h0;
    th.run(40);
    expectRootTrip(th, 'tim_missed', onset, 7, 'NOMINAL');
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.cause).toEqual({ monitor: 'tim_missed', stage: 'timing' });
    expect(th.core.monitorTrips('tim_overrun')).toBe(0);
  });

  it('tim_missed: a 10 s host stall (100 ticks missed at once) -> named on the tick after the stall, a warning', () => {
    // the host process is frozen from t=80 s to t=90 s (100 ticks never run,
    // the heater holds its last command) -> the first tick after the stall
    // sees 99 whole intervals missed, far more than missed_count (3 missed
    // ticks within the last 16) -> tim_missed trips on that tick; cause
    // tim_missed / timing -> a warning: the chamber is still inside its
    // envelope, so the primary controller carries on.
    const th = chamber();
    const onset = settle(th);
    th.skipTick = (t) => t < 90_000_000;
    th.run(110);
    expect(th.core.counter('missed_ticks')).toBeGreaterThanOrEqual(99);
    expectRootTrip(th, 'tim_missed', onset, 1, 'NOMINAL');
    expect(th.core.cause).toEqual({ monitor: 'tim_missed', stage: 'timing' });
  });

  it('tim_sp_stale: the setpoint link dies -> DEGRADED within 61 ticks, holding the last good setpoint', () => {
    // the supervisory link stops refreshing the setpoint at t=80 s (it was
    // refreshed every 1 s; timeout 5 s) -> tim_sp_stale trips within 61 ticks
    // -> DEGRADED (cause setpoint): the primary controller holds the last good
    // setpoint, 80 C; cause tim_sp_stale / timing -> link back -> clears after
    // 1 tick -> NOMINAL, reason 'cleared'.
    const th = chamber();
    const onset = settle(th);
    let down = true;
    th.spRefreshFault = () => down;
    th.run(70);
    expectRootTrip(th, 'tim_sp_stale', onset, 61, 'DEGRADED', 'setpoint');
    expect(th.core.cause).toEqual({ monitor: 'tim_sp_stale', stage: 'timing' });
    th.run(300);
    expect(Math.abs(th.temperature - 80)).toBeLessThan(0.5); // the last good setpoint, held
    down = false;
    const n = th.runWhile((t) => t.core.mode !== 'NOMINAL', 50);
    expect(n).toBeLessThanOrEqual(12); // next refresh within 1 s, then 1 clear tick
    expect(th.log.filter((x) => x.kind === 'mode').at(-1)?.reason).toBe('cleared');
  });

  it('sens_stale: one of three sensors stops answering -> DEGRADED on the 3rd missing sample', () => {
    // sensor 1's cable breaks at t=80 s (no sample) -> sens_stale trips on the
    // 3rd faulty tick, sensor 1 leaves the vote -> DEGRADED; cause sens_stale /
    // sensing; the two others hold 80 C.
    const th = chamber({ nSensors: 3 });
    const onset = settle(th);
    th.sensorFault = (i, c) => (i === 1 ? null : c);
    th.run(300);
    expectRootTrip(th, 'sens_stale', onset, 3, 'DEGRADED', 'sensor_voted_out');
    expect(th.core.cause).toEqual({ monitor: 'sens_stale', stage: 'sensing' });
    expect(th.log.find((x) => x.kind === 'sensor_out')).toMatchObject({ monitor: 'sens_stale', value: 1 });
    expect(th.core.raw.sensors_trusted()).toBe(0b101);
    expect(Math.abs(th.temperature - 80)).toBeLessThan(0.5);
  });

  it('sens_range: a sensor shorts to the ADC rail -> DEGRADED on the 3rd faulty tick', () => {
    // sensor 2's input shorts to the rail at t=80 s: 4095 counts = 202.9 C,
    // above range_max 200 -> the median of 3 passes it on the 2nd sample ->
    // sens_range (2 ticks) trips on the 3rd faulty tick -> DEGRADED; cause
    // sens_range / sensing. The rate check is off here: with rate_max on, the
    // same jump is a 120 C-per-tick rate and is named sens_spike a tick earlier.
    const th = chamber({ nSensors: 3, params: { rate_max: 0 } });
    const onset = settle(th);
    th.sensorFault = (i, c) => (i === 2 ? 4095 : c);
    th.run(100);
    expectRootTrip(th, 'sens_range', onset, 3, 'DEGRADED', 'sensor_voted_out');
    expect(th.core.cause).toEqual({ monitor: 'sens_range', stage: 'sensing' });
    expect(th.core.raw.sensors_trusted()).toBe(0b011);
    expect(4095 * SENSORS[2].scale + SENSORS[2].offset).toBeGreaterThan(200);
  });

  it('sens_spike: EMI bursts on one sensor -> DEGRADED on the 4th spike', () => {
    // from t=80 s, a relay next to sensor 0's cable adds +10 C to every 3rd
    // sample -> the median of 3 rejects each one, and the 4th within 16
    // samples (the 10th faulty tick) trips sens_spike -> DEGRADED; cause
    // sens_spike / sensing; the loop never sees a spike.
    const th = chamber({ nSensors: 3 });
    const onset = settle(th);
    let k = 0;
    th.sensorFault = (i, c) => (i === 0 && k++ % 3 === 0 ? c + 200 : c);
    let worst = 0;
    th.run(100, (t) => { worst = Math.max(worst, Math.abs(t.core.raw.voted() / 65536 - t.temperature)); });
    expectRootTrip(th, 'sens_spike', onset, 10, 'DEGRADED', 'sensor_voted_out');
    expect(th.core.cause).toEqual({ monitor: 'sens_spike', stage: 'sensing' });
    expect(worst).toBeLessThan(0.5);
  });

  it('sens_stuck: the only sensor freezes -> out of the vote within 201 ticks, the model stands in (DEGRADED) until its uncertainty reaches the margin, then the stop holds the heater mid-envelope', () => {
    // the ADC of the single sensor freezes at its last reading at t=80 s, a
    // few hundredths of a degree off the true temperature, which is still
    // creeping toward 80 C. The frozen code starts the stuck check (200
    // ticks); before it completes, the model residual drifts and est_ewma
    // rises; that alarm corroborates the stuck check already in progress (held
    // for over a quarter of its trip time) -> the frozen sensor leaves the
    // vote (sensor_out, sens_stuck) within 201 ticks; est_ewma is
    // consequential; the model stands in for the sensor (substituted ticks
    // count up) -> DEGRADED (cause sensor_untrusted: the primary controller
    // on the model estimate) -> open loop, the uncertainty about the process
    // grows until it reaches the envelope's margin -> SAFE_STOP, not tripped
    // (the chamber's trip would cool it to 20 C, 10 C from the lower limit):
    // the heater is slewed to the power that settles the chamber mid-
    // envelope (52.5 C) and held there; the chamber starts down from 80 C.
    const th = chamber();
    const onset = settle(th);
    let frozen: number | undefined;
    th.sensorFault = (_i, c) => (frozen ??= c);
    th.run(260);
    const out = th.log.find((x) => x.tick >= onset && x.kind === 'sensor_out');
    expect(out).toMatchObject({ monitor: 'sens_stuck', value: 0 });
    record('sens_stuck', 201, nth(out!, onset));
    expect(nth(out!, onset)).toBeLessThanOrEqual(201);
    expect(th.log.find((x) => x.tick >= onset && x.kind === 'mode')).toMatchObject({ to: 'DEGRADED', reason: 'sensor_untrusted' });
    expect(alarmOf(th, 'est_ewma', onset).kind).toBe('consequential');
    expect(th.core.raw.sensors_trusted()).toBe(0);
    const sub = th.core.counter('substituted_ticks');
    expect(sub).toBeGreaterThan(0);
    expect(sub).toBeLessThanOrEqual(th.core.ticks - out!.tick);
    expect(th.core.mode).toBe('SAFE_STOP');
    expect(th.core.tripped).toBe(false);
    expect(th.core.guardFlags).toContain('closed_hold');
    expect(th.core.output).toBeCloseTo((52.5 - 20) / 1.5, 0);
    expect(th.temperature).toBeLessThan(80);
    expect(th.temperature).toBeGreaterThan(52.5);
  });

  it('sens_stuck on a settled loop: the frozen reading matches the model -> DEGRADED after the full 200 ticks', () => {
    // one of three sensors freezes at the current voted value (the loop is
    // settled, so the residual does not move) -> nothing corroborates, the
    // stuck check runs its full 200 ticks -> sens_stuck trips (root) ->
    // DEGRADED, the other two sensors vote on.
    const th = chamber({ nSensors: 3 });
    th.runUntil(300);
    const onset = th.core.ticks;
    expect(th.core.mode).toBe('NOMINAL');
    let frozen: number | undefined;
    th.sensorFault = (i, c) => (i === 1 ? (frozen ??= c) : c);
    th.run(260);
    const e = expectRootTrip(th, 'sens_stuck', onset, 201, 'DEGRADED', 'sensor_voted_out');
    expect(e.tick - onset).toBeGreaterThanOrEqual(199);
    expect(th.core.raw.sensors_trusted()).toBe(0b101);
    expect(th.core.mode).toBe('DEGRADED');
  });

  it('sens_disagree: one of three sensors loses its calibration -> DEGRADED within 6 ticks', () => {
    // sensor 2 reads 3 C high from t=80 s (disagree_thr 2 C) -> its median
    // passes the offset on the 2nd sample -> sens_disagree (5 ticks) trips
    // within 6 faulty ticks -> sensor 2 out of the vote -> DEGRADED; cause
    // sens_disagree / sensing. The voted value never moved.
    const th = chamber({ nSensors: 3, params: { disagree_thr: 2 } });
    const onset = settle(th);
    th.sensorFault = (i, c) => (i === 2 ? c + Math.round(3 / SENSORS[2].scale) : c);
    th.run(50);
    expectRootTrip(th, 'sens_disagree', onset, 6, 'DEGRADED', 'sensor_voted_out');
    expect(th.core.cause).toEqual({ monitor: 'sens_disagree', stage: 'sensing' });
    expect(th.log.find((x) => x.kind === 'sensor_out')).toMatchObject({ monitor: 'sens_disagree', value: 2 });
    expect(Math.abs(th.core.raw.voted() / 65536 - th.temperature)).toBeLessThan(0.5);
  });

  it('sens_lost: the sensor bus fails -> the model stands in (DEGRADED), then the stop holds the heater; sens_lost 100 ticks later is consequential; back by itself', () => {
    // the sensor bus fails at t=80 s: no sample from any of the three ->
    // sens_stale trips on the 3rd tick (root cause), the model stands in ->
    // DEGRADED (cause sensor_untrusted: the primary controller on the model
    // estimate, the chamber held near 80 C) -> after 100 substituted ticks
    // sens_lost trips (within 103 faulty ticks), consequential; cause stays
    // sens_stale / sensing -> open loop, the uncertainty reaches the margin
    // -> SAFE_STOP, the heater held where it was, not tripped -> the bus comes
    // back: the sensors rejoin the vote and, well inside for handback_ticks,
    // the loop returns to NOMINAL by itself, no reset needed.
    const th = chamber({ nSensors: 3 });
    const onset = settle(th);
    let broken = true;
    th.sensorFault = (_i, c) => (broken ? null : c);
    th.run(110);
    expectRootTrip(th, 'sens_stale', onset, 3, 'DEGRADED', 'sensor_untrusted');
    const e = alarmOf(th, 'sens_lost', onset);
    record('sens_lost', 103, nth(e, onset));
    expect(nth(e, onset)).toBeLessThanOrEqual(103);
    expect(e.kind).toBe('consequential');
    expect(th.core.mode).toBe('SAFE_STOP');
    expect(th.core.tripped).toBe(false);
    expect(th.core.cause).toEqual({ monitor: 'sens_stale', stage: 'sensing' });
    expect(th.core.monitorSuppressed('sens_lost')).toBe(1);
    expect(Math.abs(th.temperature - 80)).toBeLessThan(1);
    broken = false;
    th.run(80);
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.tripped).toBe(false);
  });

  it('est_cusum: the thermocouple picks up a 1.5 C offset -> the model stands in at once, named at sensing 16 ticks later', () => {
    // a ground loop adds +1.5 C (12.5 sigma) to the single sensor at t=80 s ->
    // the residual jumps once the median passes it -> the CUSUM crosses h on
    // the same tick as the EWMA; the jump points at the sensor, so the guard
    // blames it at once: DEGRADED (cause sensor_untrusted), the primary
    // controller runs on the model estimate and the chamber stays at 80 C
    // (the unguarded loop would follow the offset down to 78.5 C). The root
    // trip, est_cusum, is named when its isolation settles, 16 ticks later,
    // within 19 faulty ticks: cause est_cusum / sensing; est_ewma consequential.
    const th = chamber();
    const onset = settle(th);
    th.sensorFault = (_i, c) => c + 30;
    th.run(600);
    const e = expectRootTrip(th, 'est_cusum', onset, 19, 'DEGRADED', 'sensor_untrusted');
    expect(e.stage).toBe('sensing');
    expect(th.core.cause).toEqual({ monitor: 'est_cusum', stage: 'sensing' });
    expect(alarmOf(th, 'est_ewma', onset).kind).toBe('consequential');
    expect(Math.abs(th.temperature - 80)).toBeLessThan(0.5);
    expect(th.core.mode).toBe('DEGRADED');
  });

  it('est_ewma: the thermocouple drifts at 0.03 C/s -> within 116 ticks, a load by its signature: a warning, the primary keeps control', () => {
    // thermocouple drift from t=80 s, 0.03 C/s (the observer holds the
    // residual at about 1.2 sigma) -> est_ewma's condition within 100 faulty
    // ticks. A slow drift grows the way a plant change does (no jump, no
    // noise), and the heater's feedback agrees with its command: by the
    // residual alone it is a load disturbance, which the primary controller
    // rejects -> when its isolation settles 16 ticks later it is named a load
    // (a warning at the estimation stage, counter 'loads'), no trip, no mode
    // change. (Beyond the largest load the plant can see, dist_max, the
    // envelope also guards the drifted-sensor explanation: docs/core.md.)
    const th = chamber();
    const onset = settle(th);
    const t0 = th.tUs;
    th.sensorFault = (_i, c, t) => c + Math.round((0.03 * (t - t0)) / 1e6 / 0.05);
    th.run(300);
    const w = th.log.find((x) => x.tick >= onset && x.kind === 'warn' && x.monitor === 'est_ewma');
    expect(w, 'a warning from est_ewma').toBeDefined();
    record('est_ewma', 116, nth(w!, onset));
    expect(nth(w!, onset)).toBeLessThanOrEqual(116);
    expect(w!.stage).toBe('estimation');
    expect(th.core.counter('loads')).toBeGreaterThanOrEqual(1);
    expect(th.log.filter((x) => x.tick >= onset && (x.kind === 'trip' || x.kind === 'mode'))).toEqual([]);
    expect(th.core.mode).toBe('NOMINAL');
  });

  it('ctl_tracking: the operator asks for more than the heater can give -> a warning after 500 ticks', () => {
    // (an envelope up to 200 C for this one) setpoint 80 -> 180 C at t=80 s;
    // the heater tops out at 170 C, the model knows it, so nothing upstream
    // complains -> |error| > 10 C for 500 ticks -> ctl_tracking trips on the
    // 500th tick: a warning-level monitor (the primary controller does what
    // it can), no episode, NOMINAL; ctl_integ_sat only warns on the way.
    const th = chamber({ params: { env_max: 200 } });
    const onset = settle(th);
    th.setSetpoint(180);
    th.run(520);
    const w = alarmOf(th, 'ctl_tracking', onset);
    record('ctl_tracking', 500, nth(w, onset));
    expect(w.kind).toBe('warn');
    expect(nth(w, onset)).toBeLessThanOrEqual(500);
    expect(w.stage).toBe('control');
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.log.filter((x) => x.tick >= onset && (x.kind === 'mode' || x.kind === 'trip'))).toEqual([]);
    expect(alarmOf(th, 'ctl_integ_sat', onset).kind).toBe('warn');
  });

  it('ctl_integ_sat: a load manager caps the heater below what 80 C needs -> a warning within 260 ticks, still NOMINAL', () => {
    // the building's load manager caps the heater at 30 % (out_max) at t=80 s;
    // holding 80 C needs 40 % -> the integrator sits on its clamp; while the
    // error is still inside the noise (the 2 s dead time, then a slow sag)
    // the noise flips the conditional integration, so the 200-tick count
    // starts a few seconds late -> ctl_integ_sat warns within 260 ticks ->
    // the loop stays NOMINAL, no episode opens (cause null): the warning comes
    // before act_saturation's fallback.
    const th = chamber();
    const onset = settle(th);
    th.core.configure({ out_max: 30 });
    th.run(260, (t) => t.log.some((x) => x.tick >= onset && x.monitor === 'ctl_integ_sat'));
    const e = alarmOf(th, 'ctl_integ_sat', onset);
    record('ctl_integ_sat', 260, nth(e, onset));
    expect(e.kind).toBe('warn');
    expect(nth(e, onset)).toBeLessThanOrEqual(260);
    expect(nth(e, onset)).toBeGreaterThanOrEqual(200);
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.cause).toBeNull();
    expect(th.log.filter((x) => x.tick >= onset && (ALARMS.has(x.kind) || x.kind === 'mode'))).toEqual([]);
  });

  it('ctl_oscillation: a bad retune makes the loop ring -> FALLBACK within 800 ticks (the primary controller is the fault)', () => {
    // a configuration push at t=80 s sets kp 10 -> 100 (the ultimate gain is
    // about 30) -> the loop limit-cycles between 0 and 100 % with swings past
    // +-2 C -> ctl_oscillation (6 swings, each within 200 ticks) trips within
    // 800 ticks (the swings take a few periods to grow) -> FALLBACK (cause
    // oscillation: the fallback controller takes over); cause ctl_oscillation
    // / control.
    const th = chamber();
    const onset = settle(th);
    th.core.configure({ kp: 100 });
    th.run(800, (t) => t.core.mode !== 'NOMINAL');
    expectRootTrip(th, 'ctl_oscillation', onset, 800, 'FALLBACK', 'oscillation');
    expect(th.core.cause).toEqual({ monitor: 'ctl_oscillation', stage: 'control' });
  });

  it('act_saturation: the heater at the end of its authority -> a warning once the error stops shrinking', () => {
    // chamber held at 160 C (93 % power); at t=300 s the setpoint goes to
    // 172 C, 2 C beyond the 170 C the heater can reach -> the command sits at
    // 100 % while the error asks for more. While |error| keeps shrinking (by
    // an eighth at a time) the loop is converging and saturation is healthy;
    // as it nears the 2 C it cannot close, progress stops -> after 500 ticks
    // without progress act_saturation warns, within 2600 ticks of the step:
    // an actuator at the end of its authority is a warning-level monitor
    // (NOMINAL, no episode). |error| stays under the
    // 10 C tracking threshold after the first seconds, so ctl_tracking is
    // quiet. (An envelope up to 200 C for this one.)
    const th = chamber({ y0: 160, setpoint: 160, params: { env_max: 200 } });
    const onset = settle(th, 300);
    th.setSetpoint(172);
    th.run(2600);
    const w = alarmOf(th, 'act_saturation', onset);
    record('act_saturation', 2600, nth(w, onset));
    expect(w.kind).toBe('warn');
    expect(nth(w, onset)).toBeLessThanOrEqual(2600);
    expect(w.tick - onset).toBeGreaterThan(500);
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.monitorTrips('ctl_tracking')).toBe(0);
  });

  it('act_mismatch: the heater relay welds shut -> named within 21 ticks; tripped before the chamber leaves its envelope, latched', () => {
    // the SSR welds at t=80 s: the heater delivers 100 % whatever the command,
    // and the power meter says so -> |command - feedback| > 5 % from the next
    // tick -> act_mismatch trips within 21 ticks, before the plant's 2 s dead
    // time lets the model residual grow; cause act_mismatch / actuation. The
    // feedback does not follow the command: cause act_stuck, a warning while
    // the chamber is inside its envelope. It heats at up to 1.5 C/s; once the
    // prediction comes within 3 C of 95 C the guard would hold the heater off,
    // but a stuck actuator cannot be trusted with that: the trip output
    // de-energizes the contactor at once -> SAFE_STOP, latched (cause
    // envelope); the chamber peaks under 95 C and cools. reset() releases the
    // latch only once the chamber is well inside again.
    const th = chamber();
    const onset = settle(th);
    th.actuatorFault = () => 100;
    let peak = 0;
    th.run(600, (t) => { peak = Math.max(peak, t.temperature); });
    const e = expectRootTrip(th, 'act_mismatch', onset, 21, 'NOMINAL');
    expect(e.stage).toBe('actuation');
    expect(th.log.find((x) => x.kind === 'mode' && x.tick > e.tick)).toMatchObject({ to: 'SAFE_STOP', reason: 'envelope' });
    expect(th.log.find((x) => x.kind === 'trip_out' && x.tick > e.tick)).toMatchObject({ tripped: true, reason: 'envelope' });
    for (const m of ['est_cusum', 'est_ewma'] as const) {
      const x = th.log.find((y) => y.monitor === m && ALARMS.has(y.kind));
      if (x) {
        expect(x.kind).toBe('consequential');
        expect(x.tick).toBeGreaterThan(e.tick);
      }
    }
    expect(th.core.tripped).toBe(true);
    expect(th.core.latchedCauses).toContain('envelope');
    expect(peak).toBeLessThan(95);
    expect(th.temperature).toBeLessThan(80);
  });

  it('ew_csd: a slowly growing ripple makes the residual slow and large -> a warning well before any trip', () => {
    // from t=80 s a failing circulation fan puts a 2 s ripple on the chamber
    // air, its amplitude growing by 0.002 C each second: the residual becomes
    // larger and strongly autocorrelated -> ew_csd (variance > 2 sigma^2 and
    // lag-1 autocorrelation > 0.75 over 64 samples) warns within 1500 ticks,
    // while the loop is NOMINAL and at least 200 ticks before any monitor
    // trips (the CUSUM, once the ripple is large enough).
    const th = chamber();
    const onset = settle(th);
    const t0 = th.tUs;
    th.tempDisturbance = (t) => {
      const s = (t - t0) / 1e6;
      return 0.002 * s * Math.sin((2 * Math.PI * s) / 2);
    };
    th.run(3000, (t) => t.log.some((x) => x.tick >= onset && ALARMS.has(x.kind)));
    const w = alarmOf(th, 'ew_csd', onset);
    record('ew_csd', 1500, nth(w, onset));
    expect(w.kind).toBe('warn');
    expect(nth(w, onset)).toBeLessThanOrEqual(1500);
    const firstTrip = th.log.find((x) => x.tick >= onset && ALARMS.has(x.kind));
    expect(firstTrip, 'the disturbance keeps growing until something trips').toBeDefined();
    expect(firstTrip!.tick - w.tick).toBeGreaterThanOrEqual(200);
    expect(th.log.filter((x) => x.kind === 'mode' && x.tick <= w.tick && x.tick >= onset)).toEqual([]);
  });
});

// ---- contrapositive: nominal operation trips nothing -------------------------

// A nominal run: a warm chamber, realistic sensor noise (2 counts rms), a
// power meter with 0.3 % noise, up to 1 ms of scheduling jitter, the setpoint
// refreshed every second, and a setpoint step every 1000 s through
// 80 -> 90 -> 80 -> 88 -> 75 -> 85 -> 80 (steps of at most 13 C, at most 90 C:
// 5 C under the envelope's top). Larger steps
// down are not tolerated by design: from 80 C, a step down of 20 C holds the
// heater off with the integrator on its clamp for more than the 200 ticks
// ctl_integ_sat allows (a warning), and a step down of 40 C keeps the heater
// off "against" the error for more than 500 ticks, which trips
// act_saturation (FALLBACK). Every check is on.
const NOMINAL_TICKS = 1_000_000;
const SCHEDULE = [80, 90, 80, 88, 75, 85];

function nominalRun(nSensors: 1 | 3, seed: number): Thermal {
  const th = chamber({ seed, nSensors, y0: 80, jitterUs: 1000, recordEvents: false,
    params: nSensors === 3 ? { disagree_thr: 1.5 } : {} });
  let k = 0;
  th.run(NOMINAL_TICKS, (t) => {
    if (t.hostTicks % 10_000 === 5_000) t.setSetpoint(SCHEDULE[++k % SCHEDULE.length]);
  });
  return th;
}

describe(`nominal operation: ${NOMINAL_TICKS} noisy ticks with every check on trip nothing`, () => {
  let single: Thermal;
  let triple: Thermal;
  beforeAll(() => {
    single = nominalRun(1, 101);
    triple = nominalRun(3, 103);
  });

  it.each(MONITORS)('%s does not trip (one sensor, three sensors)', (m) => {
    expect(single.core.ticks).toBe(NOMINAL_TICKS);
    expect(triple.core.ticks).toBe(NOMINAL_TICKS);
    expect(single.core.monitorTrips(m), 'one sensor').toBe(0);
    expect(triple.core.monitorTrips(m), 'three sensors').toBe(0);
  });

  it('ends NOMINAL, on the setpoint', () => {
    for (const th of [single, triple]) {
      expect(th.core.mode).toBe('NOMINAL');
      expect(Math.abs(th.temperature - th.setpoint)).toBeLessThan(1);
      expect(th.core.counter('invariant_fails')).toBe(0);
    }
  });
});

describe('cold start: the warm-up from ambient is nominal operation too', () => {
  it('a first sample 4 counts (0.2 C, a 2-sigma noise draw) off does not trip the estimators', () => {
    // noise-free chamber at ambient, only the very first sample reads 4
    // counts low (the model is primed from it) -> the warm-up must not trip.
    const th = chamber({ noiseCounts: 0, feedbackNoise: 0 });
    th.sensorFault = (_i, c, t) => (t === 0 ? c - 4 : c);
    th.runUntil(150);
    expect(describeEvents(th.log.filter((e) => ALARMS.has(e.kind)))).toBe('');
  });

  it('a first tick stamped 1 us late does not trip the estimators', () => {
    // noise-free chamber at ambient; the host stamps its first tick 1 us
    // late (dead time 2 s = exactly 20 periods) -> the warm-up must not trip.
    const th = chamber({ noiseCounts: 0, feedbackNoise: 0 });
    th.clockFault = (t) => (t === 0 ? 1 : t);
    th.runUntil(150);
    expect(describeEvents(th.log.filter((e) => ALARMS.has(e.kind)))).toBe('');
  });

  // 20 seeds, from 20 C to 80 C: the heater is at 100 % for about 25 s, so
  // ctl_integ_sat warns once (by design, a warning); nothing may trip.
  for (const jitterUs of [0, 1000]) {
    it(`no trip during the warm-up, ${jitterUs} us of jitter`, () => {
      const bad: string[] = [];
      for (let seed = 1; seed <= 20; seed++) {
        const th = chamber({ seed, jitterUs });
        th.runUntil(150);
        const trips = th.log.filter((e) => ALARMS.has(e.kind));
        if (trips.length > 0 || th.core.mode !== 'NOMINAL') bad.push(`seed ${seed}: ${describeEvents(trips)}`);
      }
      expect(bad).toEqual([]);
    });
  }
});
