// The typed host wrapper: named parameters in engineering units, transactional
// configuration with errors that name the field, decoded events, and one loop
// per instance.
import { describe, expect, it } from 'vitest';
import { ParamError, PARAM_IDS, Q16 } from '../../host/runtime/core.js';
import { freshCore } from '../support/core.js';

describe('Core wrapper', () => {
  it('reads parameters back in engineering units', () => {
    const c = freshCore();
    c.configure({ kp: 2.5, ti: 12, out_max: 80, 'est_cusum.level': 'warn', median3: false, period_min_us: 20_000, period_max_us: 40_000 });
    expect(c.param('kp')).toBe(2.5);
    expect(c.param('ti')).toBe(12);
    expect(c.param('out_max')).toBe(80);
    expect(c.param('est_cusum.level')).toBe(1);
    expect(c.param('median3')).toBe(0);
    expect(c.param('period_min_us')).toBe(20_000);
  });

  it('rejects an out-of-range value with an error naming the field, and changes nothing', () => {
    const c = freshCore();
    const before = c.raw.config_checksum();
    let err: unknown;
    try {
      c.configure({ kp: 3, n_sensors: 4 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParamError);
    const pe = err as ParamError;
    expect(pe.field).toBe('n_sensors');
    expect(pe.message).toContain("parameter 'n_sensors'");
    expect(pe.message).toContain('[1, 3]');
    expect(pe.message).toContain('4');
    expect(c.raw.config_checksum()).toBe(before);
    expect(c.param('kp')).toBe(1);
  });

  it('rejects an inconsistent combination at commit, naming it, and keeps the running table', () => {
    const c = freshCore();
    const before = c.raw.config_checksum();
    expect(() => c.configure({ out_min: 50, out_max: 40 })).toThrow(/out_min.*out_min < out_max/);
    expect(c.raw.config_checksum()).toBe(before);
    expect(c.param('out_max')).toBe(100);
    // The same values in a consistent order-independent transaction work.
    c.configure({ out_max: 200, out_min: 150, safe_output: 150 });
    expect(c.param('out_min')).toBe(150);
  });

  it('rejects unknown names, wrong types and non-integer integers', () => {
    const c = freshCore();
    expect(() => c.configure({ kq: 1 } as never)).toThrow(/parameter 'kq': expected a known parameter name/);
    expect(() => c.configure({ 'est_cusum.level': 'explode' as never })).toThrow(/est_cusum.level.*one of none, warn, alarm/);
    expect(() => c.configure({ trip_dir: 'sideways' as never })).toThrow(/trip_dir.*one of down, none, up \(the way the tripped process moves/);
    expect(() => c.configure({ env_hi_dir: 'sideways' as never })).toThrow(/env_hi_dir.*the command direction that moves the variable away/);
    c.configure({ trip_dir: 'down' });
    expect(c.param('trip_dir')).toBe(-1);
    expect(() => c.configure({ n_sensors: 2.5 })).toThrow(/n_sensors/);
    expect(() => c.configure({ kp: Number.NaN })).toThrow(/kp/);
    expect(() => c.setSetpoint(1e9, 0)).toThrow(/setpoint/);
  });

  it('refuses a BigInt or a boolean where a number is meant, and a number the Q16.16 format would hold as 0 or more than 1 % off, naming the smallest step; nothing changes', () => {
    const c = freshCore();
    const kp = c.param('kp');
    expect(() => c.configure({ kp: 10n as never })).toThrow(ParamError);
    expect(() => c.configure({ kp: 10n as never })).toThrow(/parameter 'kp': expected a number in .*received 10n \(a BigInt\)/);
    expect(() => c.configure({ guard: 1n as never })).toThrow(/parameter 'guard': expected true or false, received 1n/);
    expect(() => c.configure({ 'sens_stuck.level': true as never })).toThrow(/sens_stuck.level.*one of none, warn, alarm.*received true/);
    // ti = 5e-6 would be stored as 0, which means no integral action at all: the opposite of what was asked.
    expect(() => c.configure({ ti: 5e-6 })).toThrow(/parameter 'ti': expected 0, or a value of at least the format's smallest step, 1\/65536 = 0\.0000153/);
    expect(() => c.configure({ kp: 5e-6 })).toThrow(/parameter 'kp'.*stored as 0/);
    // 1e-4 is 6.55 steps: stored as 7 / 65536, 6.8 % off.
    expect(() => c.configure({ kp: 1e-4 })).toThrow(/parameter 'kp': expected a value the Q16.16 format holds within 1 % .*stored as 0\.0001068115234375, 6\.8 % off/);
    expect(() => c.rawParam('kp', 1e-4)).toThrow(/6\.8 % off/);
    expect(c.param('kp')).toBe(kp);
    // Contrapositive: 1e-3 is held within 1 % (0.7 % off), and 0 is 0.
    c.configure({ kp: 1e-3, td: 0 });
    expect(c.param('kp')).toBeCloseTo(1e-3, 4);
  });

  it('names every parameter id the core knows', () => {
    const c = freshCore();
    for (const [name, id] of PARAM_IDS) {
      expect(c.raw.param_known(id), name).toBe(1);
    }
  });

  it('decodes events and the first-out cause', () => {
    const c = freshCore();
    c.configure({ s0_scale: 1 / Q16, adc_min: -2147483647, adc_max: 2147483647, range_min: -100, range_max: 100, median3: false });
    let t = 0;
    c.tick(t, { sensors: [0] });
    // The only sensor drops out: stale after 3 ticks -> DEGRADED, model substituted.
    for (let i = 0; i < 3; i++) c.tick((t += 10_000), { sensors: [null] });
    const evs = c.events();
    const trip = evs.find((e) => e.kind === 'trip');
    expect(trip).toMatchObject({ monitor: 'sens_stale', stage: 'sensing' });
    const mode = evs.find((e) => e.kind === 'mode');
    // The mode event names the guard's cause (what failed), the trip event the monitor that saw it.
    expect(mode).toMatchObject({ from: 'NOMINAL', to: 'DEGRADED', reason: 'sensor_untrusted' });
    expect(c.cause).toEqual({ monitor: 'sens_stale', stage: 'sensing' });
    expect(c.events()).toEqual([]); // nothing new since the last read
  });

  it('runs several loops as several independent instances', () => {
    const a = freshCore();
    const b = freshCore();
    a.configure({ kp: 4 });
    expect(b.param('kp')).toBe(1);
    a.setSetpoint(10, 0);
    b.setSetpoint(0, 0);
    // The first tick is bumpless from the actuator's resting command (0); the
    // integrator of loop a then acts on its error, loop b has none.
    for (const t of [0, 10_000, 20_000]) {
      a.tick(t, { sensors: [0] });
      b.tick(t, { sensors: [0] });
    }
    expect(a.output).toBeGreaterThan(0);
    expect(b.output).toBe(0);
    expect(a.ticks).toBe(3);
    expect(b.ticks).toBe(3);
  });
});

describe('Core wrapper: tick inputs', () => {
  it('rejects inputs that would wrap on their way into the core, naming them', () => {
    const c = freshCore();
    expect(() => c.tick(0, { sensors: [1.5] })).toThrow(/sensors\[0\] must be an integer ADC count/);
    expect(() => c.tick(0, { sensors: [0, 2 ** 40] })).toThrow(/sensors\[1\]/);
    expect(() => c.tick(0.5, { sensors: [0] })).toThrow(/time must be an integer number of microseconds/);
    expect(() => c.tick(0, { sensors: [0], feedback: 1e6 })).toThrow(/feedback/);
    expect(c.ticks).toBe(0); // nothing reached the core
  });
});
