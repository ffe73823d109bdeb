// The scenario file: what to simulate, validated before anything runs. An
// invalid file gets an error that names the field, says what was expected
// and what was received. `npx edgeloop sim --schema` prints the JSON Schema.

import { z } from 'zod';
import { DEFAULT_MCU } from '../mcu.js';
import { SchemaError, schemaIssues, type SchemaIssue } from '../../host/schema-issues.js';
import { FAULT_KINDS, PLANT_NAMES } from '../types.js';

const finite = (what: string) => z.number({ error: `expected ${what}` }).finite();

export const FaultSchema = z.strictObject({
  kind: z.enum(FAULT_KINDS, { error: `expected one of ${FAULT_KINDS.join(', ')}` }),
  onsetS: finite('the onset in seconds, a number >= 0').min(0, { error: 'expected the onset in seconds, >= 0' }),
  durationS: finite('the duration in seconds (> 0) or null for a permanent fault')
    .positive({ error: 'expected a duration > 0 seconds, or null for a permanent fault' }).nullable().default(null),
  magnitude: finite("the fault's magnitude, a number (its unit depends on the kind)"),
  scope: z.enum(['single', 'common'], { error: "expected 'single' or 'common'" }).optional(),
}).refine((f) => f.scope === undefined || f.kind.startsWith('sensor.'), {
  message: 'scope applies to sensor faults only', path: ['scope'],
});

/** At most this many setpoint steps, and this many load steps, in one scenario. */
export const SCHEDULE_STEPS_MAX = 1000;

const rampS = finite('a ramp time in seconds >= 0 (0 or absent: a step)')
  .min(0, { error: 'expected a ramp time in seconds >= 0 (0 or absent: a step)' }).optional();

/** From atS the host's setpoint goes to `value`, linearly over rampS seconds from the setpoint it had then (a step without rampS). */
export const SetpointStepSchema = z.strictObject({
  atS: finite('a time in seconds >= 0').min(0, { error: 'expected a time in seconds >= 0' }),
  value: finite('a setpoint in the measurement units'),
  rampS,
});

/**
 * From atS the plant's load disturbance d (in the actuator's units: the d
 * every plant's step() takes) goes to `magnitude`, linearly over rampS
 * seconds from the level it had then (a step without rampS). Levels are
 * absolute, not increments; before the first entry d is 0.
 */
export const LoadStepSchema = z.strictObject({
  atS: finite('a time in seconds >= 0').min(0, { error: 'expected a time in seconds >= 0' }),
  magnitude: finite("the load level, a number in the actuator's units (the plant's d)"),
  rampS,
});

/** The longest tick the MCU model may cost, microseconds: a run of the shortest duration still ticks a few times. */
export const MCU_TICK_COST_MAX_US = 1_000_000;

// Bounded to what a microcontroller or a gateway can be: an absurd value
// (a 1e-9 MHz clock, a budget of years) would run one tick and pass.
export const McuOverridesSchema = z.strictObject({
  cpuMhz: finite('a clock in MHz, 1 .. 5000').min(1).max(5000).optional(),
  cyclesPerTick: finite('cycles per tick, 1 .. 10^9').min(1).max(1e9).optional(),
  budgetUs: finite('a budget in microseconds, 1 .. 10^7').min(1).max(1e7).optional(),
  jitterUs: finite('a jitter in microseconds, 0 .. 10^6').min(0).max(1e6).optional(),
  watchdogTicks: z.number().int({ error: 'expected an integer number of ticks, 1 .. 10^6' }).min(1).max(1e6).optional(),
  memoryLimitBytes: z.number().int({ error: 'expected an integer number of bytes, 1024 .. 2^32' }).min(1024).max(2 ** 32).optional(),
}).refine((m) => (m.cyclesPerTick ?? DEFAULT_MCU.cyclesPerTick) / (m.cpuMhz ?? DEFAULT_MCU.cpuMhz) <= MCU_TICK_COST_MAX_US, {
  error: `expected cyclesPerTick / cpuMhz (the tick's cost in microseconds) at most ${MCU_TICK_COST_MAX_US}`, path: ['cyclesPerTick'],
});

export const ScenarioSchema = z.strictObject({
  name: z.string({ error: 'expected a name (string)' }).min(1).max(200).optional(),
  plant: z.enum(PLANT_NAMES, { error: `expected one of ${PLANT_NAMES.join(', ')}` }),
  seed: z.number().int({ error: 'expected an integer seed' }).min(0).max(2 ** 32 - 1).default(1),
  durationS: finite('a duration in seconds, 1 .. 86400').min(1).max(86_400),
  guarded: z.boolean({ error: 'expected true (monitors and fallback) or false (primary controller only)' }).default(true),
  actionToSensing: z.boolean({ error: 'expected true or false' }).default(true),
  cold: z.boolean({ error: 'expected true (start at rest) or false (start at the operating point)' }).default(false),
  setpoints: z.array(SetpointStepSchema, { error: 'expected an array of setpoint steps { atS, value, rampS? }' })
    .max(SCHEDULE_STEPS_MAX, { error: `expected at most ${SCHEDULE_STEPS_MAX} setpoint steps` }).optional(),
  loads: z.array(LoadStepSchema, { error: 'expected an array of load steps { atS, magnitude, rampS? }' })
    .max(SCHEDULE_STEPS_MAX, { error: `expected at most ${SCHEDULE_STEPS_MAX} load steps` }).optional(),
  faults: z.array(FaultSchema).max(16).default([]),
  mcu: McuOverridesSchema.optional(),
  core: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])).optional(),
});

export type Scenario = z.output<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;

/** A scenario that failed validation: every issue, each naming its field. */
export class ScenarioError extends SchemaError {
  constructor(source: string, issues: readonly SchemaIssue[]) {
    super(source, 'scenario', issues);
    this.name = 'ScenarioError';
  }
}

/** The largest scenario file read, bytes (a scenario of every schedule at its maximum is well under it). */
export const SCENARIO_BYTES_MAX = 4 * 1024 * 1024;
/** The most core parameters a scenario may set (the core has fewer than 200). */
export const SCENARIO_CORE_KEYS_MAX = 512;

/** Validate parsed JSON as a scenario. Throws ScenarioError naming every bad field. */
export function parseScenario(value: unknown, source = 'scenario'): Scenario {
  // Counted before the schema walks them: millions of keys would take minutes to refuse one by one.
  const core = (value as { core?: unknown } | null)?.core;
  if (core !== null && typeof core === 'object') {
    let n = 0;
    for (const _ in core) if (++n > SCENARIO_CORE_KEYS_MAX) {
      throw new ScenarioError(source, [{ path: 'core', message: `expected at most ${SCENARIO_CORE_KEYS_MAX} core parameters` }]);
    }
  }
  const r = ScenarioSchema.safeParse(value);
  if (r.success) return r.data;
  throw new ScenarioError(source, schemaIssues(r.error, value));
}

export function scenarioJsonSchema(): unknown {
  return z.toJSONSchema(ScenarioSchema, { io: 'input' });
}
