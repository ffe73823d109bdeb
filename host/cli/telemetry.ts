// Field telemetry around a coordinator (or an observer): the SQLite history
// the recorder writes, and the dashboard (with /metrics) that reads it and
// the coordinator's live view. Shared by `edgeloop coordinator`,
// `edgeloop dashboard` and `edgeloop demo`.

import type { Coordinator } from '../coordinator/coordinator.js';
import { startDashboard, type Dashboard, type DashboardOperators } from '../telemetry/dashboard.js';
import { coordinatorRegistry } from '../telemetry/metrics.js';
import { Recorder } from '../telemetry/recorder.js';
import { TelemetryStore } from '../telemetry/store.js';

export interface TelemetryOptions {
  /** SQLite file (':memory:' keeps nothing). */
  db: string;
  /** History kept, ms (default: a week). */
  retainMs?: number;
  clockMs?: () => number;
}

export interface Telemetry {
  store: TelemetryStore;
  recorder: Recorder;
  close(): void;
}

export const RETAIN_DEFAULT_MS = 7 * 24 * 3600_000;

export function openTelemetry(o: TelemetryOptions): Telemetry {
  const store = new TelemetryStore(o.db, { retainMs: o.retainMs ?? RETAIN_DEFAULT_MS });
  const recorder = new Recorder(store, { clockMs: o.clockMs });
  return {
    store, recorder,
    close: () => { recorder.close(); store.close(); },
  };
}

/** Serve the dashboard over a coordinator's view and the telemetry history. */
export function serveDashboard(coord: () => Coordinator | null, store: TelemetryStore,
  o: { host?: string; port?: number; clockMs?: () => number; operators?: DashboardOperators }): Promise<Dashboard> {
  let registry: ReturnType<typeof coordinatorRegistry> | undefined;
  const c = coord();
  if (c) registry = coordinatorRegistry(c, store);
  return startDashboard({
    agents: () => [...(coord()?.agents.values() ?? [])],
    decisions: () => coord()?.decisions ?? [],
    commands: () => [...(coord()?.commands.values() ?? [])],
    rollout: () => coord()?.rollout() ?? null,
    store,
    registry,
  }, o);
}

/** '7d', '12h', '30m', '90s' or milliseconds, as ms. */
export function parseDuration(value: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new Error(`${field}: expected a duration such as 7d, 12h, 30m, 90s or 500ms, got '${value}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms'];
  const ms = Number(m[1]) * unit;
  if (!(ms >= 1000)) throw new Error(`${field}: expected at least 1 s, got '${value}'`);
  return ms;
}
