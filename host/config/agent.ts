// An agent's configuration file (`edgeloop agent --config agent.yaml`): one
// file for everything a gateway's loop needs. The broker and its log-in,
// the loop's identity, the I/O binding (a simulated plant, Modbus or
// Linux sysfs), the loop itself (setpoint, units, core parameters and
// envelope, dependencies), the core to run and the keys. Flags given on the
// command line override the file. docs/gateway.md walks through one;
// examples/ holds complete ones, each checked by test/host/config.test.ts.

import { z } from 'zod';
import { PARAM_IDS, type ParamName } from '../runtime/abi.js';
import type { ParamValue } from '../runtime/core.js';
import { checkId } from '../mqtt/topics.js';
import { PLANT_NAMES } from '../../firmware-sim/types.js';
import { FaultSchema } from '../../firmware-sim/scenario/schema.js';
import { BindingConfigSchema } from '../io/config.js';
import { DEADBAND_METRICS } from '../agent/report.js';
import { BrokerLoginSchema, ConfigError, fromFile, loadConfigFile, resolvePassword, section } from './file.js';

const idOf = (field: string) => z.string({ error: `expected a ${field}` }).refine((v) => { try { checkId(field, v); return true; } catch { return false; } },
  { error: `expected a ${field}: a non-empty MQTT topic level without '/', '+' or '#'` });

const agentKey = z.string().refine((v) => {
  const parts = v.split('/');
  return parts.length === 3 && parts.every((p) => { try { checkId('id', p); return true; } catch { return false; } });
}, { error: 'expected an agent key <group>/<node>/<device>' });

const int = (what: string, min: number, max: number) =>
  z.number({ error: `expected ${what}, an integer in [${min}, ${max}]` }).int({ error: `expected ${what}, an integer in [${min}, ${max}]` })
    .min(min, { error: `expected ${what}, an integer in [${min}, ${max}]` }).max(max, { error: `expected ${what}, an integer in [${min}, ${max}]` });

/** A simulated plant from firmware-sim/ behind the loop (commissioning without hardware, demos, training). */
export const SimBindingSchema = z.strictObject({
  kind: z.literal('sim'),
  plant: z.enum(PLANT_NAMES, { error: `expected one of ${PLANT_NAMES.join(', ')}` }),
  seed: int('a noise seed', 0, 2 ** 31 - 1).default(1),
  fault: FaultSchema.optional(),
});

/** Core parameters by name (docs/core.md); each is checked against the core's own table when the agent starts. */
const ParamsSchema = z.record(z.string(), z.union([z.number(), z.boolean(), z.string()], { error: 'expected a number, true/false, or a name (a level, an action or a direction)' }))
  .superRefine((params, ctx) => {
    for (const name of Object.keys(params)) {
      if (!PARAM_IDS.has(name as ParamName)) ctx.addIssue({ code: 'custom', path: [name], message: `unknown core parameter '${name}' (docs/core.md lists them)` });
    }
  });

export const AgentConfigSchema = z.strictObject({
  broker: z.strictObject({
    ...BrokerLoginSchema.shape,
    keepaliveS: int('an MQTT keepalive in seconds', 1, 3600).default(5),
    /** Keeps the last session's bdSeq across restarts (relative to this file): a new session never reuses it. */
    bdSeqFile: z.string().min(1, { error: 'expected a file path for the bdSeq' }).optional(),
  }).refine((b) => !(b.passwordFile && b.passwordEnv), { error: 'give passwordFile or passwordEnv, not both', path: ['passwordFile'] }),
  identity: z.strictObject({
    group: idOf('group_id').default('plant1'),
    node: idOf('edge_node_id'),
    device: idOf('device_id').default('loop'),
  }),
  primaryHost: idOf('host_application_id').optional(),
  // By its kind, so that an error names the field inside the binding, not just the binding.
  binding: z.discriminatedUnion('kind', [SimBindingSchema, BindingConfigSchema], { error: "expected a binding: kind 'sim', 'modbus' or 'sysfs' (docs/io.md)" }),
  loop: section(z.strictObject({
    setpoint: z.number({ error: 'expected the setpoint, a number in the measurement units' }).finite().optional(),
    units: z.strictObject({
      measurement: z.string().min(1, { error: 'expected the measurement unit, e.g. C' }),
      command: z.string().min(1, { error: 'expected the command unit, e.g. %' }),
    }).optional(),
    /** What the trip output does on this loop, for the operator's console. */
    trip: z.string().min(1).optional(),
    description: z.string().min(1).optional(),
    params: section(ParamsSchema.default({})),
    dependsOn: z.array(agentKey).default([]),
  }).default({ params: {}, dependsOn: [] })),
  core: section(z.strictObject({
    path: z.string().min(1).optional(),
    isolate: z.boolean().default(true),
    deadlineMs: int('a deadline in ms', 10, 60_000).default(1000),
  }).default({ isolate: true, deadlineMs: 1000 })),
  keys: section(z.strictObject({
    fleetKey: z.string().min(1).optional(),
    releaseFile: z.string().min(1).optional(),
  }).default({})),
  /**
   * How samples go out: every metric every tick ('fixed', the default), or
   * by exception (a metric when it moved past its deadband, everything at
   * least every maxIntervalS).
   */
  report: section(z.strictObject({
    mode: z.enum(['fixed', 'exception'], { error: "expected 'fixed' or 'exception'" }).default('fixed'),
    deadband: z.partialRecord(z.enum(DEADBAND_METRICS, { error: `expected a numeric sample metric: ${DEADBAND_METRICS.join(', ')}` }),
      z.number({ error: 'expected a deadband, a number >= 0 in the metric\'s units' }).min(0, { error: 'expected a deadband >= 0' })).default({}),
    maxIntervalS: int('the longest silence by exception, in seconds', 1, 3600).default(10),
  }).default({ mode: 'fixed', deadband: {}, maxIntervalS: 10 })),
  statusEveryS: int('seconds between status lines (0: only mode changes)', 0, 3600).default(10),
}).superRefine((c, ctx) => {
  // A real plant has no spec to take these from: the file must say them.
  if (c.binding.kind === 'sim') return;
  if (c.loop.setpoint === undefined) ctx.addIssue({ code: 'custom', path: ['loop', 'setpoint'], message: `expected the setpoint (a ${c.binding.kind} binding has no plant to take it from)` });
  if (c.loop.units === undefined) ctx.addIssue({ code: 'custom', path: ['loop', 'units'], message: `expected the units {measurement, command} (a ${c.binding.kind} binding has no plant to take them from)` });
  for (const p of ['env_min', 'env_max'] as const) {
    if (c.loop.params[p] === undefined) ctx.addIssue({ code: 'custom', path: ['loop', 'params', p], message: `expected the safety envelope's ${p === 'env_min' ? 'lower' : 'upper'} limit: a real loop runs only inside a stated envelope` });
  }
});

export type AgentConfig = z.output<typeof AgentConfigSchema>;

/** An agent's configuration file, checked; passwords resolved from their files or environment variables. */
export interface LoadedAgentConfig {
  path: string;
  config: AgentConfig;
  password?: string;
  /** Paths in the file, resolved against its directory. */
  corePath?: string;
  fleetKey?: string;
  releaseFile?: string;
  bdSeqFile?: string;
  params: Partial<Record<ParamName, ParamValue>>;
}

export function loadAgentConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedAgentConfig {
  const config = loadConfigFile(path, AgentConfigSchema, 'agent configuration');
  const rel = (p?: string) => (p === undefined ? undefined : fromFile(path, p));
  // A sysfs root, like every other path in the file, is relative to the file.
  if (config.binding.kind === 'sysfs') config.binding.root = fromFile(path, config.binding.root);
  return {
    path, config,
    password: resolvePassword(config.broker, path, 'broker', env),
    corePath: rel(config.core.path), fleetKey: rel(config.keys.fleetKey), releaseFile: rel(config.keys.releaseFile),
    bdSeqFile: rel(config.broker.bdSeqFile),
    params: config.loop.params as Partial<Record<ParamName, ParamValue>>,
  };
}

export { ConfigError };
