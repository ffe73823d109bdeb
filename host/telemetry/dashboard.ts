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
//
// No authentication: bind it to loopback (the default) or put it behind
// something that authenticates.

import { readFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import type { AgentView, Decision, TrackedCommand } from '../coordinator/coordinator.js';
import type { RolloutView } from '../deploy/types.js';
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
  /** Host clock (ms since the epoch), for the default `since` windows. */
  clockMs?: () => number;
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

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).end(body);
}

function route(source: DashboardSource, assets: Map<string, Asset>, clock: () => number, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://dashboard');
  if (req.method !== 'GET') { send(res, 405, 'text/plain', `method ${req.method ?? '?'} not allowed: the dashboard is read-only (GET)\n`); return; }
  try {
    switch (url.pathname) {
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
  const server = createServer((req, res) => route(source, assets, clock, req, res));
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
