// The host's parts as commands, each runnable on its own machine against
// any MQTT broker: `edgeloop agent`, `edgeloop coordinator`, `edgeloop
// broker`. Each runs until SIGINT/SIGTERM and then shuts down cleanly (an
// agent's clean disconnect still lets the coordinator see it leave).

import { readFileSync } from 'node:fs';
import { Agent, type ExceptionOptions } from '../agent/agent.js';
import type { KeyObject } from 'node:crypto';
import { loadPublicKey, readSignatureFile, signatureRelease, verifyModule } from '../deploy/signing.js';
import { openTelemetry, serveDashboard } from './telemetry.js';
import { dashboardOperators } from './command.js';
import { serviceNotifier } from './service-notify.js';
import { Coordinator, type ContainAction } from '../coordinator/coordinator.js';
import { describeCause } from '../runtime/causes.js';
import { Core, DEFAULT_CORE_PATH } from '../runtime/core.js';
import { checkId } from '../mqtt/topics.js';
import { loadUsersFile, startEmbeddedBroker } from '../mqtt/broker.js';
import { SimDevice } from '../../firmware-sim/device.js';
import type { IoBinding } from '../io/binding.js';
import { createBinding, type BindingConfig } from '../io/config.js';
import type { CoreConfig } from '../agent/core-slot.js';
import type { User } from '../mqtt/acl.js';
import { FaultSchema } from '../../firmware-sim/scenario/schema.js';
import { PLANT_NAMES, type FaultSpec, type PlantName } from '../../firmware-sim/types.js';

export type Print = (line: string) => void;

/** A broker URL as it is printed: a password in it (mqtt://user:secret@host) is not. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/** Resolves on the first SIGINT or SIGTERM (or when `signal` aborts). */
/** `edgeloop agent` exits with this when another agent took its node over (docs/host.md). */
export const EXIT_REPLACED = 5;

export function untilStopped(signal?: AbortSignal): Promise<string> {
  if (signal?.aborted) return Promise.resolve('aborted');
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
  /** Run the core in a worker thread with a deadline per call (default true). */
  isolateCore?: boolean;
  /** That deadline, ms (default ISOLATE_DEADLINE_MS, 1 s). */
  coreDeadlineMs?: number;
  /** Keep the highest accepted release here across restarts. */
  releaseFile?: string;
  /** Keep the last session's bdSeq here across restarts. */
  bdSeqFile?: string;
  /** Report by exception (deadbands, longest silence) instead of every metric every tick. */
  reportByException?: ExceptionOptions;
  /** A real binding (Modbus, sysfs) instead of the simulated plant; then `setpoint`, `units` and `params` describe the loop. */
  io?: BindingConfig;
  /** Core parameters over the plant's (or, with `io`, over the core's defaults). */
  params?: CoreConfig;
  units?: { measurement: string; command: string };
  /** What the loop is, and what its trip does, for the console. */
  description?: string;
  tripDescription?: string;
}

/** The loop's I/O: the binding, the core configuration and what to say about it. */
interface LoopIo {
  binding: IoBinding;
  config: CoreConfig;
  units: { measurement: string; command: string };
  setpoint: number;
  description: string;
  tripDescription: string;
  close(): Promise<void>;
}

/** A real binding from its configuration, started (connected, first sample read). */
async function realIo(o: AgentCommandOptions, io: BindingConfig, print: Print): Promise<LoopIo> {
  if (o.setpoint === undefined || o.units === undefined) throw new Error(`a ${io.kind} binding needs the loop's setpoint and units (loop.setpoint, loop.units)`);
  const key = `${o.group}/${o.node}/${o.device}`;
  // Said once per change of state (a device that stops answering, and again when it answers), not on every retry.
  const binding = createBinding(io, { onError: (m: string) => print(`agent ${key}: I/O: ${m}`) });
  await binding.start();
  return {
    binding, config: o.params ?? {}, units: o.units, setpoint: o.setpoint,
    description: o.description ?? `${io.kind} I/O`, tripDescription: o.tripDescription ?? 'the trip output de-energized',
    close: () => binding.close(),
  };
}

/** The simulated plant of firmware-sim/, with the parameters given over its own. */
function simIo(o: AgentCommandOptions): LoopIo {
  const device = new SimDevice({ plant: o.plant, seed: o.seed, faults: o.fault ? [o.fault] : [] });
  return {
    binding: device, config: { ...device.config, ...(o.params ?? {}) }, units: o.units ?? device.spec.units,
    setpoint: o.setpoint ?? device.spec.setpoint, description: o.description ?? device.spec.description,
    tripDescription: o.tripDescription ?? device.tripDescription, close: async () => {},
  };
}

/** One agent on a firmware-sim device, ticking in real time until stopped. */
export async function agentCommand(o: AgentCommandOptions, print: Print, signal?: AbortSignal): Promise<number> {
  if (!(PLANT_NAMES as readonly string[]).includes(o.plant)) throw new Error(`--plant: expected one of ${PLANT_NAMES.join(', ')}, got '${o.plant}'`);
  for (const d of o.dependsOn) {
    const parts = d.split('/');
    if (parts.length !== 3) throw new Error(`--depends-on: expected <group>/<node>/<device>, got '${d}'`);
    parts.forEach((p, i) => checkId(['group_id', 'edge_node_id', 'device_id'][i], p));
  }
  const moduleBytes = readFileSync(o.core);
  const core = Core.fromBytes(moduleBytes, o.core);
  const loop = o.io ? await realIo(o, o.io, print) : simIo(o);
  try {
    core.configure(loop.config);
  } catch (err) {
    await loop.close();
    throw err;
  }
  const fleetKey = o.fleetKey ? loadPublicKey(o.fleetKey) : undefined;
  // The starting core's release, when its signature is beside it and verifies: a deploy of an older one is then refused.
  const moduleRelease = fleetKey ? startingRelease(o.core, moduleBytes, fleetKey) : 0;
  const t0 = performance.now();
  const clockUs = () => Math.round((performance.now() - t0) * 1000);
  core.setSetpoint(loop.setpoint, 0);
  const key = `${o.group}/${o.node}/${o.device}`;
  // Another agent took this node over (the bdSeq file moved on): two loops must never drive one plant.
  const replaced = new AbortController();
  const agent = new Agent({
    group: o.group, node: o.node, device: o.device, core, binding: loop.binding, broker: o.broker, clockUs,
    dependsOn: o.dependsOn, primaryHost: o.primaryHost, username: o.username, password: o.password, keepaliveS: o.keepalive,
    config: loop.config, moduleBytes, moduleRelease, fleetKey, units: loop.units, isolate: (o.isolateCore ?? true) ? { deadlineMs: o.coreDeadlineMs } : false, releaseFile: o.releaseFile,
    bdSeqFile: o.bdSeqFile, reportByException: o.reportByException,
    onSuperseded: (message) => { print(`agent ${key}: ERROR: ${message}; stopping the loop (the replacement drives it now)`); replaced.abort(); },
    onCoreEvent: (e) => {
      if (e.kind === 'trip_out') {
        print(e.tripped ? `agent ${key}: TRIP: trip output de-energized (${loop.tripDescription.split(':')[0]}); cause ${describeCause(e.reason)}${e.stage ? ` at the ${e.stage} stage` : ''}`
          : `agent ${key}: trip released: trip output energized again`);
      } else if (e.kind === 'trip_failed') {
        print(`agent ${key}: TRIP FAILED: the actuator's feedback does not show the trip (cause ${describeCause(e.reason)})`);
      } else if (e.kind === 'demand') {
        print(`agent ${key}: demand from the host: ${e.demand}`);
      } else if (e.kind === 'invariant') {
        print(e.stage === null
          ? `agent ${key}: CORE INVARIANT BROKEN (a bug in the core): ${e.reason} (value ${e.value}); the loop latches SAFE_STOP until a reset`
          : `agent ${key}: core invariant broken under a corrupted configuration (${e.reason}); the table was scrubbed and repaired at once`);
      }
    },
    onLoginRefused: (why) => print(`agent ${key}: ERROR: ${why} (${shownUrl(o.broker)}${o.username ? `, user '${o.username}'` : ', no username given'}); ` +
      'the loop runs on and spools its samples; retrying'),
    onTrap: (t) => {
      print(`agent ${key}: CORE TRAPPED (${t.error.message}): safe output written, trip output de-energized; ` +
        (t.action === 'failed' ? 'the core could not be restarted: the safe output holds, tried again next tick' : `core ${t.action === 'rollback' ? 'rolled back to' : 'restarted,'} ${t.version}`));
    },
  });
  if (fleetKey && moduleRelease === 0) {
    print(`agent ${key}: WARNING: ${o.core} has no signature beside it that verifies with the fleet key: its release is taken as 0, so any signed release is newer ` +
      `(sign it: edgeloop sign ${o.core} --key fleet.key)`);
  }
  print(`agent ${key}: ${loop.description}; setpoint ${core.setpoint} ${loop.units.measurement}; broker ${shownUrl(o.broker)}` +
    (o.fault ? `; fault ${o.fault.kind} at t=${o.fault.onsetS} s` : ''));
  agent.start();
  // Under systemd (Type=notify, WatchdogSec=): ready now; the keep-alive only while the loop ticks.
  let ticksSeen = -1;
  const notifier = serviceNotifier({ healthy: () => { const t = agent.stats.ticks; const ok = t !== ticksSeen; ticksSeen = t; return ok; }, onError: print });
  notifier.ready(`loop ${key} running`);
  // From here on only agent.core: with an isolated core (the default) `core` was never ticked, and a deploy replaces the running one.
  let lastMode = agent.core.mode as string;
  const status = setInterval(() => {
    const mode = agent.core.mode;   // the running core: a deploy, a rollback or a trap's restart replaces it
    const cause = agent.core.cause;
    if (mode !== lastMode) print(`agent ${key}: ${lastMode} -> ${mode}${cause ? ` (first out: ${cause.monitor} at the ${cause.stage} stage)` : ''}`);
    lastMode = mode;
  }, 100);
  const report = o.statusEvery > 0 ? setInterval(() => {
    const running = agent.core;
    print(`agent ${key}: t=${(clockUs() / 1e6).toFixed(0)} s ${running.mode} measurement ${running.measurement.toFixed(2)} output ${running.output.toFixed(1)} ` +
      `ticks ${agent.stats.ticks} published ${agent.stats.published} spooled ${agent.spoolLength}` + (agent.stats.traps ? ` traps ${agent.stats.traps}` : ''));
  }, o.statusEvery * 1000) : null;
  const why = await untilStopped(signal ? AbortSignal.any([signal, replaced.signal]) : replaced.signal);
  notifier.close();
  clearInterval(status);
  if (report) clearInterval(report);
  await agent.stop();
  await loop.close();
  print(`agent ${key}: stopped (${replaced.signal.aborted ? 'replaced by another agent' : why}) after ${agent.stats.ticks} ticks`);
  return replaced.signal.aborted ? EXIT_REPLACED : 0;
}

export interface CoordinatorCommandOptions {
  broker: string;
  hostId: string;
  contain: boolean;
  /** How a dependent is contained (default 'hold'). */
  containWith?: ContainAction;
  username?: string;
  password?: string;
  staleMs: number;
  /** Sparkplug's Reorder Timeout: a seq gap not filled within it asks the node for a rebirth (default 2000 ms). */
  reorderTimeoutMs?: number;
  db: string;
  retain?: number;
  dashboard: boolean;
  dashboardHost: string;
  dashboardPort: number;
  /** Observe only: no STATE, no commands, no rebirth requests (the dashboard on its own). */
  passive?: boolean;
  /**
   * A users file whose users with role operator may log in to the dashboard
   * and command the loops (without it the dashboard is read-only). Their
   * commands go out under `commandUsername` (an operator or coordinator
   * broker user; default: this part's own log-in).
   */
  operators?: string;
  commandUsername?: string;
  commandPassword?: string;
}

/** The signed release of a core file whose `.sig` is beside it and verifies with the fleet key, else 0. */
function startingRelease(path: string, bytes: Uint8Array, key: KeyObject): number {
  try {
    const sig = readSignatureFile(path, { forModule: true });
    return verifyModule(bytes, sig, key) ? signatureRelease(sig) ?? 0 : 0;
  } catch {
    return 0;
  }
}

/** The coordinator (or, passive, an observer) with the telemetry history and the dashboard, until stopped. */
export async function coordinatorCommand(o: CoordinatorCommandOptions, print: Print, signal?: AbortSignal): Promise<number> {
  // A bad operators file is said before anything is created (the telemetry database) or connected.
  if (o.dashboard && o.operators) loadUsersFile(o.operators);
  const telemetry = openTelemetry({ db: o.db, retainMs: o.retain });
  const role = o.passive ? 'dashboard' : 'coordinator';
  const coord = new Coordinator({
    broker: o.broker, hostId: o.hostId, contain: o.contain && !o.passive ? o.containWith ?? 'hold' : false, passive: o.passive,
    username: o.username, password: o.password, staleMs: o.staleMs, reorderTimeoutMs: o.reorderTimeoutMs,
    onData: (k, p, ms) => telemetry.recorder.record(k, p, ms),
    onBirth: (k, p) => telemetry.recorder.birth(k, p),
    onDecision: (d) => print(`${role}: ${d.action} ${d.agent}: ${d.reason}`),
    onLoginRefused: (why) => print(`${role}: ERROR: ${why} (${shownUrl(o.broker)}${o.username ? `, user '${o.username}'` : ', no username given'}); retrying`),
  });
  const health = new Map<string, string>();
  let storeError: string | null = null;
  const cycler = setInterval(() => {
    coord.cycle();
    // The history's writes: a failure is said once, and so is the recovery (rows wait meanwhile and are retried).
    const h = telemetry.store.health;
    if (h.lastError !== storeError) {
      print(h.lastError !== null
        ? `${role}: ERROR: telemetry history not written (${h.lastError}); ${h.pending} rows waiting, retried with back-off; the loops are not affected`
        : `${role}: telemetry history written again (${h.writeErrors} failed writes, ${h.dropped} rows dropped)`);
      storeError = h.lastError;
    }
    for (const a of coord.agents.values()) {
      const s = `${a.health} ${a.mode}${a.cause ? ` (${a.cause})` : ''}`;
      if (health.get(a.key) !== s) print(`${role}: ${a.key} ${s}`);
      health.set(a.key, s);
    }
  }, 10);
  let dash: Awaited<ReturnType<typeof serveDashboard>> | null = null;
  let desk: ReturnType<typeof dashboardOperators> | null = null;
  try {
    desk = o.dashboard && o.operators ? dashboardOperators({ usersFile: o.operators, broker: o.broker,
      username: o.commandUsername ?? o.username, password: o.commandUsername ? o.commandPassword : o.password }, print) : null;
    dash = o.dashboard ? await serveDashboard(() => coord, telemetry.store, { host: o.dashboardHost, port: o.dashboardPort, operators: desk?.operators }) : null;
    print(`${role} ${o.hostId}: broker ${shownUrl(o.broker)}; ${o.passive ? 'observing' : `containment ${o.contain ? 'on' : 'off (observing)'}`}; ` +
      `telemetry in ${o.db}${dash ? `; dashboard ${dash.url} (metrics ${dash.url}metrics)${desk ? ', operators may log in and command' : ', read-only'}` : ''}`);
    const notifier = serviceNotifier({ onError: print });
    notifier.ready(`${role} ${o.hostId} serving`);
    const why = await untilStopped(signal);
    notifier.close();
    print(`${role} ${o.hostId}: stopping (${why})`);
    return 0;
  } finally {
    clearInterval(cycler);
    await dash?.close();
    await desk?.close();
    await coord.stop();
    telemetry.close();
  }
}

export interface BrokerCommandOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  users?: string;
  /** Users from a broker configuration file (host/config/services.ts). */
  userList?: User[];
}

export async function brokerCommand(o: BrokerCommandOptions, print: Print, signal?: AbortSignal): Promise<number> {
  if ((o.username === undefined) !== (o.password === undefined)) throw new Error('--username and --password (or --password-file, or EDGELOOP_PASSWORD) go together');
  const users = o.users ? loadUsersFile(o.users) : o.userList;
  const b = await startEmbeddedBroker({ host: o.host, port: o.port, users, credentials: o.username ? { username: o.username, password: o.password! } : undefined });
  print(`broker: listening at ${b.url}${b.secured ? ' (log-in required; per-agent ACLs)' : ' (open: loopback only, no log-in)'}`);
  const notifier = serviceNotifier({ onError: print });
  notifier.ready(`broker listening at ${b.url}`);
  const why = await untilStopped(signal);
  notifier.close();
  await b.close();
  const c = b.counters;
  print(`broker: stopped (${why}); refused: ${c.denied.publish} publishes, ${c.denied.subscribe} subscriptions, ${c.authFailed} log-ins`);
  return 0;
}

export { DEFAULT_CORE_PATH };
