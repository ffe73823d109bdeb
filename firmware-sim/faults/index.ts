// Fault injection for firmware-sim: a list of FaultSpecs compiles into one
// FaultHooks object that the runner consults at each point of a tick. Every
// spec is validated here (the library does not trust its input), gets its own
// Rng derived from the parent at compile time, and becomes one injector of
// its family (sensor.ts, actuator.ts, timing.ts, memory.ts, comm.ts,
// trip.ts). The
// semantics of every kind are in README.md next to this file.

import { Rng } from '../rng.js';
import { FAULT_KINDS, type FaultHooks, type FaultKind, type FaultSpec } from '../types.js';
import { ACTUATOR_RULES, compileActuatorFault, type ActuatorKind } from './actuator.js';
import { COMM_RULES, compileCommFault, type CommKind } from './comm.js';
import { MEMORY_RULES, compileMemoryFault, type MemoryKind } from './memory.js';
import { SENSOR_RULES, compileSensorFault, type SensorKind } from './sensor.js';
import { TIMING_RULES, compileTimingFault, type TimingKind } from './timing.js';
import { TRIP_RULES, compileTripFault, type TripKind } from './trip.js';

/** A span [start, end) of bytes of the core's linear memory where state lives. */
export interface MemoryRegion {
  readonly start: number;
  readonly end: number;
  readonly name: string;
}

/** What an injector needs to know about the loop it corrupts. */
export interface FaultContext {
  /** Redundant sensors of the loop (sensor hooks are called with i in [0, sensorCount)). */
  readonly sensorCount: number;
  /** Highest valid ADC code; dropout with magnitude >= 1 reads above it. */
  readonly adcMaxCode: number;
  /** Actuator range, engineering units (the core's out_min..out_max). */
  readonly actuatorMin: number;
  readonly actuatorMax: number;
  /** Nominal tick period, microseconds (bounds the sensor.delay history). */
  readonly periodUs: number;
  /** Where memory.bitflip may flip bits; non-overlapping. */
  readonly memoryRegions: readonly MemoryRegion[];
}

/** The active window [onset, onset + duration) of one fault, compared at microsecond resolution. */
export interface FaultWindow {
  readonly onsetS: number;
  readonly onsetUs: number;
  /** First microsecond after the window; Infinity for a permanent fault. */
  readonly endUs: number;
  /** onset <= tS < end. */
  contains(tS: number): boolean;
  /** onset <= tS (the window has opened, whether or not it has closed since). */
  reached(tS: number): boolean;
}

/** The valid magnitudes of one kind; `expected` is quoted in the error message. */
export interface MagnitudeRule {
  expected(ctx: FaultContext): string;
  ok(magnitude: number, ctx: FaultContext): boolean;
}

/**
 * One compiled fault: the hooks it takes part in. Sensor and actuator hooks
 * are chained in spec order; the others are combined (sum, or, sum of
 * offsets). An injector returns its input unchanged when it does not apply.
 */
export interface Injector {
  sensorPhysical?(i: number, value: number, tS: number): number;
  sensorCode?(i: number, code: number | null, tS: number): number | null;
  actuator?(command: number, tS: number): number;
  extraCostUs?(tS: number): number;
  skipTick?(tS: number): boolean;
  /** Clock offset in microseconds (real-valued) accrued by trueUs; 0 before onset. */
  clockOffsetUs?(trueUs: number): number;
  setpointLost?(tS: number): boolean;
  corrupt?(memory: Uint8Array, tS: number): number[];
  tripFails?(tS: number): boolean;
}

/** An invalid fault spec or context: names the fault index (null for the context) and the field. */
export class FaultSpecError extends RangeError {
  constructor(
    readonly index: number | null,
    readonly field: string,
    expected: string,
    received: unknown,
  ) {
    const where = index === null ? `ctx.${field}` : `fault[${index}].${field}`;
    super(`${where}: expected ${expected}, received ${show(received)}`);
    this.name = 'FaultSpecError';
  }
}

type Family<K extends FaultKind> = {
  readonly rules: Readonly<Record<K, MagnitudeRule>>;
  compile(spec: FaultSpec & { kind: K }, win: FaultWindow, rng: Rng, ctx: FaultContext): Injector;
};

const FAMILIES: {
  readonly sensor: Family<SensorKind>;
  readonly actuator: Family<ActuatorKind>;
  readonly timing: Family<TimingKind>;
  readonly memory: Family<MemoryKind>;
  readonly comm: Family<CommKind>;
  readonly trip: Family<TripKind>;
} = {
  sensor: { rules: SENSOR_RULES, compile: compileSensorFault },
  actuator: { rules: ACTUATOR_RULES, compile: compileActuatorFault },
  timing: { rules: TIMING_RULES, compile: compileTimingFault },
  memory: { rules: MEMORY_RULES, compile: compileMemoryFault },
  comm: { rules: COMM_RULES, compile: compileCommFault },
  trip: { rules: TRIP_RULES, compile: compileTripFault },
};

type FamilyName = keyof typeof FAMILIES;

function familyOf(kind: FaultKind): FamilyName {
  return kind.slice(0, kind.indexOf('.')) as FamilyName;
}

function ruleOf(kind: FaultKind): MagnitudeRule {
  const rules = FAMILIES[familyOf(kind)].rules as Readonly<Record<FaultKind, MagnitudeRule>>;
  return rules[kind];
}

/** Largest |ADC code| we hand out: dropout codes must stay inside i32. */
const ADC_MAX_CODE_LIMIT = 0x7fff_0000;
/** Physical bounds on the clock-drift sum: the clock must keep running forward. */
const CLOCK_RATE_MIN = 0.05;

/** Faults that do nothing: every hook is the identity. */
export const NO_FAULTS: FaultHooks = Object.freeze({
  sensorPhysical: (_i: number, value: number) => value,
  sensorCode: (_i: number, code: number) => code,
  actuator: (command: number) => command,
  extraCostUs: () => 0,
  skipTick: () => false,
  clockUs: (trueUs: number) => trueUs,
  setpointArrives: () => true,
  corrupt: () => [],
  tripFails: () => false,
});

/**
 * Compile fault specs into hooks. Validates the context and every spec
 * first (FaultSpecError, a RangeError, naming the fault index and field),
 * then draws exactly one u32 per spec from `rng`, in spec order, to seed
 * that fault's own Rng. Nothing else is drawn from `rng`, then or later.
 */
export function compileFaults(specs: readonly FaultSpec[], rng: Rng, ctx: FaultContext): FaultHooks {
  checkContext(ctx);
  if (!Array.isArray(specs)) throw new FaultSpecError(null, 'specs', 'an array of fault specs', specs);
  specs.forEach((spec, index) => checkSpec(spec, index, ctx));
  checkClockRate(specs);
  if (specs.length === 0) return NO_FAULTS;
  const seeds = specs.map(() => rng.u32());
  const injectors = specs.map((spec, index) => {
    const family = FAMILIES[familyOf(spec.kind)] as Family<FaultKind>;
    return family.compile(spec, makeWindow(spec), new Rng(seeds[index]), ctx);
  });
  return compose(injectors, ctx);
}

function makeWindow(spec: FaultSpec): FaultWindow {
  const onsetUs = toUs(spec.onsetS);
  const endUs = spec.durationS === null ? Infinity : toUs(spec.onsetS + spec.durationS);
  return {
    onsetS: spec.onsetS,
    onsetUs,
    endUs,
    contains: (tS: number) => {
      const tUs = toUs(tS);
      return tUs >= onsetUs && tUs < endUs;
    },
    reached: (tS: number) => toUs(tS) >= onsetUs,
  };
}

/** Seconds -> whole microseconds (window edges are compared at this resolution). */
function toUs(tS: number): number {
  return Math.round(tS * 1e6);
}

function compose(injectors: readonly Injector[], ctx: FaultContext): FaultHooks {
  // Injectors are plain objects of closures (no `this`), so their methods can be taken out.
  const pick = <K extends keyof Injector>(k: K): Required<Injector>[K][] =>
    injectors.filter((inj) => inj[k] !== undefined).map((inj) => inj[k] as Required<Injector>[K]);
  const physical = pick('sensorPhysical');
  const code = pick('sensorCode');
  const actuator = pick('actuator');
  const cost = pick('extraCostUs');
  const skip = pick('skipTick');
  const clock = pick('clockOffsetUs');
  const lost = pick('setpointLost');
  const corrupt = pick('corrupt');
  const tripFails = pick('tripFails');
  const checkSensor = (i: number): void => {
    if (!Number.isInteger(i) || i < 0 || i >= ctx.sensorCount) {
      throw new RangeError(`fault hooks: sensor index must be an integer in [0, ${ctx.sensorCount - 1}], received ${i}`);
    }
  };
  return {
    sensorPhysical(i, value, tS) {
      checkSensor(i);
      let v = value;
      for (const f of physical) v = f(i, v, tS);
      return v;
    },
    sensorCode(i, value, tS) {
      checkSensor(i);
      let c: number | null = value;
      for (const f of code) c = f(i, c, tS);
      return c;
    },
    actuator(command, tS) {
      let u = command;
      for (const f of actuator) u = f(u, tS);
      return u;
    },
    extraCostUs(tS) {
      let us = 0;
      for (const f of cost) us += f(tS);
      return us;
    },
    // Every injector is asked (no short-circuit), so each random stream
    // advances the same way whatever the others decide.
    skipTick(tS) {
      let skipped = false;
      for (const f of skip) skipped = f(tS) || skipped;
      return skipped;
    },
    clockUs(trueUs) {
      if (!Number.isSafeInteger(trueUs)) {
        throw new RangeError(`fault hooks: clockUs takes an integer number of microseconds, received ${trueUs}`);
      }
      let offset = 0;
      for (const f of clock) offset += f(trueUs);
      return offset === 0 ? trueUs : Math.floor(trueUs + offset);
    },
    setpointArrives(tS) {
      let isLost = false;
      for (const f of lost) isLost = f(tS) || isLost;
      return !isLost;
    },
    corrupt(memory, tS) {
      const offsets: number[] = [];
      for (const f of corrupt) offsets.push(...f(memory, tS));
      return offsets;
    },
    tripFails(tS) {
      let fails = false;
      for (const f of tripFails) fails = f(tS) || fails;
      return fails;
    },
  };
}

// ---- validation ----------------------------------------------------------------

function checkContext(ctx: FaultContext): void {
  if (typeof ctx !== 'object' || ctx === null) throw new FaultSpecError(null, '', 'a FaultContext object', ctx);
  const int = (field: keyof FaultContext, lo: number, hi: number): void => {
    const v = ctx[field];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new FaultSpecError(null, field, `an integer in [${lo}, ${hi}]`, v);
    }
  };
  int('sensorCount', 1, 3);
  int('adcMaxCode', 1, ADC_MAX_CODE_LIMIT);
  if (!isFiniteNumber(ctx.actuatorMin)) throw new FaultSpecError(null, 'actuatorMin', 'a finite number', ctx.actuatorMin);
  if (!isFiniteNumber(ctx.actuatorMax) || ctx.actuatorMax <= ctx.actuatorMin) {
    throw new FaultSpecError(null, 'actuatorMax', `a finite number > actuatorMin (${ctx.actuatorMin})`, ctx.actuatorMax);
  }
  if (!isFiniteNumber(ctx.periodUs) || ctx.periodUs <= 0) {
    throw new FaultSpecError(null, 'periodUs', 'a number of microseconds > 0', ctx.periodUs);
  }
  checkRegions(ctx.memoryRegions);
}

function checkRegions(regions: readonly MemoryRegion[]): void {
  if (!Array.isArray(regions)) throw new FaultSpecError(null, 'memoryRegions', 'an array of { start, end, name }', regions);
  const sorted = [...regions].sort((a, b) => a.start - b.start);
  regions.forEach((r, k) => {
    const ok = typeof r === 'object' && r !== null && Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) &&
      r.start >= 0 && r.end > r.start && typeof r.name === 'string';
    if (!ok) throw new FaultSpecError(null, `memoryRegions[${k}]`, '{ start, end, name } with integers 0 <= start < end', r);
  });
  for (let k = 1; k < sorted.length; k++) {
    if (sorted[k].start < sorted[k - 1].end) {
      throw new FaultSpecError(null, 'memoryRegions', `non-overlapping regions ('${sorted[k - 1].name}' overlaps '${sorted[k].name}')`, regions);
    }
  }
}

function checkSpec(spec: FaultSpec, index: number, ctx: FaultContext): void {
  if (typeof spec !== 'object' || spec === null) throw new FaultSpecError(index, '', 'a fault spec object', spec);
  if (!(FAULT_KINDS as readonly unknown[]).includes(spec.kind)) {
    throw new FaultSpecError(index, 'kind', `one of ${FAULT_KINDS.join(', ')}`, spec.kind);
  }
  if (!isFiniteNumber(spec.onsetS) || spec.onsetS < 0) {
    throw new FaultSpecError(index, 'onsetS', 'a number of seconds >= 0', spec.onsetS);
  }
  if (spec.durationS !== null && (!isFiniteNumber(spec.durationS) || spec.durationS <= 0)) {
    throw new FaultSpecError(index, 'durationS', 'null (permanent) or a number of seconds > 0', spec.durationS);
  }
  const rule = ruleOf(spec.kind);
  if (!isFiniteNumber(spec.magnitude) || !rule.ok(spec.magnitude, ctx)) {
    throw new FaultSpecError(index, 'magnitude', `${rule.expected(ctx)} for ${spec.kind}`, spec.magnitude);
  }
  if (familyOf(spec.kind) === 'sensor') {
    if (spec.scope !== undefined && spec.scope !== 'single' && spec.scope !== 'common') {
      throw new FaultSpecError(index, 'scope', "'single', 'common' or absent (= 'single')", spec.scope);
    }
  } else if (spec.scope !== undefined) {
    throw new FaultSpecError(index, 'scope', `absent (scope applies to sensor faults only, not ${spec.kind})`, spec.scope);
  }
}

/** Drifting clocks add their rates; the slowest combination must still run forward. */
function checkClockRate(specs: readonly FaultSpec[]): void {
  let slowest = 1;
  specs.forEach((spec, index) => {
    if (spec.kind !== 'timing.clock_drift' || spec.magnitude >= 0) return;
    slowest += spec.magnitude;
    if (slowest < CLOCK_RATE_MIN) {
      throw new FaultSpecError(index, 'magnitude',
        `clock drifts whose negative magnitudes sum to >= ${CLOCK_RATE_MIN - 1} (the clock must keep running)`, spec.magnitude);
    }
  });
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
