// What the agent reports: its DBIRTH (every metric the device will ever
// publish, each with its datatype, a description, its engineering unit where
// it has one, and `readOnly` false on those a host may write) and each
// sample's DDATA, every metric with its own timestamp. Two ways to send
// samples: fixed-rate (every metric every tick, the default) or report by
// exception (a metric goes when it moved past its deadband since it was last
// reported, and everything goes at least every maxIntervalMs). The core's
// parameters are declared in DBIRTH as `param/<name>` and go in DDATA only
// when they change, in either way.

import type { Metric, MetricProperty } from '../mqtt/codec.js';
import { isWritable, PARAM_PREFIX } from '../mqtt/commands.js';
import { ACTIONS, DIRECTIONS, GUARD_STATUS, LEVELS, PARAM_IDS, type ParamName } from '../runtime/abi.js';
import type { Core } from '../runtime/core.js';

/** What each metric of the device means (its `description` property in DBIRTH). */
export const METRIC_DESCRIPTIONS: Readonly<Record<string, string>> = {
  setpoint: 'the loop\'s setpoint (writable)',
  measurement: 'the conditioned measurement of the controlled variable',
  output: 'the command written to the actuator',
  mode: 'the loop\'s mode: NOMINAL, DEGRADED, FALLBACK or SAFE_STOP (writable: fallback, trip, release)',
  cause: 'the root cause the cascade monitors name, <monitor>/<stage>; empty when none',
  tick_us: 'the agent\'s clock at this sample, microseconds',
  sample: 'the running sample number (at a fixed rate a gap means samples were lost; by exception, unchanged samples are not sent)',
  held: 'the loop holds its setpoint instead of following its reference (writable: true holds, false releases)',
  core_version: 'the running core\'s version (its module\'s sha256 prefix, or builtin)',
  trip: 'the trip output is de-energized',
  'trip/cause': 'why the trip output is de-energized, <cause>/<stage>',
  'guard/status': 'the guard\'s status bits (names in the bits property)',
  'guard/causes': 'the causes the guard sees now',
  'guard/latched': 'the causes latched until an operator\'s reset',
  'guard/reset': 'write true: the operator\'s reset of the guard\'s latches',
  predicted: 'the guard\'s prediction of the controlled variable at its horizon',
  'watchdog/traps': 'ticks on which the core trapped',
  'core/invariant_fails': 'invariants the core broke (each latched SAFE_STOP)',
  'envelope/min': 'the safety envelope\'s lower limit',
  'envelope/max': 'the safety envelope\'s upper limit',
  depends_on: 'the agents (group/node/device) whose output is this loop\'s input',
  'command/ack': 'the answer to a command: <id> ok ... or <id> rejected: <why>',
  'Device Control/Rebirth': 'write true: the device\'s births again',
  'command/id': 'edgeloop command: the id its answer (command/ack) goes under; without one, the command metric\'s name',
  'command/setpoint': 'edgeloop command: a new setpoint',
  'command/mode': 'edgeloop command: fallback, trip or release',
  'command/reset': 'edgeloop command: true, the operator\'s reset',
  'command/hold': 'edgeloop command: true, hold the loop',
  'command/release': 'edgeloop command: true, follow the reference again',
  'command/param': 'edgeloop command: <parameter>=<value>',
  'command/deploy': 'edgeloop command: a signed core module, base64 (with command/signature)',
  'command/signature': 'edgeloop command: the deployed module\'s Ed25519 signature, base64',
  'command/rollback': 'edgeloop command: true, back to the previous core',
};

/**
 * edgeloop's own command metrics, declared in DBIRTH (writable) so that a
 * DCMD carries nothing its device's birth did not declare; their values are
 * the idle ones (docs/host.md, Commands).
 */
export const COMMAND_METRICS: readonly Metric[] = [
  { name: 'command/id', type: 'String', value: '' },
  { name: 'command/setpoint', type: 'Double', value: 0 },
  { name: 'command/mode', type: 'String', value: '' },
  { name: 'command/reset', type: 'Boolean', value: false },
  { name: 'command/hold', type: 'Boolean', value: false },
  { name: 'command/release', type: 'Boolean', value: false },
  { name: 'command/param', type: 'String', value: '' },
  { name: 'command/deploy', type: 'String', value: '' },
  { name: 'command/signature', type: 'String', value: '' },
  { name: 'command/rollback', type: 'Boolean', value: false },
];

/** Metrics in the measurement's unit, and in the command's. */
const MEASURED = new Set(['setpoint', 'measurement', 'predicted', 'envelope/min', 'envelope/max']);
const COMMANDED = new Set(['output']);

/** The guard/status bits by name, lowest first (the metric's `bits` property). */
const GUARD_BITS = Object.entries(GUARD_STATUS).sort((a, b) => a[1] - b[1]).map(([k]) => k).join(',');

/** Metrics that change every sample and say nothing by themselves: never a reason to report by exception. */
const ALWAYS_NEW = new Set(['tick_us', 'sample']);

export interface Units { measurement: string; command: string }

/** A birth metric with its properties: description, engineering unit, readOnly (false: a host may write it), and the guard's bit names. */
export function declare(m: Metric, units?: Units): Metric {
  const props: Record<string, MetricProperty> = { ...m.properties };
  const description = METRIC_DESCRIPTIONS[m.name] ?? (m.name.startsWith(PARAM_PREFIX) ? `core parameter ${m.name.slice(PARAM_PREFIX.length)} (docs/core.md; writable)` : undefined);
  if (description) props.description = { type: 'String', value: description };
  if (units && MEASURED.has(m.name)) props.engUnit = { type: 'String', value: units.measurement };
  if (units && COMMANDED.has(m.name)) props.engUnit = { type: 'String', value: units.command };
  if (m.name === 'guard/status') props.bits = { type: 'String', value: GUARD_BITS };
  const writable = isWritable(m.name) || m.name === 'Device Control/Rebirth' || (m.name.startsWith('command/') && m.name !== 'command/ack');
  props.readOnly = { type: 'Boolean', value: !writable };
  return { ...m, properties: props };
}

/** Every core parameter as a metric with its current value: Double, Boolean, or String for a name (a reaction, a level, a direction). */
export function paramMetrics(core: Core): Metric[] {
  const out: Metric[] = [];
  for (const name of PARAM_IDS.keys()) {
    const format = core.paramFormat(name);
    const v = core.param(name as ParamName);
    const metric = `${PARAM_PREFIX}${name}`;
    switch (format) {
      case 'bool': out.push({ name: metric, type: 'Boolean', value: v !== 0 }); break;
      case 'action': out.push({ name: metric, type: 'String', value: ACTIONS[v] ?? String(v) }); break;
      case 'level': out.push({ name: metric, type: 'String', value: LEVELS[v] ?? String(v) }); break;
      case 'dir': out.push({ name: metric, type: 'String', value: DIRECTIONS[v + 1] ?? String(v) }); break;
      default: out.push({ name: metric, type: 'Double', value: v }); break;
    }
  }
  return out;
}

/** Every metric stamped with the sample's time (Sparkplug B: per-metric timestamps). */
export function stamped(metrics: Metric[], timestamp: number): Metric[] {
  return metrics.map((m) => ({ ...m, timestamp }));
}

/** The sample metrics a deadband applies to (numbers; strings and booleans go on any change). */
export const DEADBAND_METRICS = ['setpoint', 'measurement', 'output', 'predicted', 'guard/status', 'watchdog/traps', 'core/invariant_fails'] as const;

/** Report by exception: a deadband per metric (engineering units; 0 or absent: any change) and the longest silence. */
export interface ExceptionOptions {
  deadband?: Readonly<Record<string, number>>;
  /** Everything goes at least this often, ms of the agent's clock (default 10,000). */
  maxIntervalMs?: number;
}

/**
 * The metrics of a sample that go out by exception: those that moved past
 * their deadband since they were last reported (with the sample number and
 * time, so a host can place them), or all of them when maxIntervalMs has
 * passed. Returns null when nothing changed: no DDATA for this sample.
 */
export class Exceptions {
  private last = new Map<string, Metric['value']>();
  private lastAllUs = -Infinity;

  constructor(private readonly o: ExceptionOptions) {}

  /** The births restated everything: the host has these values. */
  reported(metrics: Metric[], nowUs: number): void {
    this.last = new Map(metrics.map((m) => [m.name, m.value]));
    this.lastAllUs = nowUs;
  }

  filter(metrics: Metric[], nowUs: number): Metric[] | null {
    if (nowUs - this.lastAllUs >= (this.o.maxIntervalMs ?? 10_000) * 1000) {
      this.reported(metrics, nowUs);
      return metrics;
    }
    const moved = metrics.filter((m) => !ALWAYS_NEW.has(m.name) && this.moved(m));
    if (!moved.length) return null;
    for (const m of moved) this.last.set(m.name, m.value);
    return [...moved, ...metrics.filter((m) => ALWAYS_NEW.has(m.name))];
  }

  private moved(m: Metric): boolean {
    if (!this.last.has(m.name)) return true;
    const was = this.last.get(m.name);
    if (typeof m.value === 'number' && typeof was === 'number') return Math.abs(m.value - was) > (this.o.deadband?.[m.name] ?? 0);
    return m.value !== was;
  }
}
