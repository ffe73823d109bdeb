// The live web dashboard: one node:http server, loopback by default, that
// serves a static page (host/telemetry/dashboard/), uPlot from node_modules,
// and a small JSON API over the coordinator's view and the telemetry store.
// The page polls the API; nothing here pushes, so a slow browser costs the
// coordinator nothing.
//
//   GET /                         the page
//   GET /api/state[?since=ms]     agents (with their trip, guard causes and envelope), alarms since `since` with the first-out
//                                 cause per agent, decisions, commands, rollout
//   GET /api/history?agent=key[&since=ms][&limit=n]   an agent's samples (mode, cause, trip), oldest first
//   GET /metrics                  Prometheus text, when a registry is given
//   GET /api/session              {operators: whether log-ins are on, user: who is logged in or null}
//
// Without `operators` it is read-only and has no log-in: bind it to
// loopback (the default) or put it behind something that authenticates.
//
// With `operators` (the users with role 'operator' from a broker users
// file), an operator logs in and sends the loops the commands
// `edgeloop command` sends (host/cli/command.ts), through `send`:
//
//   POST /api/login    {username, password}   a session cookie (HttpOnly, SameSite=Strict)
//   POST /api/logout
//   POST /api/command  {target, action, value?}   the agent's answer
//
// Every POST must carry `x-edgeloop-request: 1` and, when the browser says
// where it comes from (Origin, Sec-Fetch-Site), come from this page: a
// page on another site can neither set the header without a CORS preflight
// (never granted here) nor make the browser send the cookie along
// (SameSite=Strict). Passwords are compared in
// constant time on keyed hashes; failed log-ins are limited per address
// and per username; every log-in, log-out and command is logged.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import type { AgentView, Decision, TrackedCommand } from '../coordinator/coordinator.js';
import type { RolloutView } from '../deploy/types.js';
import type { User } from '../mqtt/acl.js';
import type { AlarmRow, TelemetryStore } from './store.js';

export interface DashboardSource {
  agents(): AgentView[];
  decisions(): Decision[];
  commands(): TrackedCommand[];
  rollout(): RolloutView | null;
  store: TelemetryStore;
  registry?: Registry;
}

export interface DashboardOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Host clock (ms since the epoch), for the default `since` windows, sessions and log-in limits. */
  clockMs?: () => number;
  /** Operators who may log in and command the loops; without them the dashboard is read-only. */
  operators?: DashboardOperators;
}

/** The answer to an operator's command, as the page shows it. */
export interface OperatorAnswer {
  /**
   * What the agent said ('accepted', 'rejected'), or no answer in time
   * ('no-ack'); 'invalid': the request is not a command (HTTP 400);
   * 'error': it could not be sent (the broker; HTTP 502).
   */
  result: 'accepted' | 'rejected' | 'no-ack' | 'invalid' | 'error';
  /** The outcome in one line, for a person. */
  line: string;
  /** The acknowledgement's status ('ok ...', 'rejected: ...'), '' without one. */
  status: string;
  /** The loop's mode and setpoint as the acknowledging DDATA reported them. */
  mode: string | null;
  setpoint: number | null;
}

export interface DashboardOperators {
  /** Who may log in: the users with role 'operator' (a broker users file's entries; the others are ignored). */
  users: readonly User[];
  /** Send a command to a loop and resolve with the agent's answer (host/cli/command.ts linkSender). */
  send(target: string, action: string, value: string | undefined): Promise<OperatorAnswer>;
  /** Every log-in, log-out and command, one line each (who, what, when). */
  log(line: string): void;
  /** How long a session lasts, ms (default SESSION_MS). */
  sessionMs?: number;
}

export interface Dashboard {
  url: string;
  close(): Promise<void>;
}

/** Default alarm window of /api/state when no `since` is given. */
export const ALARM_WINDOW_MS = 24 * 3600_000;
/** Bounds on what one response carries, so a big fleet cannot make one huge reply. */
export const ALARMS_MAX = 500;
export const DECISIONS_MAX = 200;
export const COMMANDS_MAX = 200;
export const HISTORY_LIMIT_DEFAULT = 2000;
export const HISTORY_LIMIT_MAX = 20_000;
/** A session's life (a shift), ms. */
export const SESSION_MS = 8 * 3600_000;
/** Sessions kept at most; a new one beyond this ends the oldest. */
export const SESSIONS_MAX = 64;
/** Failed log-ins allowed per window from one address, and for one username (from anywhere). */
export const LOGIN_FAILURES_PER_ADDRESS = 5;
export const LOGIN_FAILURES_PER_USER = 10;
export const LOGIN_WINDOW_MS = 60_000;
/** Addresses and usernames whose failures are tracked at most (the oldest go first). */
const LOGIN_KEYS_MAX = 4096;
/** Operator commands waiting for their acknowledgement at once, at most. */
export const COMMANDS_IN_FLIGHT_MAX = 16;
/** The largest POST body read, bytes. */
const BODY_MAX_BYTES = 4096;
const SESSION_COOKIE = 'edgeloop_session';

/** Per agent, the alarm episode the dashboard shows: its first-out cause and whether it still holds. */
export interface FirstOut {
  agent: string;
  monitor: string;
  stage: string;
  /** When the episode began (its first trip), or null if the trip is older than the window. */
  sinceMs: number | null;
  /** Still tripped (no clear after it). */
  active: boolean;
}

/** Walk up from this file to the folder holding edgeloop's package.json: the same from host/ (tsx, vitest) and dist/host/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'edgeloop') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`dashboard: no edgeloop package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

interface Asset { file: string; type: string }

/** The only files served: a fixed table, so no path from a URL ever reaches the file system. */
function assetTable(): Map<string, Asset> {
  const pages = join(packageRoot(), 'host', 'telemetry', 'dashboard');
  const uplot = dirname(createRequire(import.meta.url).resolve('uplot'));
  return new Map<string, Asset>([
    ['/', { file: join(pages, 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/index.html', { file: join(pages, 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/app.js', { file: join(pages, 'app.js'), type: 'text/javascript; charset=utf-8' }],
    ['/style.css', { file: join(pages, 'style.css'), type: 'text/css; charset=utf-8' }],
    ['/uplot/uPlot.iife.min.js', { file: join(uplot, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' }],
    ['/uplot/uPlot.min.css', { file: join(uplot, 'uPlot.min.css'), type: 'text/css; charset=utf-8' }],
  ]);
}

/** A bad request: the message names the parameter and what was expected. */
class BadRequest extends Error {}

/** A request refused with an HTTP status and a message for the page. */
class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A non-negative integer query parameter, or the default when absent. */
function intParam(url: URL, name: string, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return dflt;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new BadRequest(`query parameter '${name}': expected an integer 0..${max}, received ${JSON.stringify(raw)}`);
  }
  return v;
}

/** The episode per agent: the trips since its last clear; the latest trip names the cause (estimation alarms are renamed once isolated). */
export function firstOutCauses(alarms: readonly AlarmRow[], agents: readonly AgentView[]): FirstOut[] {
  const byAgent = new Map<string, FirstOut>();
  for (const a of alarms) {
    if (a.kind === 'clear') {
      const f = byAgent.get(a.agent);
      if (f) f.active = false;
    } else if (a.kind === 'trip') {
      const f = byAgent.get(a.agent);
      const sinceMs = f && f.active ? f.sinceMs : a.tMs;
      byAgent.set(a.agent, { agent: a.agent, monitor: a.monitor, stage: a.stage, sinceMs, active: true });
    }
  }
  // The coordinator's view is the truth for what is tripped now, even when the trip is older than the window.
  for (const v of agents) {
    if (!v.cause || byAgent.get(v.key)?.active) continue;
    const i = v.cause.indexOf('/');
    byAgent.set(v.key, { agent: v.key, monitor: i < 0 ? v.cause : v.cause.slice(0, i), stage: i < 0 ? '' : v.cause.slice(i + 1), sinceMs: null, active: true });
  }
  return [...byAgent.values()].sort((x, y) => Number(y.active) - Number(x.active) || x.agent.localeCompare(y.agent));
}

function state(source: DashboardSource, url: URL, now: number): unknown {
  const since = intParam(url, 'since', Math.max(0, now - ALARM_WINDOW_MS));
  const agents = source.agents();
  const alarms = source.store.alarms(since);
  const commands = [...source.commands()].sort((a, b) => b.sentMs - a.sentMs).slice(0, COMMANDS_MAX);
  return {
    nowMs: now,
    agents: [...agents].sort((a, b) => a.key.localeCompare(b.key)),
    alarms: alarms.slice(-ALARMS_MAX),
    firstOut: firstOutCauses(alarms, agents),
    decisions: source.decisions().slice(-DECISIONS_MAX),
    commands,
    rollout: source.rollout(),
    // The history's writes: a full disk or a corrupted page is shown, not hidden (rows wait and are retried).
    store: source.store.health,
  };
}

function history(source: DashboardSource, url: URL): unknown {
  const agent = url.searchParams.get('agent');
  if (agent === null || agent === '') throw new BadRequest("query parameter 'agent': expected an agent key (group/node/device)");
  const limit = intParam(url, 'limit', HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX);
  const since = url.searchParams.has('since') ? intParam(url, 'since', 0) : null;
  // Without `since`, the latest samples; with it, everything after it (the page polls with its last time).
  const samples = since === null ? source.store.latest(agent, limit) : source.store.history(agent, since, Number.MAX_SAFE_INTEGER, limit);
  return { agent, samples: samples.map((s) => ({ tMs: s.tMs, sample: s.sample, setpoint: s.setpoint, measurement: s.measurement, output: s.output, mode: s.mode, cause: s.cause, tripped: s.tripped })) };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  // Never framed by another site: the operator's buttons cannot be clicked through someone else's page.
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY',
    'content-security-policy': "frame-ancestors 'none'", ...headers }).end(body);
}

const OPERATOR_POSTS: ReadonlySet<string> = new Set(['/api/login', '/api/logout', '/api/command']);

function route(source: DashboardSource, assets: Map<string, Asset>, clock: () => number, desk: OperatorDesk | null, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://dashboard');
  if (req.method === 'POST' && desk && OPERATOR_POSTS.has(url.pathname)) { desk.post(url.pathname, req, res); return; }
  if (req.method !== 'GET') { send(res, 405, 'text/plain', `method ${req.method ?? '?'} not allowed: the dashboard is read-only (GET)\n`); return; }
  try {
    switch (url.pathname) {
      case '/api/session': send(res, 200, 'application/json', JSON.stringify({ operators: desk !== null, user: desk?.user(req) ?? null })); return;
      case '/api/state': send(res, 200, 'application/json', JSON.stringify(state(source, url, clock()))); return;
      case '/api/history': send(res, 200, 'application/json', JSON.stringify(history(source, url))); return;
      case '/metrics': metrics(source, res); return;
      default: break;
    }
    const asset = assets.get(url.pathname);
    if (!asset) { send(res, 404, 'text/plain', `not found: ${url.pathname}\n`); return; }
    send(res, 200, asset.type, readFileSync(asset.file));
  } catch (err) {
    if (err instanceof BadRequest) { send(res, 400, 'text/plain', `${err.message}\n`); return; }
    send(res, 500, 'text/plain', `dashboard: ${url.pathname} failed: ${(err as Error).message}\n`);
  }
}

function metrics(source: DashboardSource, res: ServerResponse): void {
  const registry = source.registry;
  if (!registry) { send(res, 404, 'text/plain', 'not found: /metrics (no registry given to the dashboard)\n'); return; }
  registry.metrics().then((text) => send(res, 200, registry.contentType, text),
    (err: Error) => send(res, 500, 'text/plain', `metrics failed: ${err.message}\n`));
}

/** Serve the dashboard on host:port (loopback by default). */
export async function startDashboard(source: DashboardSource, opts: DashboardOptions = {}): Promise<Dashboard> {
  const assets = assetTable();
  for (const [path, a] of assets) if (!existsSync(a.file)) throw new Error(`dashboard: asset for ${path} missing at ${a.file}`);
  const clock = opts.clockMs ?? Date.now;
  const desk = opts.operators ? new OperatorDesk(opts.operators, clock) : null;
  const server = createServer((req, res) => route(source, assets, clock, desk, req, res));
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as { port: number }).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    close: () => new Promise<void>((resolve) => {
      // Polling browsers hold keep-alive sockets open: drop them so close() returns.
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

// ---------------------------------------------------------------------------
// Operators: log-in, sessions and commands. Everything here answers POSTs
// only when `operators` is given; the GET API above stays as it was.

/** Failed log-ins per key (an address, a username) in a fixed window; bounded, the oldest keys go first. */
class FailureLimiter {
  private readonly entries = new Map<string, { count: number; sinceMs: number }>();

  constructor(private readonly max: number, private readonly windowMs: number) {}

  /** ms until `key` may try again; 0 when it may now. */
  blockedFor(key: string, now: number): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    if (now - e.sinceMs >= this.windowMs) { this.entries.delete(key); return 0; }
    return e.count >= this.max ? e.sinceMs + this.windowMs - now : 0;
  }

  fail(key: string, now: number): void {
    const e = this.entries.get(key);
    if (e && now - e.sinceMs < this.windowMs) { e.count++; return; }
    this.entries.delete(key);
    if (this.entries.size >= LOGIN_KEYS_MAX) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { count: 1, sinceMs: now });
  }

  clear(key: string): void { this.entries.delete(key); }
}

/** A value from a request, quoted for a log line (JSON: a newline in a username cannot forge a line), at most 80 characters. */
function q(v: unknown): string {
  const s = typeof v === 'string' ? v : String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

/**
 * The CSRF defence, for every POST: the custom header (which a cross-site
 * form cannot send, and a cross-site fetch only after a CORS preflight this
 * server never grants), and, when the browser names them, an Origin on this
 * host and a same-origin Sec-Fetch-Site.
 */
function crossSite(req: IncomingMessage): string | null {
  if (req.headers['x-edgeloop-request'] !== '1') return "expected the header 'x-edgeloop-request: 1' (sent by the dashboard's own page)";
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return `expected a request from the dashboard's own page, received Sec-Fetch-Site ${q(site)}`;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let host: string | null = null;
    try { host = new URL(origin).host; } catch { host = null; }
    if (host !== req.headers.host) return `expected a request from the dashboard's own page, received Origin ${q(origin)}`;
  }
  return null;
}

/** A JSON object body of at most BODY_MAX_BYTES. */
async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new Refusal(415, 'expected a JSON body (content-type: application/json)');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > BODY_MAX_BYTES) throw new Refusal(413, `expected a body of at most ${BODY_MAX_BYTES} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { throw new Refusal(400, 'expected a JSON body'); }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Refusal(400, 'expected a JSON object');
  return body as Record<string, unknown>;
}

/** A string field of a body, at most `max` characters. */
function field(body: Record<string, unknown>, name: string, max: number, optional = false): string | undefined {
  const v = body[name];
  if (v === undefined && optional) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new Refusal(400, `'${name}': expected a string of 1-${max} characters`);
  return v;
}

class OperatorDesk {
  /** Keyed hashes: equal lengths for timingSafeEqual, and no password kept in memory. */
  private readonly key = randomBytes(32);
  private readonly logins: Map<string, Buffer>;
  private readonly nobody: Buffer;
  private readonly sessions = new Map<string, { user: string; expiresMs: number }>();
  private readonly byAddress = new FailureLimiter(LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MS);
  private readonly byUser = new FailureLimiter(LOGIN_FAILURES_PER_USER, LOGIN_WINDOW_MS);
  private inFlight = 0;

  constructor(private readonly ops: DashboardOperators, private readonly clock: () => number) {
    const operators = ops.users.filter((u) => u.role === 'operator');
    if (operators.length === 0) throw new Error("dashboard: no user with role 'operator' among the operators given: nobody could log in");
    this.logins = new Map(operators.map((u) => [u.username, this.mac(u.password)]));
    this.nobody = this.mac(randomBytes(32));
  }

  private mac(secret: string | Buffer): Buffer {
    return createHmac('sha256', this.key).update(secret).digest();
  }

  private log(what: string): void {
    try { this.ops.log(`dashboard: ${new Date(this.clock()).toISOString()} ${what}`); } catch { /* a logger's failure is not the dashboard's */ }
  }

  /** The session the request's cookie names, if it is live. */
  private session(req: IncomingMessage): { id: string; user: string } | null {
    const m = /(?:^|;\s*)edgeloop_session=([A-Za-z0-9_-]{1,100})(?:;|$)/.exec(req.headers.cookie ?? '');
    const s = m ? this.sessions.get(m[1]) : undefined;
    if (!m || !s) return null;
    if (this.clock() >= s.expiresMs) { this.sessions.delete(m[1]); return null; }
    return { id: m[1], user: s.user };
  }

  /** Who is logged in on this request, or null. */
  user(req: IncomingMessage): string | null { return this.session(req)?.user ?? null; }

  /** A POST to /api/login, /api/logout or /api/command; every failure is answered as JSON {error}. */
  post(path: string, req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, body: unknown, headers?: Record<string, string>) => send(res, status, 'application/json', JSON.stringify(body), headers);
    const handled = (async () => {
      const csrf = crossSite(req);
      if (csrf !== null) throw new Refusal(403, `refused: ${csrf}`);
      if (path === '/api/login') return this.login(req, reply);
      const s = this.session(req);
      if (path === '/api/logout') {
        if (s) { this.sessions.delete(s.id); this.log(`operator ${q(s.user)} logged out`); }
        return reply(200, { user: null }, { 'set-cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
      }
      if (!s) throw new Refusal(401, 'log in first: commands need an operator\'s session');
      return this.command(s.user, await readJsonBody(req), reply);
    })();
    handled.catch((err: Error) => {
      if (res.headersSent) return;
      if (err instanceof Refusal) reply(err.status, { error: err.message });
      else reply(500, { error: `dashboard: ${path} failed: ${err.message}` });
    });
  }

  private async login(req: IncomingMessage, reply: (status: number, body: unknown, headers?: Record<string, string>) => void): Promise<void> {
    const now = this.clock();
    const address = `address ${req.socket.remoteAddress ?? '?'}`;
    const body = await readJsonBody(req);
    const username = field(body, 'username', 256)!;
    const password = field(body, 'password', 1024)!;
    const wait = Math.max(this.byAddress.blockedFor(address, now), this.byUser.blockedFor(username, now));
    if (wait > 0) {
      this.log(`log-in for ${q(username)} from ${address} refused: too many failed log-ins (try again in ${Math.ceil(wait / 1000)} s)`);
      throw new Refusal(429, `too many failed log-ins: try again in ${Math.ceil(wait / 1000)} s`);
    }
    const known = this.logins.get(username);
    // The same work for an unknown username as for a wrong password: timing tells nothing.
    const match = timingSafeEqual(this.mac(password), known ?? this.nobody);
    if (!known || !match) {
      this.byAddress.fail(address, now);
      this.byUser.fail(username, now);
      this.log(`log-in refused for ${q(username)} from ${address}: bad username or password`);
      throw new Refusal(401, 'bad username or password');
    }
    this.byAddress.clear(address);
    for (const [id, s] of this.sessions) if (now >= s.expiresMs) this.sessions.delete(id);
    if (this.sessions.size >= SESSIONS_MAX) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const lifeMs = this.ops.sessionMs ?? SESSION_MS;
    this.sessions.set(id, { user: username, expiresMs: now + lifeMs });
    this.log(`operator ${q(username)} logged in from ${address}`);
    reply(200, { user: username }, { 'set-cookie': `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(lifeMs / 1000)}` });
  }

  private async command(user: string, body: Record<string, unknown>, reply: (status: number, body: unknown) => void): Promise<void> {
    const target = field(body, 'target', 256)!;
    const action = field(body, 'action', 32)!;
    const value = field(body, 'value', 64, true);
    if (this.inFlight >= COMMANDS_IN_FLIGHT_MAX) throw new Refusal(429, `${COMMANDS_IN_FLIGHT_MAX} commands are waiting for their acknowledgement already: try again shortly`);
    const what = `${q(target)} ${q(action)}${value === undefined ? '' : ` ${q(value)}`}`;
    // Logged before it goes out, and again with the answer: a command is on record even if its answer never comes.
    this.log(`operator ${q(user)} sends ${what}`);
    this.inFlight++;
    let answer: OperatorAnswer;
    try {
      answer = await this.ops.send(target, action, value);
    } finally {
      this.inFlight--;
    }
    this.log(`operator ${q(user)} ${what}: ${answer.result}: ${answer.line}`);
    reply(answer.result === 'invalid' ? 400 : answer.result === 'error' ? 502 : 200, answer);
  }
}
