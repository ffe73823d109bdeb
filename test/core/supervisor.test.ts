// The Simplex supervisor on the thermal chamber (test/support/thermal.ts):
// debounce and clear dwell, the way back (by itself, or by reset() for a
// latched trip), bumpless transfer at every switch, first-out attribution
// with suppression of consequential alarms, reasons on every mode event, and
// action-to-sensing (the sampling interval the core proposes, followed by
// the host).

import { describe, expect, it } from 'vitest';
import { CAUSES, MONITORS, type CoreEvent } from '../../host/runtime/core.js';
import { ALARMS, PERIOD_US, chamber, settle, type Thermal } from '../support/thermal.js';


const modeEvents = (th: Thermal, from = 0) => th.log.filter((e) => e.kind === 'mode' && e.tick >= from);

/** Every mode event names its reason: the deciding cause when the mode gets worse, 'cleared' or 'reset' when it recovers. */
function expectReasons(th: Thermal): void {
  const order = ['NOMINAL', 'DEGRADED', 'FALLBACK', 'SAFE_STOP'];
  for (const e of modeEvents(th)) {
    expect(e.reason, `mode event at tick ${e.tick}`).toBeDefined();
    if (order.indexOf(e.to!) > order.indexOf(e.from!)) expect(CAUSES as readonly string[]).toContain(e.reason);
    else expect(['cleared', 'reset']).toContain(e.reason);
  }
}

describe('hysteresis', () => {
  it('a condition shorter than trip_ticks does not trip; the third tick does', () => {
    // sensor 1 of three misses 2 samples at t=80 s (sens_stale needs 3) ->
    // no trip, NOMINAL throughout -> at t=90 s it misses 3 -> trips on the
    // 3rd -> DEGRADED.
    const th = chamber({ nSensors: 3 });
    settle(th);
    let missing = 2;
    th.sensorFault = (i, c) => (i === 1 && missing > 0 ? (missing--, null) : c);
    th.run(100, (t) => { expect(t.core.mode).toBe('NOMINAL'); });
    expect(th.core.monitorTrips('sens_stale')).toBe(0);
    expect(th.log.filter((e) => e.tick >= 800 && e.kind !== 'config')).toEqual([]);
    const onset = th.core.ticks;
    missing = 3;
    th.run(3);
    expect(th.core.mode).toBe('DEGRADED');
    expect(th.first('trip', 'sens_stale')?.tick).toBe(onset + 2);
  });

  it('an auto-clear monitor clears only after clear_ticks healthy ticks; NOMINAL again with reason cleared', () => {
    // sensor 1 of three drops out for 1 s at t=80 s -> sens_stale trips ->
    // DEGRADED -> samples are back -> DEGRADED for 9 more healthy ticks, the
    // 10th clears it (clear_ticks 10) -> NOMINAL, reason 'cleared', and the
    // episode ends with nothing suppressed.
    const th = chamber({ nSensors: 3 });
    settle(th);
    let missing = 10;
    th.sensorFault = (i, c) => (i === 1 && missing > 0 ? (missing--, null) : c);
    th.run(10);
    expect(th.core.mode).toBe('DEGRADED');
    const healthy0 = th.core.ticks;
    for (let k = 1; k <= 9; k++) {
      th.step();
      expect(th.core.mode, `healthy tick ${k}`).toBe('DEGRADED');
    }
    th.step();
    expect(th.core.mode).toBe('NOMINAL');
    const back = modeEvents(th).at(-1)!;
    expect(back).toMatchObject({ tick: healthy0 + 9, from: 'DEGRADED', to: 'NOMINAL', reason: 'cleared' });
    expect(th.log.find((e) => e.kind === 'clear' && e.monitor === 'sens_stale')?.tick).toBe(healthy0 + 9);
    th.step();  // the episode ends on the first tick back in NOMINAL
    expect(th.log.find((e) => e.kind === 'episode_end')).toMatchObject({ monitor: 'sens_stale', value: 0 });
    expectReasons(th);
  });
});

describe('the way back', () => {
  it('a cause that clears returns the loop to NOMINAL by itself, no reset()', () => {
    // the thermocouple picks up a 1.5 C offset for 2 s at t=80 s -> est_cusum
    // trips, the jump blames the sensor -> DEGRADED, the model stands in ->
    // the offset is gone: the reading agrees with the model again, the CUSUM
    // decays, est_cusum clears -> NOMINAL, reason 'cleared', without reset().
    const th = chamber();
    const onset = settle(th);
    let glitch = 20;
    th.sensorFault = (_i, c) => (glitch > 0 ? (glitch--, c + 30) : c);
    th.run(1000);
    expect(th.first('trip', 'est_cusum', onset)).toBeDefined();
    expect(modeEvents(th, onset)[0]).toMatchObject({ to: 'DEGRADED', reason: 'sensor_untrusted' });
    expect(th.core.mode).toBe('NOMINAL');
    expect(modeEvents(th).at(-1)).toMatchObject({ from: 'DEGRADED', to: 'NOMINAL', reason: 'cleared' });
    expect(Math.abs(th.temperature - 80)).toBeLessThan(0.5);
    expectReasons(th);
  });

  it('a reversed heater driver: tripped and latched; reset() releases the trip only once its condition is false', () => {
    // the heater driver fails reversed at t=80 s (it applies 100 - command %)
    // and the power meter shows it -> act_mismatch; the feedback moves against
    // the command -> cause act_reversed -> SAFE_STOP: the trip output cuts the
    // heater at the contactor, latched; the meter reads 0 %, the trip is
    // verified. The contactor welds as well: reset() while the feedback
    // disagrees with the trip releases nothing. Contactor and driver repaired
    // -> reset() releases the latch -> the primary controller is back.
    const th = chamber();
    const onset = settle(th);
    let reversed = true;
    th.actuatorFault = (u) => (reversed ? 100 - u : u);
    let peak = 0;
    th.run(300, (t) => { peak = Math.max(peak, t.temperature); });
    expect(th.first('trip', 'act_mismatch', onset)).toBeDefined();
    expect(th.log.find((e) => e.kind === 'trip_out' && e.tick >= onset)).toMatchObject({ tripped: true, reason: 'act_reversed' });
    expect(th.core.mode).toBe('SAFE_STOP');
    expect(th.core.tripped).toBe(true);
    expect(th.core.latchedCauses).toEqual(['act_reversed']);
    expect(th.first('trip_failed', undefined, onset)).toBeUndefined();
    expect(peak).toBeLessThan(95);
    // welded contactor: the trip no longer cuts the power, the meter shows it.
    let welded = true;
    th.tripFails = () => welded;
    const weldedAt = th.core.ticks;
    th.run(20);
    th.core.reset();
    th.run(20);
    expect(th.core.mode).toBe('SAFE_STOP');
    welded = false;
    reversed = false;
    th.run(20);
    expect(th.core.reset()).toBeGreaterThanOrEqual(1);
    expect(th.core.latchedCauses).toEqual([]);
    // re-energized after the hand-back dwell (50 ticks well inside the envelope)
    th.run(th.core.param('handback_ticks') + 1);
    expect(th.core.tripped).toBe(false);
    expect(th.first('handback', undefined, weldedAt)).toBeDefined();
    expect(modeEvents(th, weldedAt).at(-1)).toMatchObject({ from: 'SAFE_STOP', reason: 'cleared' });
    th.run(1500);
    expect(th.core.mode).toBe('NOMINAL');
    expect(Math.abs(th.temperature - 80)).toBeLessThan(1);
    expectReasons(th);
  });
});

describe('bumpless transfer', () => {
  it('no command step exceeds slew*dt at NOMINAL -> FALLBACK -> NOMINAL; the trip cuts the heater at once', () => {
    // t=80 s the coordinator demands the fallback -> FALLBACK (PI toward
    // 40 C) -> it releases its demand at t=90 s -> after the hand-back dwell
    // (50 ticks well inside the envelope) -> NOMINAL; t=150 s the relay welds
    // -> the chamber heads for 95 C -> tripped: the contactor opens, and the
    // command goes to the safe output at once (the heater is off anyway).
    // slew 20 %/s at 10 Hz: before the trip, no two consecutive commands
    // differ by more than 2 %.
    const th = chamber();
    settle(th);
    const u: number[] = [th.command];
    const modes: string[] = [th.core.mode];
    th.core.demand('fallback');
    th.runUntil(90, (t) => { u.push(t.command); modes.push(t.core.mode); });
    th.core.demand('none');
    th.runUntil(150, (t) => { u.push(t.command); modes.push(t.core.mode); });
    th.actuatorFault = () => 100;
    th.run(600, (t) => { if (!t.core.tripped) { u.push(t.command); modes.push(t.core.mode); } });
    const switches = modes.map((m, i) => (i > 0 && m !== modes[i - 1] ? `${modes[i - 1]}->${m}` : '')).filter(Boolean);
    expect(switches.slice(0, 2)).toEqual(['NOMINAL->FALLBACK', 'FALLBACK->NOMINAL']);
    const step = th.core.param('slew') * PERIOD_US / 1e6;
    let worst = 0;
    for (let i = 1; i < u.length; i++) worst = Math.max(worst, Math.abs(u[i] - u[i - 1]));
    expect(worst).toBeLessThanOrEqual(step + 1 / 65536);
    expect(th.core.mode).toBe('SAFE_STOP');
    expect(th.command).toBe(0);
  });

  for (const fbSetpoint of [70, 40]) {
    it(`without a slew limit the first fallback command equals the last primary one, and back (fb_setpoint ${fbSetpoint} C)`, () => {
      // slew off. t=80 s the coordinator demands the fallback -> FALLBACK:
      // the fallback PI starts where the PID left the heater -> the demand is
      // released -> after the hand-back dwell, NOMINAL: the PID starts where
      // the fallback left it. Within 2 LSB (Q16) each way.
      const th = chamber({ params: { slew: 0, fb_setpoint: fbSetpoint } });
      settle(th);
      let prevU = th.command;
      let prevMode = th.core.mode;
      const jumps: string[] = [];
      th.core.demand('fallback');
      th.run(300, (t) => {
        if (t.core.mode !== prevMode) jumps.push(`${prevMode}->${t.core.mode}: ${prevU.toFixed(5)} -> ${t.command.toFixed(5)}`);
        if (t.core.mode !== prevMode) expect(Math.abs(t.command - prevU), jumps.at(-1)).toBeLessThanOrEqual(2 / 65536);
        if (t.hostTicks === 900) t.core.demand('none');
        prevU = t.command;
        prevMode = t.core.mode;
      });
      expect(jumps).toHaveLength(2);
    });
  }
});

describe('first-out attribution and suppression', () => {
  it('a sensor bias: est_cusum is the cause, the alarms that follow are consequential; one trip, episode_end counts them', () => {
    // the single thermocouple reads 1.5 C high from t=80 s -> est_cusum and
    // est_ewma rise in the same tick; the residual stepped, so the sensor is
    // blamed at once (DEGRADED, the model stands in) and est_cusum (root) is
    // named at the sensing stage when its isolation settles; est_ewma is
    // consequential. The cause stays est_cusum / sensing all along; the
    // step is measured and taken off the reading (bias compensation) -> the
    // bias is fixed -> the raw reading agrees with the estimate again ->
    // NOMINAL by itself; the first episode ends with value 1 (suppressed
    // alarms).
    const th = chamber();
    const onset = settle(th);
    let bias = 30;
    th.sensorFault = (_i, c) => c + bias;
    th.run(700, (t) => {
      if (t.core.ticks - onset > 19) expect(t.core.cause).toEqual({ monitor: 'est_cusum', stage: 'sensing' });
    });
    const alarms = th.log.filter((e) => e.tick >= onset && ALARMS.has(e.kind));
    expect(alarms.map((e) => `${e.kind}:${e.monitor}`).sort()).toEqual(['consequential:est_ewma', 'trip:est_cusum']);
    expect(alarms.filter((e) => e.kind === 'consequential').every((e) => e.value === MONITORS.indexOf('est_cusum'))).toBe(true);
    expect(th.core.monitorSuppressed('est_ewma')).toBe(1);
    expect(th.core.monitorSuppressed('est_cusum')).toBe(0);
    expect(th.core.monitorTrips('ctl_tracking')).toBe(0);
    expect(th.core.counter('root_trips')).toBe(1);
    bias = 0;
    th.run(3000);
    expect(th.core.mode).toBe('NOMINAL');
    // The bias going away is a step back in the compensated reading: named
    // once more, at the sensing stage, in a short episode of its own.
    const end = th.log.filter((e) => e.kind === 'episode_end');
    expect(end.length).toBeGreaterThanOrEqual(1);
    expect(end.length).toBeLessThanOrEqual(2);
    expect(end[0]).toMatchObject({ monitor: 'est_cusum', value: 1 });
    const trips = th.log.filter((e) => e.kind === 'trip');
    expect(trips.length).toBeLessThanOrEqual(2);
    expect(trips.every((e) => e.stage === 'sensing')).toBe(true);
    expectReasons(th);
  });

  it('a relay welded shut: act_mismatch is the cause; the model follows the power meter, so no estimation alarm follows', () => {
    // the SSR welds at t=80 s: 100 % heat whatever the command; the power
    // meter shows it -> act_mismatch (root, actuation); the model takes what
    // the meter reads once it disagrees with the command, so it heats with
    // the chamber and its residual stays quiet: no estimation alarm, no
    // second cause -> near the envelope's top the stuck heater is tripped
    // (SAFE_STOP). One trip, the cause stays act_mismatch.
    const th = chamber();
    const onset = settle(th);
    th.actuatorFault = () => 100;
    th.run(600);
    const alarms = th.log.filter((e) => e.tick >= onset && ALARMS.has(e.kind));
    expect(alarms[0]).toMatchObject({ kind: 'trip', monitor: 'act_mismatch', stage: 'actuation' });
    expect(alarms.filter((e) => e.kind === 'trip')).toHaveLength(1);
    expect(alarms.filter((e) => e.monitor === 'est_cusum' || e.monitor === 'est_ewma')).toEqual([]);
    expect(th.core.cause).toEqual({ monitor: 'act_mismatch', stage: 'actuation' });
    expect(th.core.mode).toBe('SAFE_STOP');
    expect(th.core.tripped).toBe(true);
  });

  it('the contrapositive: the same welded relay on a meterless heater -> the model, driven by the command, falls behind: the estimation alarms see it (a load: no meter to blame the heater) and the envelope trips it', () => {
    const th = chamber({ feedback: false });
    const onset = settle(th);
    th.actuatorFault = () => 100;
    th.run(600);
    const after = th.log.filter((e) => e.tick >= onset);
    expect(after.some((e) => e.monitor === 'est_cusum' || e.monitor === 'est_ewma')).toBe(true);
    expect(after.some((e) => e.monitor === 'act_mismatch')).toBe(false);
    expect(after.find((e) => e.kind === 'trip_out')).toMatchObject({ stage: 'envelope', reason: 'envelope', tripped: true });
    expect(th.temperature).toBeLessThan(95);
  });
});

describe('action-to-sensing', () => {
  it('settled: the proposed interval grows to period_max; a disturbance snaps it back to period_min within one tick', () => {
    // period_min 100 ms, period_max 800 ms, settle_band 0.5 C; the host
    // samples at the interval the core proposes. Once the chamber holds 80 C
    // the interval doubles every 50 settled ticks up to 800 ms -> the
    // operator steps the setpoint to 84 C -> on that very tick the proposal
    // is 100 ms again -> it settles and slows down again. Nothing trips.
    const th = chamber({ params: { period_max_us: 8 * PERIOD_US, settle_band: 0.5 } });
    th.followAdaptive = true;
    th.runUntil(300);
    expect(th.core.nextIntervalUs).toBe(8 * PERIOD_US);
    expect(th.intervalUs).toBe(8 * PERIOD_US);
    const seen = new Set<number>();
    th.runUntil(600, (t) => { seen.add(t.core.nextIntervalUs); });
    expect([...seen]).toEqual([8 * PERIOD_US]);
    th.setSetpoint(84);
    th.step();
    expect(th.core.nextIntervalUs).toBe(PERIOD_US);
    expect(th.intervalUs).toBe(PERIOD_US);
    th.runUntil(1200);
    expect(th.core.nextIntervalUs).toBe(8 * PERIOD_US);
    expect(Math.abs(th.temperature - 84)).toBeLessThan(0.5);
    expect(th.log.filter((e) => ALARMS.has(e.kind))).toEqual([]);
    expect(th.core.mode).toBe('NOMINAL');
  });

  it('a sensor dropout while sampling slowly snaps the interval back at once', () => {
    // settled at 800 ms -> at t=400 s sensor 0 of three misses one sample: not
    // yet near a trip, the interval stays -> it misses a second one: half way
    // to sens_stale's 3 ticks, near a trip -> the next proposal is 100 ms.
    const th = chamber({ nSensors: 3, params: { period_max_us: 8 * PERIOD_US, settle_band: 0.5 } });
    th.followAdaptive = true;
    th.runUntil(400);
    expect(th.core.nextIntervalUs).toBe(8 * PERIOD_US);
    let missing = 2;
    th.sensorFault = (i, c) => (i === 0 && missing > 0 ? (missing--, null) : c);
    th.step();
    expect(th.core.nextIntervalUs).toBe(8 * PERIOD_US);
    th.step();
    expect(th.core.nextIntervalUs).toBe(PERIOD_US);
    expect(th.core.mode).toBe('NOMINAL');
  });
});
