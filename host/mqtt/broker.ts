// The embedded MQTT broker (aedes): the default, so nothing has to be
// installed. It listens on loopback unless told otherwise; any other
// listener requires users (principals).
//
// Without users (loopback only) everything is open, as for a test bench.
// With users, every client logs in (passwords compared in constant time on
// keyed hashes) and host/mqtt/acl.ts decides every publish and subscription:
// a refused subscription is granted QoS 128; a refused publish is
// acknowledged as usual and dropped (MQTT 3.1.1 has no way to say no,
// MQTT-3.3.5-2), never routed, retained or delivered, and counted by reason.
// A Will goes through the same check when it fires.

import { admitConnection, limitedConnection } from './limits.js';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { authorize, operatorPayloadAllowed, DENY_REASONS, parseUsers, principalOf, type DenyReason, type Principal, type User } from './acl.js';

export { loadUsersFile, type User } from './acl.js';

export interface BrokerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The principals the broker accepts; with any, clients must log in and the ACL applies. Required off loopback. */
  users?: readonly User[];
  /** One login with full access: the same as users: [{ ...credentials, role: 'coordinator' }]. */
  credentials?: { username: string; password: string };
}

export interface BrokerCounters {
  denied: { publish: number; subscribe: number; byReason: Record<DenyReason, number> };
  /** Logins refused: unknown user, wrong password, or a client id held by another user. */
  authFailed: number;
  /** Connections closed for a packet over its size limit (host/mqtt/limits.ts), before the broker buffered it. */
  oversized: number;
}

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** Whether clients must log in (users given) and the ACL applies. */
  secured: boolean;
  /** Live counters (all zero on an open broker). */
  readonly counters: BrokerCounters;
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** CONNACK return codes (MQTT 3.1.1). */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;

type Done = (error?: Error | null) => void;

/** aedes with one change: a publish the ACL refused is dropped where aedes would route it. */
/** Messages aedes delivers concurrently. */
export const BROKER_CONCURRENCY = 10_000;

class GuardedAedes extends Aedes {
  readonly refused = new WeakSet<object>();

  override publish(packet: PublishPacket, clientOrDone: unknown, maybeDone?: Done): void {
    if (this.refused.has(packet)) {
      this.refused.delete(packet);
      const done = (typeof clientOrDone === 'function' ? clientOrDone : maybeDone) as Done | undefined;
      if (done) setImmediate(done);
      return;
    }
    (Aedes.prototype.publish as (p: PublishPacket, c: unknown, d?: Done) => void).call(this, packet, clientOrDone, maybeDone);
  }
}

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export async function startEmbeddedBroker(opts: BrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const given = [...(opts.users ?? []), ...(opts.credentials ? [{ ...opts.credentials, role: 'coordinator' as const }] : [])];
  if (!LOOPBACK.test(host) && given.length === 0) {
    throw new Error(`broker: a listener on ${host} (not loopback) requires credentials (users, each with a username and password)`);
  }
  const users = given.length ? parseUsers(given, 'broker users') : [];
  const counters: BrokerCounters = {
    denied: { publish: 0, subscribe: 0, byReason: Object.fromEntries(DENY_REASONS.map((r) => [r, 0])) as Record<DenyReason, number> },
    authFailed: 0,
    oversized: 0,
  };
  // aedes' default concurrency (100 messages in delivery at once) makes a
  // broker under thousands of publishing agents queue without bound and
  // starve its subscribers (bench:host: 1 % delivered at 2,000 agents); with
  // room for more in flight it slows down instead of collapsing.
  const broker = new GuardedAedes({ concurrency: BROKER_CONCURRENCY });
  await broker.listen();
  if (users.length) secure(broker, users, counters);
  // No Nagle: Sparkplug data is small QoS 0 packets with nothing coming back
  // to carry the ACK, so Nagle plus delayed ACKs would hold them back by tens of ms.
  // Every connection through the size guard: a packet that declares more than its limit closes it unread.
  // allowHalfOpen: a client that sends DISCONNECT and ends its side leaves the
  // socket open until aedes has read everything (else the DISCONNECT and the
  // packets before it could be dropped, and a clean leave fire the Will).
  // A client the broker has let in may send up to PACKET_MAX_BYTES a packet; until then, CONNECT_MAX_BYTES.
  broker.on('client', (client) => admitConnection((client as unknown as { conn: unknown }).conn));
  const server: Server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    broker.handle(limitedConnection(socket, () => { counters.oversized++; }));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => resolve());
    });
  } catch (err) {
    // Nothing is left running (aedes' timers would keep the process alive, not listening).
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    const e = err as NodeJS.ErrnoException;
    throw new Error(`broker: cannot listen on ${host}:${opts.port ?? 0}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EACCES' ? 'not allowed (a port below 1024 needs privileges)' : e.message}`);
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    secured: users.length > 0,
    counters,
    close: () => new Promise<void>((resolve) => {
      // The broker first: it ends its clients' connections, so the server can close.
      broker.close(() => server.close(() => resolve()));
    }),
  };
}

/** Log-ins and the ACL. */
function secure(broker: GuardedAedes, users: readonly User[], counters: BrokerCounters): void {
  // Keyed hashes: equal lengths for timingSafeEqual, and nothing reusable if memory leaks.
  const key = randomBytes(32);
  const mac = (secret: Buffer | string) => createHmac('sha256', key).update(secret).digest();
  const logins = new Map(users.map((u) => [u.username, { principal: principalOf(u), mac: mac(u.password) }]));
  const nobody = mac(randomBytes(32));
  const principals = new WeakMap<Client, Principal>();
  /** Who holds each client id: another user may not take it over (and so disconnect its holder). */
  const holders = new Map<string, { username: string; client: Client }>();

  broker.authenticate = (client, username, password, done) => {
    const login = username === undefined ? undefined : logins.get(username);
    const match = timingSafeEqual(mac(password ?? ''), login?.mac ?? nobody);
    if (!login || password === undefined || !match) {
      counters.authFailed++;
      return done(authError('bad username or password', BAD_USERNAME_OR_PASSWORD), false);
    }
    const holder = holders.get(client.id);
    if (holder && holder.username !== login.principal.username && !holder.client.closed) {
      counters.authFailed++;
      return done(authError(`client id '${client.id}' is in use by another user`, IDENTIFIER_REJECTED), false);
    }
    principals.set(client, login.principal);
    done(null, true);
  };
  broker.on('client', (client) => {
    const p = principals.get(client);
    if (p) holders.set(client.id, { username: p.username, client });
  });
  broker.on('clientDisconnect', (client) => {
    if (holders.get(client.id)?.client === client) holders.delete(client.id);
  });

  broker.authorizePublish = (client, packet, callback) => {
    const principal = client ? principals.get(client) ?? null : null;
    let verdict = authorize(principal, 'publish', packet.topic);
    // An agent needs no retained message (Sparkplug births and deaths are not retained): one would be handed to every new subscriber.
    if (verdict.ok && packet.retain && principal?.role === 'agent') verdict = { ok: false, reason: 'agent-retain' };
    // A retained command would be replayed to its agent on every reconnect, long after whoever sent it meant it.
    if (verdict.ok && packet.retain && /^spBv1\.0\/[^/]+\/[ND]CMD\//.test(packet.topic)) verdict = { ok: false, reason: 'command-retain' };
    // An operator's command: a setpoint, a mode, a reset, a hold or a release, never a parameter, deploy or rollback.
    if (verdict.ok && principal?.role === 'operator' && !operatorPayloadAllowed(packet.payload as Buffer)) verdict = { ok: false, reason: 'operator-scope' };
    if (!verdict.ok) {
      counters.denied.publish++;
      counters.denied.byReason[verdict.reason]++;
      broker.refused.add(packet);
    }
    callback(null);
  };
  broker.authorizeSubscribe = (client, sub, callback) => {
    const verdict = authorize(principals.get(client) ?? null, 'subscribe', sub.topic);
    if (verdict.ok) return callback(null, sub);
    counters.denied.subscribe++;
    counters.denied.byReason[verdict.reason]++;
    callback(null, null); // granted QoS 128
  };
}
