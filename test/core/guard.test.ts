// The guard's reactions that the per-monitor stories do not tell, on the
// thermal chamber (test/support/thermal.ts): a noisy single sensor, a load
// disturbance the primary controller rejects, a soft error repaired from two
// damaged copies, and the host's trip. Each with its contrapositive.

import { describe, expect, it } from 'vitest';
import { PARAM_IDS } from '../../host/runtime/core.js';
import { chamber, settle } from '../support/thermal.js';

const modesSince = (th: ReturnType<typeof chamber>, from: number) => th.log.filter((e) => e.kind === 'mode' && e.tick >= from);

describe('the guard: reactions keyed on the cause', () => {
  it('spikes on the only sensor: the primary controller stays, on a reading held to the process, and the chamber holds 80 C', () => {
    // from t=80 s EMI puts +-10 C spikes on every 3rd sample of the single
    // thermocouple, often two in a row (the median of 3 lets those through)
    // -> sens_spike trips, but it is the only sensor: rather than none, it
    // stays in the vote (cause sensor_noisy) -> DEGRADED, the primary
    // controller on the reading held to what the chamber can do in a tick
    // -> the chamber stays within 0.5 C of 80 C; no fallback, no trip ->
    // the EMI stops -> NOMINAL by itself.
    const th = chamber();
    const onset = settle(th);
    let k = 0;
    let emi = true;
    th.sensorFault = (_i, c) => (emi && k++ % 3 !== 2 && k % 7 < 3 ? c + (k % 2 ? 200 : -200) : c);
    let worst = 0;
    th.run(600, (t) => { worst = Math.max(worst, Math.abs(t.temperature - 80)); });
    expect(th.first('trip', 'sens_spike', onset)).toBeDefined();
    expect(modesSince(th, onset)[0]).toMatchObject({ to: 'DEGRADED', reason: 'sensor_noisy' });
    expect(th.log.filter((e) => e.tick >= onset && e.kind === 'mode' && (e.to === 'FALLBACK' || e.to === 'SAFE_STOP'))).toEqual([]);
    expect(th.core.tripped).toBe(false);
    expect(worst).toBeLessThan(0.5);
    emi = false;
    th.run(300);
    expect(th.core.mode).toBe('NOMINAL');
  });

  it('contrapositive: the same chamber without spikes changes no mode', () => {
    const th = chamber();
    const onset = settle(th);
    th.run(900);
    expect(modesSince(th, onset)).toEqual([]);
    expect(th.core.mode).toBe('NOMINAL');
  });

  it('a load step of 10 % of the heater range: the primary controller rejects it; no trip, no mode change', () => {
    // at t=80 s a door opens: a heat loss of 10 % of the heater's range
    // (15 C at steady state) -> the residual builds up through the plant
    // (no jump, no noise) while the heater's meter agrees with its command
    // -> whatever the estimators see is named a load disturbance (a warning
    // at most); no trip, no mode change; the PID brings the chamber back to
    // 80 C within 2 C and holds it.
    const th = chamber();
    const onset = settle(th);
    th.loadDisturbance = () => -10;
    th.run(3000);
    expect(th.log.filter((e) => e.tick >= onset && (e.kind === 'trip' || e.kind === 'mode' || e.kind === 'trip_out'))).toEqual([]);
    expect(th.core.mode).toBe('NOMINAL');
    expect(Math.abs(th.temperature - 80)).toBeLessThan(2);
  });

  it('a bit flipped in the running table and another word of the same block in its shadow: repaired from a mix of both', () => {
    // two soft errors in one 8-word block: osc_window in the running table
    // and osc_amp in the shadow copy -> neither copy matches the block's sum
    // on its own, the mix does -> repaired (counter 'repairs'), a warning
    // (cause soft_repaired), NOMINAL, no trip; both copies whole again.
    const th = chamber();
    settle(th);
    const r = th.core.raw;
    const mem = new DataView(r.memory.buffer);
    const active = r.config_addr() + 45 * 4;   // osc_window
    const shadow = r.config_shadow_addr() + 43 * 4; // osc_amp, same block (ids 40..47)
    const goodA = mem.getInt32(active, true);
    const goodS = mem.getInt32(shadow, true);
    mem.setInt32(active, goodA ^ 8, true);
    mem.setInt32(shadow, goodS ^ 0x10000, true);
    th.run(60);
    expect(th.core.counter('repairs')).toBe(1);
    expect(mem.getInt32(active, true)).toBe(goodA);
    expect(mem.getInt32(shadow, true)).toBe(goodS);
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.tripped).toBe(false);
    expect(th.core.latchedCauses).toEqual([]);
  });

  it('a bit flipped in the shadow copy alone: found by the scrub and rewritten from the running table, so that a later flip in the same word of the table is still repairable', () => {
    // the running table reads right, so nothing the loop does changes; but a
    // latent flip in the shadow would leave the next flip of that word with
    // no good copy -> the scrub checks the shadow against the block's sum
    // too and rewrites it ('repairs' 1) -> the same word then flipped in the
    // running table is repaired from the shadow ('repairs' 2): NOMINAL, no
    // latch, both copies whole.
    const th = chamber();
    settle(th);
    const r = th.core.raw;
    const mem = new DataView(r.memory.buffer);
    const active = r.config_addr() + 45 * 4;          // osc_window
    const shadow = r.config_shadow_addr() + 45 * 4;   // its shadow word
    const good = mem.getInt32(active, true);
    mem.setInt32(shadow, good ^ 0x40, true);
    th.run(60);
    expect(th.core.counter('repairs')).toBe(1);
    expect(mem.getInt32(shadow, true)).toBe(good);
    mem.setInt32(active, good ^ 0x40, true);
    th.run(60);
    expect(th.core.counter('repairs')).toBe(2);
    expect(mem.getInt32(active, true)).toBe(good);
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.latchedCauses).toEqual([]);
  });

  it('a flip in the model\'s offset, repaired within the scrub\'s sweep: the model restarts from the vote, so nothing is left to blame on the sensors (NOMINAL again, no bias compensated)', () => {
    // model_offset (ambient 20 C) gets bit 27 flipped (+2048 C) in the
    // running table: until the scrub reaches its block the model heads for
    // 2000 C, a few C a tick, and its residual steps -> repaired from the shadow -> the model, its load
    // estimate and detectors restart from the vote -> the estimation alarms
    // clear, no sensor is blamed for the step the corrupted model made, and
    // the loop is NOMINAL with the reading uncompensated.
    const th = chamber();
    const onset = settle(th);
    const r = th.core.raw;
    const mem = new DataView(r.memory.buffer);
    const id = PARAM_IDS.get('model_offset')!;
    const at = r.config_addr() + id * 4;
    const good = mem.getInt32(at, true);
    mem.setInt32(at, good ^ (1 << 27), true);
    th.run(600);
    expect(th.core.counter('repairs')).toBe(1);
    expect(mem.getInt32(at, true)).toBe(good);
    expect(th.core.mode).toBe('NOMINAL');
    expect((r.guard_status() & 256) === 0).toBe(true);   // sensors_blamed off
    expect(Math.abs(th.temperature - 80)).toBeLessThan(1);
    expect(th.log.filter((e) => e.tick >= onset && e.kind === 'trip').map((e) => e.monitor)).toEqual(['core_integrity']);
  });

  it('the host demands the trip: the contactor opens on the next tick, and closes after the dwell once released', () => {
    // the coordinator demands the trip at t=80 s -> the next tick trips
    // (cause host), the heater loses power -> released at t=90 s -> after
    // the hand-back dwell (50 ticks well inside the envelope) the trip
    // output is energized again and the primary controller brings the
    // chamber back to 80 C.
    const th = chamber();
    const onset = settle(th);
    th.core.demand('trip');
    th.step();
    expect(th.core.tripped).toBe(true);
    expect(th.log.find((e) => e.kind === 'trip_out' && e.tick >= onset)).toMatchObject({ tripped: true, reason: 'host' });
    th.runUntil(90);
    expect(th.delivered).toBe(0);
    th.core.demand('none');
    th.run(th.core.param('handback_ticks') + 2);
    expect(th.core.tripped).toBe(false);
    th.runUntil(400);
    expect(Math.abs(th.temperature - 80)).toBeLessThan(1);
    expect(th.core.mode).toBe('NOMINAL');
  });

  it('an unknown demand is refused with the field named, and changes nothing', () => {
    const th = chamber();
    settle(th);
    expect(() => th.core.demand('explode' as never)).toThrow(/demand.*one of none, fallback, trip/);
    expect(th.core.raw.demand(7)).toBe(-2);
    th.run(5);
    expect(th.core.mode).toBe('NOMINAL');
    expect(th.core.tripped).toBe(false);
  });
});
