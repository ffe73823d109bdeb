// Who may publish and subscribe to what on the embedded broker. Principals
// come from a users list (or a users file); authorize() is a pure function of
// the principal, the action and the topic, so every rule is unit-tested
// without a broker.
//
//   agent        bound to one group and edge node. Publishes its own births,
//                deaths and data only:
//                  spBv1.0/<group>/{NBIRTH,NDEATH,NDATA}/<node>
//                  spBv1.0/<group>/{DBIRTH,DDEATH,DDATA}/<node>/<device>
//                Subscribes to its own commands and to host STATE only:
//                  spBv1.0/<group>/NCMD/<node>
//                  spBv1.0/<group>/DCMD/<node>/+   (or one exact device)
//                  spBv1.0/STATE/+                 (or one exact host)
//   coordinator  full access: the only one that may publish NCMD, DCMD and
//                STATE; it may read $SYS/#, but nobody publishes to a '$' topic.
//   observer     a dashboard: subscribes under spBv1.0/ (spBv1.0/# included),
//                publishes nothing.
//   operator     a person's commands (edgeloop command, the dashboard's
//                log-in): publishes DCMD to any agent's device and nothing
//                else (no NCMD: no rebirths, no deploys, which go to a node;
//                no STATE); subscribes to what tells it an agent's answer and
//                whether it is there, with '+' for any level but no '#':
//                  spBv1.0/<group>/{NBIRTH,NDEATH}/<node>
//                  spBv1.0/<group>/{DBIRTH,DDEATH,DDATA}/<node>/<device>
//
// Nobody publishes to a topic with '+' or '#' in it, or to a '$' topic.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { NAMESPACE, parseTopic, type SparkplugTopic } from './topics.js';
import { decodePayload } from './codec.js';
import { SchemaError, schemaIssues, type SchemaIssue } from '../schema-issues.js';

export const ROLES = ['agent', 'coordinator', 'observer', 'operator'] as const;
export type Role = (typeof ROLES)[number];

export type Principal =
  | { role: 'coordinator'; username: string }
  | { role: 'observer'; username: string }
  | { role: 'operator'; username: string }
  | { role: 'agent'; username: string; group: string; node: string };

export type AclAction = 'publish' | 'subscribe';

/** Why a publish or subscription was refused (the broker counts each). */
export const DENY_REASONS = [
  /** No principal: a client the broker did not authenticate (a Will restored without its client). */
  'unauthenticated',
  /** A publish topic with '+' or '#', or an empty one. */
  'wildcard-publish',
  /** A '$' topic (the broker's own: $SYS/...). */
  'reserved-topic',
  /** An observer publishing. */
  'read-only',
  /** NCMD, DCMD or STATE published by somebody other than a coordinator. */
  'coordinator-only',
  /** An agent publishing, or subscribing to, another node's topics. */
  'foreign-node',
  /** Not a Sparkplug B topic this principal may use (wrong namespace, levels or message type). */
  'not-sparkplug',
  /** An agent subscribing with a wildcard wider than its own commands. */
  'wildcard-subscribe',
  /** An agent subscribing to its own topics that are not commands (its data, births...). */
  'not-a-command',
  /** An agent publishing a retained message (it needs none; every new subscriber would get it). */
  'agent-retain',
  /** An operator publishing anything but a DCMD, or subscribing to anything but agents' births, deaths and data. */
  'operator-scope',
  /** A retained command (NCMD, DCMD), from anyone: the broker would hand it to the agent again on every resubscribe. */
  'command-retain',
] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

export type AclVerdict = { ok: true } | { ok: false; reason: DenyReason };

const OK: AclVerdict = { ok: true };
const deny = (reason: DenyReason): AclVerdict => ({ ok: false, reason });

const AGENT_PUBLISHES: ReadonlySet<string> = new Set(['NBIRTH', 'NDEATH', 'NDATA', 'DBIRTH', 'DDEATH', 'DDATA']);
/** What an operator reads: an agent's births and deaths (is it there?) and its data (the acknowledgements ride on DDATA). */
const OPERATOR_NODE_READS: ReadonlySet<string> = new Set(['NBIRTH', 'NDEATH']);
const OPERATOR_DEVICE_READS: ReadonlySet<string> = new Set(['DBIRTH', 'DDEATH', 'DDATA']);
const LEVEL = /^[^/+#]+$/;

/** May `principal` publish to, or subscribe to, `topic`? Pure: no I/O, no state. */
/**
 * What an operator's DCMD may carry: a setpoint, a mode demand, a reset, a
 * hold or a release. The agent cannot tell who sent a command, so the
 * broker reads an operator's payload: a parameter change (the envelope is
 * one), a deploy or a rollback stays the coordinator's.
 */
export const OPERATOR_METRICS: ReadonlySet<string> = new Set(['command/id', 'command/setpoint', 'command/mode', 'command/reset',
  'command/hold', 'command/release', 'setpoint', 'mode', 'held', 'guard/reset', 'Device Control/Rebirth']);

/** Whether an operator's DCMD payload holds only OPERATOR_METRICS (an undecodable one does not). */
export function operatorPayloadAllowed(payload: Uint8Array): boolean {
  try {
    return decodePayload(payload).metrics.every((m) => OPERATOR_METRICS.has(m.name));
  } catch {
    return false;
  }
}

export function authorize(principal: Principal | null, action: AclAction, topic: string): AclVerdict {
  if (!principal) return deny('unauthenticated');
  return action === 'publish' ? authorizePublish(principal, topic) : authorizeSubscribe(principal, topic);
}

function authorizePublish(p: Principal, topic: string): AclVerdict {
  if (topic.length === 0 || topic.includes('+') || topic.includes('#')) return deny('wildcard-publish');
  if (topic.startsWith('$')) return deny('reserved-topic');
  switch (p.role) {
    case 'coordinator': return OK;
    case 'observer': return deny('read-only');
    case 'operator': {
      // A command to one loop, and nothing else: a node's NCMD (rebirth, deploy) and STATE stay the coordinator's.
      const t = sparkplug(topic);
      return t && t.kind === 'device' && t.type === 'DCMD' ? OK : deny('operator-scope');
    }
    case 'agent': {
      const t = sparkplug(topic);
      if (!t) return deny('not-sparkplug');
      if (t.kind === 'state' || !AGENT_PUBLISHES.has(t.type)) return deny('coordinator-only');
      if (t.group !== p.group || t.node !== p.node) return deny('foreign-node');
      return OK;
    }
  }
}

function authorizeSubscribe(p: Principal, filter: string): AclVerdict {
  if (filter.startsWith('$')) return p.role === 'coordinator' ? OK : deny('reserved-topic');
  switch (p.role) {
    case 'coordinator': return OK;
    case 'observer': return filter.split('/')[0] === NAMESPACE && filter.length > NAMESPACE.length ? OK : deny('not-sparkplug');
    case 'operator': return operatorSubscribe(filter);
    case 'agent': return agentSubscribe(p, filter);
  }
}

/** An operator's filter: spBv1.0/<group>/<type>/<node>[/<device>] for the types it reads, '+' allowed for any level but the type. */
function operatorSubscribe(filter: string): AclVerdict {
  const l = filter.split('/');
  const level = (x: string | undefined) => x !== undefined && (x === '+' || LEVEL.test(x));
  if (l[0] !== NAMESPACE || !level(l[1]) || !level(l[3])) return deny('operator-scope');
  if (l.length === 4 && OPERATOR_NODE_READS.has(l[2])) return OK;
  if (l.length === 5 && OPERATOR_DEVICE_READS.has(l[2]) && level(l[4])) return OK;
  return deny('operator-scope');
}

function agentSubscribe(p: { group: string; node: string }, filter: string): AclVerdict {
  const l = filter.split('/');
  if (l[0] === NAMESPACE && l[1] === 'STATE' && l.length === 3 && (l[2] === '+' || LEVEL.test(l[2]))) return OK;
  const own = l[0] === NAMESPACE && l[1] === p.group && l[3] === p.node;
  if (own && l.length === 4 && l[2] === 'NCMD') return OK;
  if (own && l.length === 5 && l[2] === 'DCMD' && (l[4] === '+' || LEVEL.test(l[4]))) return OK;
  if (filter.includes('+') || filter.includes('#')) return deny('wildcard-subscribe');
  const t = sparkplug(filter);
  if (!t || t.kind === 'state') return deny('not-sparkplug');
  if (t.group !== p.group || t.node !== p.node) return deny('foreign-node');
  return deny('not-a-command');
}

function sparkplug(topic: string): SparkplugTopic | null {
  try {
    return parseTopic(topic);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Users: the principals a broker accepts, from code or from a JSON file.

/** One login: an agent is bound to its group and edge node; the other roles have the scope their role gives them. */
export interface User {
  username: string;
  password: string;
  role: Role;
  group?: string;
  node?: string;
}

/** Shortest password accepted. */
export const PASSWORD_MIN_CHARS = 8;
/** Most users in one list (a bound, not a guess at fleet size: one login per edge node). */
export const USERS_MAX = 10_000;

const Level = (what: string) => z.string({ error: `expected a ${what} (a non-empty MQTT topic level)` })
  .regex(LEVEL, `expected a ${what}: a non-empty MQTT topic level without '/', '+' or '#'`);

const UserSchema = z.strictObject({
  username: z.string({ error: 'expected a string' }).min(1, 'expected a non-empty string').max(256, 'expected at most 256 characters'),
  password: z.string({ error: 'expected a string' }).min(PASSWORD_MIN_CHARS, `expected at least ${PASSWORD_MIN_CHARS} characters`)
    .max(1024, 'expected at most 1024 characters'),
  role: z.enum(ROLES, { error: `expected one of ${ROLES.map((r) => `'${r}'`).join(', ')}` }),
  group: Level('group_id').optional(),
  node: Level('edge_node_id').optional(),
}).superRefine((u, ctx) => {
  if (u.role === 'agent') {
    if (u.group === undefined) ctx.addIssue({ code: 'custom', path: ['group'], message: 'expected a group_id: an agent is bound to its group and edge node' });
    if (u.node === undefined) ctx.addIssue({ code: 'custom', path: ['node'], message: 'expected an edge_node_id: an agent is bound to its group and edge node' });
  } else {
    for (const k of ['group', 'node'] as const) {
      if (u[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `only an agent is bound to a group and node; a ${u.role} has its role's scope over every group` });
    }
  }
});

const UsersFileSchema = z.strictObject({
  users: z.array(UserSchema, { error: 'expected an array of users' }).min(1, 'expected at least one user').max(USERS_MAX, `expected at most ${USERS_MAX} users`),
}, { error: 'expected an object { "users": [ ... ] }' });

/** A users list that failed validation: every issue, each naming its field. Never echoes a password. */
export class UsersError extends SchemaError {
  constructor(source: string, issues: readonly SchemaIssue[]) {
    super(source, 'users', issues);
    this.name = 'UsersError';
  }
}

/** Validate users given in code. Throws UsersError naming each bad field. */
export function parseUsers(users: unknown, source = 'users'): User[] {
  const r = UsersFileSchema.safeParse({ users });
  if (!r.success) throw new UsersError(source, schemaIssues(r.error, { users }, { secret: ['password'] }));
  const seen = new Set<string>();
  r.data.users.forEach((u, i) => {
    if (seen.has(u.username)) throw new UsersError(source, [{ path: `users[${i}].username`, message: 'expected a unique username', received: u.username }]);
    seen.add(u.username);
  });
  return r.data.users;
}

/**
 * Read a users file for `edgeloop broker --users <file>`:
 *   { "users": [ { "username": "gw1", "password": "...", "role": "agent", "group": "plant1", "node": "gw1" },
 *                { "username": "coord", "password": "...", "role": "coordinator" },
 *                { "username": "dash", "password": "...", "role": "observer" },
 *                { "username": "alice", "password": "...", "role": "operator" } ] }
 * Throws UsersError naming the field on bad input.
 */
export function loadUsersFile(path: string): User[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsersError(path, [{ path: '(file)', message: `cannot read: ${(err as Error).message}` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsersError(path, [{ path: '(root)', message: `expected JSON: ${(err as Error).message}` }]);
  }
  const r = UsersFileSchema.safeParse(json);
  if (!r.success) throw new UsersError(path, schemaIssues(r.error, json, { secret: ['password'] }));
  return parseUsers(r.data.users, path);
}

/** The principal a validated user logs in as. */
export function principalOf(u: User): Principal {
  return u.role === 'agent' ? { role: 'agent', username: u.username, group: u.group!, node: u.node! } : { role: u.role, username: u.username };
}
