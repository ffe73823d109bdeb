// Configuration files of the coordinator, the stand-alone dashboard and the
// embedded broker (`edgeloop coordinator|dashboard|broker --config <file>`).
// As for agents (config/agent.ts): YAML or JSON, checked before anything
// starts, passwords from files or environment variables, flags given on the
// command line override the file.

import { z } from 'zod';
import { checkId } from '../mqtt/topics.js';
import { loadUsersFile, parseUsers, ROLES, type User } from '../mqtt/acl.js';
import { CONTAIN_ACTIONS } from '../coordinator/coordinator.js';
import { parseDuration } from '../cli/telemetry.js';
import { BrokerLoginSchema, ConfigError, SecretSchema, fromFile, loadConfigFile, resolvePassword, section } from './file.js';

const hostId = z.string({ error: 'expected a host_application_id' })
  .refine((v) => { try { checkId('host_application_id', v); return true; } catch { return false; } },
    { error: "expected a host_application_id: a non-empty MQTT topic level without '/', '+' or '#'" });
const port = (dflt: number) => z.number({ error: 'expected a TCP port, an integer in [0, 65535] (0: any free one)' }).int().min(0).max(65535).default(dflt);
const duration = z.string({ error: 'expected a duration such as 7d, 12h or 30m' })
  .refine((v) => { try { parseDuration(v, 'retain'); return true; } catch { return false; } }, { error: 'expected a duration such as 7d, 12h or 30m' });

const telemetry = section(z.strictObject({
  db: z.string().min(1).default('edgeloop-telemetry.db'),
  retain: duration.optional(),
}).default({ db: 'edgeloop-telemetry.db' }));

const loginBroker = BrokerLoginSchema;

/** Operators who may log in to the dashboard and command the loops; their commands go out under `username`. */
const operators = z.strictObject({
  usersFile: z.string({ error: "expected a users file (the broker's format) whose users with role operator may log in" }).min(1),
  username: z.string().min(1).optional(),
  ...SecretSchema.shape,
}).optional();

/** `edgeloop coordinator --config`: discovery, containment, telemetry and the dashboard. */
export const CoordinatorConfigSchema = z.strictObject({
  broker: loginBroker,
  hostId: hostId.default('edgeloop-coordinator'),
  /** How a dependent of a loop out of control is contained, or false to observe only. */
  contain: z.union([z.enum(CONTAIN_ACTIONS), z.literal(false)], { error: `expected ${CONTAIN_ACTIONS.join(' or ')}, or false to observe only` }).default('hold'),
  staleMs: z.number().int().min(100).max(3_600_000).default(3000),
  /** A gap in an edge node's seq not filled within this long asks it for a rebirth (Sparkplug's Reorder Timeout). */
  reorderTimeoutMs: z.number({ error: 'expected the Reorder Timeout in ms, an integer in [100, 60000]' }).int().min(100).max(60_000).default(2000),
  telemetry,
  dashboard: section(z.union([z.literal(false), z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port(8080),
    operators,
  })], { error: 'expected { host, port } or false for no dashboard' }).default({ host: '127.0.0.1', port: 8080 })),
});

/** `edgeloop dashboard --config`: the dashboard on its own, a passive observer. */
export const DashboardConfigSchema = z.strictObject({
  broker: loginBroker,
  hostId: hostId.default('edgeloop-dashboard'),
  staleMs: z.number().int().min(100).max(3_600_000).default(3000),
  telemetry,
  dashboard: section(z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port(8081),
    operators,
  }).default({ host: '127.0.0.1', port: 8081 })),
});

/** A user of the embedded broker: as in a users file, with the password from a file or an environment variable. */
const BrokerUserSchema = z.strictObject({
  username: z.string().min(1),
  role: z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` }),
  group: z.string().min(1).optional(),
  node: z.string().min(1).optional(),
  ...SecretSchema.shape,
}).refine((u) => Boolean(u.passwordFile) !== Boolean(u.passwordEnv), { error: 'expected one of passwordFile or passwordEnv (the password itself never goes in this file)', path: ['passwordFile'] });

/** `edgeloop broker --config`: the embedded broker and who may log in. */
export const BrokerConfigSchema = z.strictObject({
  listen: section(z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port(1883),
  }).default({ host: '127.0.0.1', port: 1883 })),
  /** A users file (docs/host.md), or users here with their passwords in files or environment variables. */
  usersFile: z.string().min(1).optional(),
  users: z.array(BrokerUserSchema).min(1).optional(),
}).refine((b) => !(b.usersFile && b.users), { error: 'give usersFile or users, not both', path: ['users'] });

export type CoordinatorConfig = z.output<typeof CoordinatorConfigSchema>;
export type DashboardConfig = z.output<typeof DashboardConfigSchema>;

export interface LoadedService<C> {
  path: string;
  config: C;
  password?: string;
  /** The dashboard's operators: the users file (resolved) and the log-in their commands go out under. */
  operators?: { usersFile: string; username?: string; password?: string };
  /** The telemetry database, relative paths resolved against the file's directory. */
  db: string;
  retainMs?: number;
}

export function loadCoordinatorConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedService<CoordinatorConfig> {
  const config = loadConfigFile(path, CoordinatorConfigSchema, 'coordinator configuration');
  return service(path, config, env);
}

export function loadDashboardConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedService<DashboardConfig> {
  const config = loadConfigFile(path, DashboardConfigSchema, 'dashboard configuration');
  return service(path, config, env);
}

type Ops = z.output<typeof operators>;

function service<C extends { broker: z.output<typeof BrokerLoginSchema>; telemetry: { db: string; retain?: string }; dashboard: false | { operators?: Ops } }>(
  path: string, config: C, env: NodeJS.ProcessEnv): LoadedService<C> {
  const ops = config.dashboard === false ? undefined : config.dashboard.operators;
  return {
    path, config, password: resolvePassword(config.broker, path, 'broker', env),
    operators: ops && { usersFile: fromFile(path, ops.usersFile), username: ops.username,
      password: ops.username ? resolvePassword(ops, path, 'dashboard.operators', env) : undefined },
    db: fromFile(path, config.telemetry.db),
    retainMs: config.telemetry.retain === undefined ? undefined : parseDuration(config.telemetry.retain, 'telemetry.retain'),
  };
}

export interface LoadedBroker {
  host: string;
  port: number;
  users?: User[];
}

export function loadBrokerConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedBroker {
  const config = loadConfigFile(path, BrokerConfigSchema, 'broker configuration');
  const { host, port: p } = config.listen;
  if (config.usersFile) return { host, port: p, users: loadUsersFile(fromFile(path, config.usersFile)) };
  if (!config.users) return { host, port: p };
  const users = config.users.map((u, i) => {
    const { passwordFile, passwordEnv, ...rest } = u;
    const password = resolvePassword({ passwordFile, passwordEnv }, path, `users[${i}]`, env);
    return { ...rest, password };
  });
  // The same checks as a users file (password length, an agent's group and node, unique names).
  return { host, port: p, users: parseUsers(users, path) };
}

export { ConfigError };
