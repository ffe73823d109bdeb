// The host's parts as commands, each runnable on its own machine against
// any MQTT broker: `edgeloop agent`, `edgeloop coordinator`, `edgeloop
// broker`. Each runs until SIGINT/SIGTERM and then shuts down cleanly (an
// agent's clean disconnect still lets the coordinator see it leave).

import { readFileSync } from 'node:fs';
import { Agent } from '../agent/agent.js';
import { loadPublicKey } from '../deploy/signing.js';
import { Coordinator } from '../coordinator/coordinator.js';
import { Core, DEFAULT_CORE_PATH } from '../runtime/core.js';
import { checkId } from '../mqtt/topics.js';
import { startEmbeddedBroker } from '../mqtt/broker.js';
import { SimDevice } from '../../firmware-sim/device.js';
import { FaultSchema } from '../../firmware-sim/scenario/schema.js';
import { PLANT_NAMES, type FaultSpec, type PlantName } from '../../firmware-sim/types.js';

export type Print = (line: string) => void;

/** Resolves on the first SIGINT or SIGTERM (or when `signal` aborts). */
export function untilStopped(signal?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(why);
    };
    const onInt = () => done('SIGINT');
    const onTerm = () => done('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    signal?.addEventListener('abort', () => done('aborted'), { once: true });
  });
}

/** `--fault kind@onsetS[:magnitude]`, validated like a scenario file's fault. */
export function parseFaultArg(value: string): FaultSpec {
  const m = /^([a-z]+\.[a-z_]+)@([0-9.]+)(?::(-?[0-9.eE+-]+))?$/.exec(value);
  if (!m) throw new Error(`--fault: expected <kind>@<onset s>[:<magnitude>] (e.g. actuator.reversed@60), got '${value}'`);
  const r = FaultSchema.safeParse({ kind: m[1], onsetS: Number(m[2]), magnitude: m[3] === undefined ? 0 : Number(m[3]) });
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`--fault: ${issue.path.join('.') || 'fault'}: ${issue.message} (got '${value}')`);
  }
  return r.data as FaultSpec;
}

export function idArg(field: string) {
  return (value: string): string => { checkId(field, value); return value; };
}

export interface AgentCommandOptions {
  broker: string;
  group: string;
  node: string;
  device: string;
  plant: PlantName;
  seed: number;
  setpoint?: number;
  dependsOn: string[];
  primaryHost?: string;
  username?: string;
  password?: string;
  core: string;
  fault?: FaultSpec;
  statusEvery: number;
  keepalive: number;
  fleetKey?: string;
}

/** One agent on a firmware-sim device, ticking in real time until stopped. */
export async function agentCommand(o: AgentCommandOptions, print: Print, signal?: AbortSignal): Promise<number> {
  if (!(PLANT_NAMES as readonly string[]).includes(o.plant)) throw new Error(`--plant: expected one of ${PLANT_NAMES.join(', ')}, got '${o.plant}'`);
  for (const d of o.dependsOn) {
    const parts = d.split('/');
    if (parts.length !== 3) throw new Error(`--depends-on: expected <group>/<node>/<device>, got '${d}'`);
    parts.forEach((p, i) => checkId(['group_id', 'edge_node_id', 'device_id'][i], p));
  }
  const device = new SimDevice({ plant: o.plant, seed: o.seed, faults: o.fault ? [o.fault] : [] });
  const moduleBytes = readFileSync(o.core);
  const core = Core.fromBytes(moduleBytes, o.core);
  core.configure(device.config);
  const fleetKey = o.fleetKey ? loadPublicKey(o.fleetKey) : undefined;
  const t0 = performance.now();
  const clockUs = () => Math.round((performance.now() - t0) * 1000);
  core.setSetpoint(o.setpoint ?? device.spec.setpoint, 0);
  const agent = new Agent({
    group: o.group, node: o.node, device: o.device, core, binding: device, broker: o.broker, clockUs,
    dependsOn: o.dependsOn, primaryHost: o.primaryHost, username: o.username, password: o.password, keepaliveS: o.keepalive,
    config: device.config, moduleBytes, fleetKey,
  });
  const key = `${o.group}/${o.node}/${o.device}`;
  print(`agent ${key}: ${device.spec.description}; setpoint ${core.setpoint} ${device.spec.units.measurement}; broker ${o.broker}` +
    (o.fault ? `; fault ${o.fault.kind} at t=${o.fault.onsetS} s` : ''));
  agent.start();
  let lastMode = core.mode as string;
  const status = setInterval(() => {
    const mode = core.mode;
    const cause = core.cause;
    if (mode !== lastMode) print(`agent ${key}: ${lastMode} -> ${mode}${cause ? ` (first out: ${cause.monitor} at the ${cause.stage} stage)` : ''}`);
    lastMode = mode;
  }, 100);
  const report = o.statusEvery > 0 ? setInterval(() => {
    print(`agent ${key}: t=${(clockUs() / 1e6).toFixed(0)} s ${core.mode} measurement ${core.measurement.toFixed(2)} output ${core.output.toFixed(1)} ` +
      `ticks ${agent.stats.ticks} published ${agent.stats.published} spooled ${agent.spoolLength}`);
  }, o.statusEvery * 1000) : null;
  const why = await untilStopped(signal);
  clearInterval(status);
  if (report) clearInterval(report);
  await agent.stop();
  print(`agent ${key}: stopped (${why}) after ${agent.stats.ticks} ticks`);
  return 0;
}

export interface CoordinatorCommandOptions {
  broker: string;
  hostId: string;
  contain: boolean;
  username?: string;
  password?: string;
  staleMs: number;
}

export async function coordinatorCommand(o: CoordinatorCommandOptions, print: Print, signal?: AbortSignal,
  extra: { onStart?: (c: Coordinator) => Promise<() => Promise<void>> } = {}): Promise<number> {
  const coord = new Coordinator({
    broker: o.broker, hostId: o.hostId, contain: o.contain, username: o.username, password: o.password, staleMs: o.staleMs,
    onDecision: (d) => print(`coordinator: ${d.action} ${d.agent}: ${d.reason}`),
  });
  const health = new Map<string, string>();
  const cycler = setInterval(() => {
    coord.cycle();
    for (const a of coord.agents.values()) {
      const s = `${a.health} ${a.mode}${a.cause ? ` (${a.cause})` : ''}`;
      if (health.get(a.key) !== s) print(`coordinator: ${a.key} ${s}`);
      health.set(a.key, s);
    }
  }, 50);
  const stopExtra = extra.onStart ? await extra.onStart(coord) : null;
  print(`coordinator ${o.hostId}: broker ${o.broker}; containment ${o.contain ? 'on' : 'off (observing)'}`);
  const why = await untilStopped(signal);
  clearInterval(cycler);
  await stopExtra?.();
  await coord.stop();
  print(`coordinator ${o.hostId}: stopped (${why})`);
  return 0;
}

export interface BrokerCommandOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
}

export async function brokerCommand(o: BrokerCommandOptions, print: Print, signal?: AbortSignal): Promise<number> {
  if ((o.username === undefined) !== (o.password === undefined)) throw new Error('--username and --password go together');
  const b = await startEmbeddedBroker({ host: o.host, port: o.port, credentials: o.username ? { username: o.username, password: o.password! } : undefined });
  print(`broker: listening at ${b.url}`);
  const why = await untilStopped(signal);
  await b.close();
  print(`broker: stopped (${why})`);
  return 0;
}

export { DEFAULT_CORE_PATH };
