// A Prometheus /metrics endpoint (prom-client) over the coordinator's view
// of the fleet: agents by health, by mode and tripped, commands by state,
// containment decisions and rejected messages. Collected on scrape, never in the loop.

import { createServer, type Server } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import type { Coordinator } from '../coordinator/coordinator.js';
import type { StoreHealth, TelemetryStore } from './store.js';

export function coordinatorRegistry(coord: Coordinator, store?: TelemetryStore): Registry {
  const registry = new Registry();
  if (store) storeGauges(registry, store);
  new Gauge({
    name: 'edgeloop_agents', help: 'edgeloop loops known to the coordinator, by health', labelNames: ['health'], registers: [registry],
    collect() {
      this.reset();
      const loops = [...coord.agents.values()].filter((a) => a.kind === 'edgeloop');
      for (const h of ['online', 'stale', 'dead']) this.set({ health: h }, loops.filter((a) => a.health === h).length);
    },
  });
  new Gauge({
    name: 'edgeloop_foreign_devices', help: 'Devices of other Sparkplug edge nodes the coordinator tracks (not edgeloop loops), by health',
    labelNames: ['health'], registers: [registry],
    collect() {
      this.reset();
      const foreign = [...coord.agents.values()].filter((a) => a.kind !== 'edgeloop');
      for (const h of ['online', 'stale', 'dead']) this.set({ health: h }, foreign.filter((a) => a.health === h).length);
    },
  });
  new Gauge({
    name: 'edgeloop_rebirth_requests', help: 'Rebirth requests sent to edge nodes (data without a birth, after a death, or a gap in seq), and those held back by the rate limit',
    labelNames: ['state'], registers: [registry],
    collect() {
      this.set({ state: 'sent' }, coord.rebirths.requested);
      this.set({ state: 'limited' }, coord.rebirths.limited);
    },
  });
  new Gauge({
    name: 'edgeloop_seq_gaps', help: 'Gaps in an edge node\'s seq not filled within the Reorder Timeout', registers: [registry],
    collect() { this.set(coord.seqGaps); },
  });
  new Gauge({
    name: 'edgeloop_agents_by_mode', help: 'Agents by supervisor mode', labelNames: ['mode'], registers: [registry],
    collect() {
      this.reset();
      for (const m of ['NOMINAL', 'DEGRADED', 'FALLBACK', 'SAFE_STOP']) this.set({ mode: m }, [...coord.agents.values()].filter((a) => a.mode === m).length);
    },
  });
  new Gauge({
    name: 'edgeloop_agents_tripped', help: 'Agents whose trip output is de-energized, and those whose trip did not take effect',
    labelNames: ['state'], registers: [registry],
    collect() {
      this.reset();
      const agents = [...coord.agents.values()];
      this.set({ state: 'tripped' }, agents.filter((a) => a.tripped).length);
      this.set({ state: 'trip_failed' }, agents.filter((a) => a.tripped && a.guard.includes('trip_failed')).length);
    },
  });
  new Gauge({
    name: 'edgeloop_commands', help: 'Commands sent, by state', labelNames: ['state'], registers: [registry],
    collect() {
      this.reset();
      for (const s of ['sent', 'acked', 'rejected', 'timeout']) this.set({ state: s }, [...coord.commands.values()].filter((c) => c.state === s).length);
    },
  });
  new Gauge({
    name: 'edgeloop_containment_decisions', help: 'Containment decisions taken', registers: [registry],
    collect() { this.set(coord.decisions.length); },
  });
  new Gauge({
    name: 'edgeloop_messages_rejected', help: 'Inbound messages rejected', labelNames: ['reason'], registers: [registry],
    collect() {
      this.set({ reason: 'malformed' }, coord.rejected.malformed);
      this.set({ reason: 'inbox_full' }, coord.rejected.dropped);
      this.set({ reason: 'too_many_devices' }, coord.rejected.tooManyDevices ?? 0);
      this.set({ reason: 'too_many_nodes' }, coord.rejected.tooManyNodes);
      this.set({ reason: 'unborn' }, coord.rejected.unborn);
      this.set({ reason: 'stale_death' }, coord.rejected.staleDeaths);
    },
  });
  new Gauge({
    name: 'edgeloop_metrics_skipped', help: 'Inbound metrics skipped one by one (a type the coordinator does not read, an alias no birth declared)', registers: [registry],
    collect() { this.set(coord.rejected.skippedMetrics); },
  });
  new Gauge({
    name: 'edgeloop_state_reasserted', help: 'Offline STATE messages on the coordinator\'s own topic answered with its online STATE', registers: [registry],
    collect() { this.set(coord.stateReasserted); },
  });
  return registry;
}

/** The history's writes: failing, rows waiting, failed writes, rows dropped and duplicates not stored twice. */
function storeGauges(registry: Registry, store: TelemetryStore): void {
  const gauge = (name: string, help: string, read: (h: StoreHealth) => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read(store.health)); } });
  gauge('edgeloop_store_failing', 'The telemetry history is not being written (1: the last write failed; its rows wait and are retried)', (h) => (h.lastError === null ? 0 : 1));
  gauge('edgeloop_store_pending_rows', 'Telemetry rows waiting to be written', (h) => h.pending);
  gauge('edgeloop_store_write_errors', 'Telemetry writes that failed (kept and retried)', (h) => h.writeErrors);
  gauge('edgeloop_store_dropped_rows', 'Telemetry rows dropped: more waited than the store keeps while writes fail', (h) => h.dropped);
  gauge('edgeloop_store_duplicate_rows', 'Telemetry rows already stored (a replay or a restart), not stored twice', (h) => h.duplicates);
}

/** Serve GET /metrics on host:port (loopback by default). */
export async function startMetricsServer(coord: Coordinator, opts: { host?: string; port?: number } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const registry = coordinatorRegistry(coord);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(text);
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`);
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, host, () => resolve()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://${host}:${port}/metrics`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
