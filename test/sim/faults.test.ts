// Fault injection: every kind is the identity outside its window, does what
// firmware-sim/faults/README.md says inside it (exactly where deterministic,
// within statistical bounds on a seeded stream where random), is
// reproducible from its seed, and rejects an invalid spec naming the field.
import { describe, expect, it } from 'vitest';
import { compileFaults, FaultSpecError, NO_FAULTS, type FaultContext } from '../../firmware-sim/faults/index.js';
import { SPIKE_RATE } from '../../firmware-sim/faults/sensor.js';
import { Rng } from '../../firmware-sim/rng.js';
import { FAULT_KINDS, type FaultHooks, type FaultKind, type FaultSpec } from '../../firmware-sim/types.js';

const PERIOD_US = 10_000;
const CTX: FaultContext = {
  sensorCount: 3,
  adcMaxCode: 4095,
  actuatorMin: 10,
  actuatorMax: 110,
  periodUs: PERIOD_US,
  memoryRegions: [
    { start: 64, end: 128, name: 'configuration' },
    { start: 256, end: 260, name: 'static' },
  ],
};

const compile = (specs: FaultSpec[], seed = 1, ctx: FaultContext = CTX): FaultHooks => compileFaults(specs, new Rng(seed), ctx);
const one = (kind: FaultKind, magnitude: number, extra: Partial<FaultSpec> = {}): FaultSpec =>
  ({ kind, onsetS: 1, durationS: 1, magnitude, ...extra });
/** Tick times as the runner makes them: integer microseconds / 1e6. */
const tickS = (k: number): number => (k * PERIOD_US) / 1e6;

const MAGNITUDE: Record<FaultKind, number> = {
  'sensor.stuck': 1, 'sensor.bias': 2, 'sensor.drift': 0.5, 'sensor.noise_burst': 0.3, 'sensor.spikes': 5,
  'sensor.dropout': 0, 'sensor.delay': 0.2,
  'actuator.stuck': 1, 'actuator.effectiveness': 0.5, 'actuator.saturation': 0.3, 'actuator.reversed': 1,
  'timing.overrun': 800, 'timing.missed': 0.5, 'timing.clock_drift': 0.05,
  'memory.bitflip': 3,
  'comm.setpoint_stale': 1, 'comm.setpoint_lost': 0.5,
  'trip.fail': 1,
};

/** Every hook at tick k, with inputs that change from tick to tick. */
function probe(h: FaultHooks, k: number, memory: Uint8Array) {
  const tS = tickS(k);
  const tUs = k * PERIOD_US;
  return {
    physical: [0, 1, 2].map((i) => h.sensorPhysical(i, 20 + i + k * 0.01, tS)),
    code: [0, 1, 2].map((i) => h.sensorCode(i, 1000 + 10 * i + k, tS)),
    actuator: h.actuator(20 + (k % 50), tS),
    cost: h.extraCostUs(tS),
    skip: h.skipTick(tS),
    clock: h.clockUs(tUs),
    setpoint: h.setpointArrives(tS),
    corrupt: h.corrupt(memory, tS),
    tripFails: h.tripFails(tS),
  };
}
const identity = (k: number) => probe(NO_FAULTS, k, new Uint8Array(512));

describe('fault windows', () => {
  it('NO_FAULTS and an empty list are the identity', () => {
    const h = compile([]);
    for (let k = 0; k < 50; k++) {
      expect(probe(h, k, new Uint8Array(512))).toEqual(identity(k));
    }
    expect(identity(7)).toMatchObject({ physical: [20.07, 21.07, 22.07], code: [1007, 1017, 1027], actuator: 27, cost: 0, skip: false, clock: 70_000, setpoint: true, corrupt: [] });
  });

  // onset 1 s, duration 1 s: ticks 0..99 are before, 100..199 inside, 200.. after.
  for (const kind of FAULT_KINDS) {
    it(`${kind}: identity before onset and after the end, an effect inside`, () => {
      const scope = kind.startsWith('sensor.') ? { scope: 'common' as const } : {};
      const h = compile([one(kind, MAGNITUDE[kind], scope)], 7);
      const memory = new Uint8Array(512);
      let effect = false;
      for (let k = 0; k < 300; k++) {
        const got = probe(h, k, memory);
        const want = identity(k);
        const inside = k >= 100 && k < 200;
        if (!inside && kind === 'timing.clock_drift' && k >= 200) {
          // The one exception: the clock keeps the offset it accumulated (0.05 * 1 s).
          expect(got).toEqual({ ...want, clock: k * PERIOD_US + 50_000 });
        } else if (!inside) {
          expect(got).toEqual(want);
        } else if (JSON.stringify(got) !== JSON.stringify(want)) {
          effect = true;
        }
      }
      expect(effect).toBe(true);
    });
  }
});

describe('sensor faults', () => {
  it('stuck: each sensor in scope freezes at its code at onset (common), only sensor 0 (single)', () => {
    const common = compile([one('sensor.stuck', 1, { scope: 'common' })]);
    const single = compile([one('sensor.stuck', 1)]);
    for (let k = 90; k < 210; k++) {
      const inside = k >= 100 && k < 200;
      for (let i = 0; i < 3; i++) {
        const code = 1000 + 10 * i + k;
        expect(common.sensorCode(i, code, tickS(k))).toBe(inside ? 1100 + 10 * i : code);
        expect(single.sensorCode(i, code, tickS(k))).toBe(inside && i === 0 ? 1100 : code);
      }
    }
  });

  it('stuck latches on the first sample inside the window, not on one an earlier fault dropped', () => {
    // dropout over ticks 100 and 101, then stuck from tick 100: it freezes at tick 102's code.
    const h = compile([one('sensor.dropout', 0, { durationS: 0.015 }), one('sensor.stuck', 1)]);
    expect([100, 101, 102, 103, 150].map((k) => h.sensorCode(0, 1000 + k, tickS(k)))).toEqual([null, null, 1102, 1102, 1102]);
  });

  it('bias adds magnitude units; drift adds magnitude units/s since onset', () => {
    const bias = compile([one('sensor.bias', -1.5, { durationS: null })]);
    const drift = compile([one('sensor.drift', 0.5, { durationS: null, scope: 'common' })]);
    for (let k = 100; k < 400; k += 7) {
      expect(bias.sensorPhysical(0, 30, tickS(k))).toBe(28.5);
      expect(bias.sensorPhysical(1, 30, tickS(k))).toBe(30);
      for (let i = 0; i < 3; i++) expect(drift.sensorPhysical(i, 30, tickS(k))).toBeCloseTo(30 + 0.5 * (tickS(k) - 1), 12);
    }
    expect(drift.sensorPhysical(0, 30, 1)).toBe(30); // continuous at onset
  });

  it('noise_burst: rms within 5 % of magnitude, zero mean; common = the same noise on every sensor', () => {
    const N = 20_000;
    const h = compile([{ kind: 'sensor.noise_burst', onsetS: 0, durationS: null, magnitude: 0.4, scope: 'common' }], 11);
    let sum = 0;
    let sumSq = 0;
    for (let k = 0; k < N; k++) {
      const e = [0, 1, 2].map((i) => h.sensorPhysical(i, 50, tickS(k)) - 50);
      expect(e[1]).toBe(e[0]);
      expect(e[2]).toBe(e[0]);
      sum += e[0];
      sumSq += e[0] * e[0];
    }
    expect(Math.abs(Math.sqrt(sumSq / N) / 0.4 - 1)).toBeLessThan(0.05);
    expect(Math.abs(sum / N)).toBeLessThan(0.02);
    const single = compile([{ kind: 'sensor.noise_burst', onsetS: 0, durationS: null, magnitude: 0.4 }], 11);
    for (let k = 0; k < 100; k++) {
      expect(single.sensorPhysical(1, 50, tickS(k))).toBe(50);
      expect(single.sensorPhysical(2, 50, tickS(k))).toBe(50);
    }
  });

  it('spikes: isolated samples of exactly +-magnitude at a rate of 0.2 per sample, both signs', () => {
    const N = 40_000;
    const h = compile([{ kind: 'sensor.spikes', onsetS: 0, durationS: null, magnitude: 3 }], 5);
    let spikes = 0;
    let positive = 0;
    let previous = false;
    let odd = 0;
    for (let k = 0; k < N; k++) {
      const d = h.sensorPhysical(0, 10, tickS(k)) - 10;
      const spike = d !== 0;
      if ((spike && Math.abs(d) !== 3) || (spike && previous)) odd++;
      if (spike) spikes++;
      if (d > 0) positive++;
      previous = spike;
    }
    expect(odd).toBe(0);
    expect(SPIKE_RATE).toBeCloseTo(0.2, 12);
    expect(Math.abs(spikes / N - 0.2)).toBeLessThan(0.01);
    expect(Math.abs(positive / spikes - 0.5)).toBeLessThan(0.03);
  });

  it('dropout: magnitude < 1 drops the sample, >= 1 reads an invalid code above adcMaxCode', () => {
    expect(compile([one('sensor.dropout', 0)]).sensorCode(0, 2000, 1.5)).toBe(null);
    expect(compile([one('sensor.dropout', 0.9)]).sensorCode(0, 2000, 1.5)).toBe(null);
    expect(compile([one('sensor.dropout', 1)]).sensorCode(0, 2000, 1.5)).toBe(4096);
    expect(compile([one('sensor.dropout', 7.8)]).sensorCode(0, 2000, 1.5)).toBe(4102);
    expect(compile([one('sensor.dropout', 1)]).sensorCode(1, 2000, 1.5)).toBe(2000);
    expect(compile([one('sensor.dropout', 1, { scope: 'common' })]).sensorCode(2, 2000, 1.5)).toBe(4096);
  });

  it('delay: the reading from magnitude seconds ago, already at onset, over irregular sample times', () => {
    const h = compile([one('sensor.delay', 0.25, { durationS: 2 })], 1);
    // Value = time, so the delayed reading is the latest sample time <= t - 0.25.
    const jitter = new Rng(99);
    const times: number[] = [];
    for (let tUs = 0; tUs < 4_000_000; tUs += PERIOD_US + jitter.int(-2000, 2000)) times.push(tUs);
    for (const tUs of times) {
      const tS = tUs / 1e6;
      const got = h.sensorPhysical(0, tS, tS);
      const want = tS >= 1 && tS < 3 ? Math.max(...times.filter((u) => u <= tUs - 250_000)) / 1e6 : tS;
      expect(got).toBe(want);
      expect(h.sensorPhysical(1, tS, tS)).toBe(tS);
    }
  });

  it('delay: holds the oldest sample when the history does not reach back; memory stays bounded', () => {
    const h = compile([{ kind: 'sensor.delay', onsetS: 0, durationS: null, magnitude: 0.5, scope: 'common' }]);
    expect(h.sensorPhysical(2, 7, 0)).toBe(7);
    expect(h.sensorPhysical(2, 8, 0.1)).toBe(7);
    expect(h.sensorPhysical(2, 9, 0.5)).toBe(7);
    expect(h.sensorPhysical(2, 10, 0.6)).toBe(8);
    expect(() => h.sensorPhysical(2, 0, 0.59)).toThrow(/must not decrease/);
    // 100 000 samples through a ring of 2 * 0.5 s / 10 ms + 2 = 102 (it throws when full).
    const long = compile([{ kind: 'sensor.delay', onsetS: 0, durationS: null, magnitude: 0.5 }]);
    let wrong = 0;
    for (let k = 0; k < 100_000; k++) if (long.sensorPhysical(0, k, tickS(k)) !== Math.max(0, k - 50)) wrong++;
    expect(wrong).toBe(0);
  });
});

describe('actuator faults', () => {
  // CTX: actuator range [10, 110].
  it('stuck freezes the applied value at the command at onset', () => {
    const h = compile([one('actuator.stuck', 1)]);
    expect(h.actuator(40, 0.99)).toBe(40);
    expect(h.actuator(55, 1)).toBe(55);
    expect(h.actuator(90, 1.5)).toBe(55);
    expect(h.actuator(90, 2)).toBe(90);
  });

  it('effectiveness scales the command above the minimum; saturation caps it; reversed mirrors it', () => {
    const eff = compile([one('actuator.effectiveness', 0.25)]);
    const sat = compile([one('actuator.saturation', 0.3)]);
    const rev = compile([one('actuator.reversed', 1)]);
    for (const u of [10, 30, 60, 110]) {
      expect(eff.actuator(u, 1.5)).toBe(10 + (u - 10) * 0.75);
      expect(sat.actuator(u, 1.5)).toBe(Math.min(u, 40));
      expect(rev.actuator(u, 1.5)).toBe(120 - u);
    }
    expect(compile([one('actuator.effectiveness', 1)]).actuator(80, 1.5)).toBe(10);
    expect(compile([one('actuator.saturation', 0)]).actuator(80, 1.5)).toBe(10);
  });

  it('faults chain in spec order', () => {
    const h = compile([one('actuator.reversed', 1), one('actuator.saturation', 0.5)]);
    expect(h.actuator(20, 1.5)).toBe(60); // reversed to 100, capped at 60
  });
});

describe('timing faults', () => {
  it('overrun adds magnitude microseconds per active tick, and overruns add up', () => {
    const h = compile([one('timing.overrun', 800), { ...one('timing.overrun', 150), onsetS: 1.5 }]);
    expect(h.extraCostUs(0.5)).toBe(0);
    expect(h.extraCostUs(1.2)).toBe(800);
    expect(h.extraCostUs(1.7)).toBe(950);
    expect(h.extraCostUs(2.2)).toBe(150);
    expect(h.extraCostUs(2.5)).toBe(0);
  });

  it('missed skips a fraction magnitude of ticks (Bernoulli), all of them at 1', () => {
    const N = 20_000;
    const h = compile([{ kind: 'timing.missed', onsetS: 0, durationS: null, magnitude: 0.3 }], 3);
    let skipped = 0;
    for (let k = 0; k < N; k++) if (h.skipTick(tickS(k))) skipped++;
    expect(Math.abs(skipped / N - 0.3)).toBeLessThan(0.015);
    const all = compile([one('timing.missed', 1)]);
    for (let k = 100; k < 200; k++) expect(all.skipTick(tickS(k))).toBe(true);
  });

  it('clock_drift: rate 1 + m inside the window, integer, continuous and monotonic, offset held after', () => {
    const fast = compile([one('timing.clock_drift', 0.05)]);
    expect(fast.clockUs(999_999)).toBe(999_999);
    expect(fast.clockUs(1_000_000)).toBe(1_000_000);
    expect(fast.clockUs(1_000_000 + 400_000)).toBe(1_000_000 + 420_000);
    expect(fast.clockUs(2_000_000)).toBe(2_050_000);
    expect(fast.clockUs(5_000_000)).toBe(5_050_000);
    const slow = compile([one('timing.clock_drift', -0.5)]);
    expect(slow.clockUs(1_600_000)).toBe(1_300_000);
    for (const h of [fast, slow, compile([one('timing.clock_drift', 0.3), { ...one('timing.clock_drift', -0.2), onsetS: 1.5 }])]) {
      // Every microsecond around both edges, then a coarse sweep.
      const grid = [
        ...Array.from({ length: 3000 }, (_, j) => 998_500 + j),
        ...Array.from({ length: 3000 }, (_, j) => 1_998_500 + j),
        ...Array.from({ length: 3000 }, (_, j) => 1_000 * j + 7),
      ].sort((a, b) => a - b);
      let previous = -Infinity;
      let previousT = -Infinity;
      const broken: string[] = [];
      for (const t of grid) {
        const c = h.clockUs(t);
        if (!Number.isSafeInteger(c)) broken.push(`${t}: ${c} not an integer`);
        if (c < previous) broken.push(`${t}: ${c} < ${previous}`);
        if (t === previousT + 1 && c - previous > 2) broken.push(`${t}: jump of ${c - previous}`);
        previous = c;
        previousT = t;
      }
      expect(broken).toEqual([]);
    }
    expect(() => fast.clockUs(1.5)).toThrow(/integer/);
  });
});

describe('memory faults', () => {
  const popcount = (x: number): number => {
    let n = 0;
    for (let v = x; v; v &= v - 1) n++;
    return n;
  };
  const inRegion = (byte: number): boolean => CTX.memoryRegions.some((r) => byte >= r.start && byte < r.end);

  it('bitflip flips exactly magnitude bits, all inside the regions, once, at the first call after onset', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const n = 1 + (seed % 8);
      const h = compile([one('memory.bitflip', n)], seed);
      const memory = new Uint8Array(512);
      for (let b = 0; b < memory.length; b++) memory[b] = (b * 37) & 0xff;
      const before = memory.slice();
      expect(h.corrupt(memory, 0.99)).toEqual([]);
      expect(memory).toEqual(before);
      const offsets = h.corrupt(memory, 1.01);
      expect(offsets).toHaveLength(n);
      expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
      let flipped = 0;
      for (let b = 0; b < memory.length; b++) {
        const diff = popcount(memory[b] ^ before[b]);
        flipped += diff;
        if (diff > 0) {
          expect(inRegion(b)).toBe(true);
          expect(offsets.filter((o) => o === b)).toHaveLength(diff);
        }
      }
      expect(flipped).toBe(n);
      expect(h.corrupt(memory, 1.02)).toEqual([]);
    }
  });

  it('bitflip can flip every bit of the regions; it fires even after its (ignored) duration', () => {
    const ctx = { ...CTX, memoryRegions: [{ start: 3, end: 5, name: 'a' }, { start: 9, end: 10, name: 'b' }] };
    const h = compileFaults([one('memory.bitflip', 24)], new Rng(1), ctx);
    const memory = new Uint8Array(16);
    expect(h.corrupt(memory, 5)).toHaveLength(24);
    expect([...memory]).toEqual([0, 0, 0, 255, 255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0]);
  });

  it('bitflip refuses regions past the end of the memory', () => {
    const h = compile([one('memory.bitflip', 1)]);
    expect(() => h.corrupt(new Uint8Array(200), 1)).toThrow(/static.*past the memory/);
  });
});

describe('comm faults', () => {
  it('setpoint_stale: no refresh arrives while active', () => {
    const h = compile([one('comm.setpoint_stale', 1)]);
    expect([0.5, 1, 1.5, 1.99, 2, 3].map((t) => h.setpointArrives(t))).toEqual([true, false, false, false, true, true]);
  });

  it('setpoint_lost: each refresh is lost with probability magnitude', () => {
    const N = 20_000;
    const h = compile([{ kind: 'comm.setpoint_lost', onsetS: 0, durationS: null, magnitude: 0.2 }], 8);
    let lost = 0;
    for (let k = 0; k < N; k++) if (!h.setpointArrives(tickS(k))) lost++;
    expect(Math.abs(lost / N - 0.2)).toBeLessThan(0.012);
  });
});

describe('determinism', () => {
  const RANDOM: FaultSpec[] = [
    { kind: 'sensor.noise_burst', onsetS: 0.5, durationS: 3, magnitude: 1, scope: 'common' },
    { kind: 'sensor.spikes', onsetS: 1, durationS: null, magnitude: 2 },
    { kind: 'timing.missed', onsetS: 0.2, durationS: 2, magnitude: 0.4 },
    { kind: 'comm.setpoint_lost', onsetS: 0, durationS: null, magnitude: 0.5 },
    { kind: 'memory.bitflip', onsetS: 1.5, durationS: null, magnitude: 5 },
  ];
  const trace = (h: FaultHooks) => Array.from({ length: 500 }, (_, k) => probe(h, k, new Uint8Array(512)));

  it('the same seed gives the same hook outputs; another seed does not', () => {
    expect(trace(compile(RANDOM, 42))).toEqual(trace(compile(RANDOM, 42)));
    expect(trace(compile(RANDOM, 43))).not.toEqual(trace(compile(RANDOM, 42)));
  });

  it('compilation draws exactly one u32 per spec from the parent', () => {
    const parent = new Rng(42);
    compileFaults(RANDOM, parent, CTX);
    const reference = new Rng(42);
    for (let j = 0; j < RANDOM.length; j++) reference.u32();
    expect(parent.u32()).toBe(reference.u32());
  });

  it("a fault's draws do not depend on the other faults' windows or on how often they are asked", () => {
    const noiseOf = (specs: FaultSpec[], askSkip: boolean) => {
      const h = compile(specs, 9);
      return Array.from({ length: 400 }, (_, k) => {
        if (askSkip) h.skipTick(tickS(k));
        return h.sensorPhysical(0, 0, tickS(k));
      });
    };
    const a = noiseOf([RANDOM[0], RANDOM[2]], true);
    const b = noiseOf([RANDOM[0], { ...RANDOM[2], onsetS: 3.9, magnitude: 0.9 }], false);
    expect(b).toEqual(a);
  });

  it('repeated calls at the same tS agree (one draw per sample time)', () => {
    const h = compile([RANDOM[0]], 4);
    const first = h.sensorPhysical(0, 0, 1);
    expect(h.sensorPhysical(0, 0, 1)).toBe(first);
    expect(h.sensorPhysical(2, 0, 1)).toBe(first);
    expect(h.sensorPhysical(0, 0, 1.01)).not.toBe(first);
  });
});

describe('validation', () => {
  const rejects = (specs: unknown[], pattern: RegExp, ctx: FaultContext = CTX): FaultSpecError => {
    let err: unknown;
    try {
      compileFaults(specs as FaultSpec[], new Rng(1), ctx);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toBeInstanceOf(FaultSpecError);
    expect((err as Error).message).toMatch(pattern);
    return err as FaultSpecError;
  };

  it('names the fault index, the field and the expected range', () => {
    const ok = one('sensor.bias', 1);
    const e = rejects([ok, one('actuator.effectiveness', 1.5)], /^fault\[1\]\.magnitude: expected .*\(0, 1\].*actuator\.effectiveness, received 1\.5$/);
    expect(e.index).toBe(1);
    expect(e.field).toBe('magnitude');
    rejects([{ ...ok, kind: 'sensor.melted' }], /fault\[0\]\.kind: expected one of sensor\.stuck, .*received 'sensor\.melted'/);
    rejects([ok, ok, { ...ok, onsetS: -1 }], /fault\[2\]\.onsetS: expected a number of seconds >= 0, received -1/);
    rejects([{ ...ok, durationS: 0 }], /fault\[0\]\.durationS: expected null \(permanent\) or a number of seconds > 0, received 0/);
    rejects([{ ...ok, durationS: undefined }], /fault\[0\]\.durationS: .*received undefined/);
    rejects([{ ...ok, magnitude: Number.NaN }], /fault\[0\]\.magnitude: .*received NaN/);
    rejects([{ ...ok, magnitude: 0 }], /fault\[0\]\.magnitude: expected a finite number other than 0 for sensor\.bias/);
    rejects([{ ...one('timing.overrun', 100), scope: 'single' }], /fault\[0\]\.scope: expected absent .*timing\.overrun.*received 'single'/);
    rejects([{ ...ok, scope: 'both' }], /fault\[0\]\.scope: expected 'single', 'common' or absent/);
    rejects([one('timing.missed', 1.2)], /fault\[0\]\.magnitude: expected a fraction of ticks in \(0, 1\]/);
    rejects([one('timing.clock_drift', 0.6)], /fault\[0\]\.magnitude: expected a rate error in \[-0\.5, 0\.5\]/);
    rejects([one('comm.setpoint_lost', 0)], /fault\[0\]\.magnitude: expected a loss probability in \(0, 1\]/);
    rejects([one('sensor.dropout', -1)], /fault\[0\]\.magnitude: expected a number in \[0, 65535\]/);
    rejects([one('sensor.delay', 11)], /fault\[0\]\.magnitude: expected a number of seconds in \(0, 10\]/);
    rejects([one('memory.bitflip', 2.5)], /fault\[0\]\.magnitude: expected an integer count of bits in \[1, 256\]/);
    rejects([one('memory.bitflip', 1)], /fault\[0\]\.magnitude: .*\[1, 0\] \(bits in ctx\.memoryRegions: 0\)/, { ...CTX, memoryRegions: [] });
    rejects([one('timing.clock_drift', -0.5), one('timing.clock_drift', -0.5)], /fault\[1\]\.magnitude: expected clock drifts/);
    rejects([null], /fault\[0\]\.: expected a fault spec object/);
  });

  it('checks the context and the sensor index', () => {
    rejects([], /ctx\.actuatorMax: expected a finite number > actuatorMin \(10\), received 5/, { ...CTX, actuatorMax: 5 });
    rejects([], /ctx\.sensorCount: expected an integer in \[1, 3\], received 4/, { ...CTX, sensorCount: 4 });
    rejects([], /ctx\.memoryRegions: expected non-overlapping regions/, {
      ...CTX, memoryRegions: [{ start: 0, end: 8, name: 'a' }, { start: 4, end: 12, name: 'b' }],
    });
    expect(() => compile([one('sensor.bias', 1)]).sensorPhysical(3, 0, 0)).toThrow(/sensor index .*\[0, 2\], received 3/);
  });
});
