// The options of `agent`, `coordinator`, `dashboard` and `broker` from a
// configuration file (host/config/) and the command line together: the
// file gives every value, a flag given on the command line overrides it,
// and a flag's default never does. Without a file, the flags alone, with
// the password from --password-file or EDGELOOP_PASSWORD when not given.

import type { Command } from 'commander';
import { DEADBAND_METRICS } from '../agent/report.js';
import { loadAgentConfig } from '../config/agent.js';
import { loadBrokerConfig, loadCoordinatorConfig, loadDashboardConfig } from '../config/services.js';
import { passwordFromFlags } from '../config/file.js';
import type { AgentCommandOptions, BrokerCommandOptions, CoordinatorCommandOptions } from './system.js';

/** Whether the option `key` (commander's camelCase name) was given on the command line. */
export type Given = (key: string) => boolean;

export function givenOn(cmd: Command): Given {
  return (key) => cmd.getOptionValueSource(key) === 'cli';
}

/** `base` with every key the command line gave taken from `flags` instead. */
function overlay<T extends object>(base: T, flags: Record<string, unknown>, given: Given): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(flags)) if (given(k) && v !== undefined) out[k] = v;
  return out as T;
}

function required(value: string | undefined, flag: string, field: string): string {
  if (value === undefined) throw new Error(`${flag} is required (or give --config <file> with ${field})`);
  return value;
}

export type AgentFlags = Partial<AgentCommandOptions> & { config?: string; passwordFile?: string; deadband?: string[]; maxInterval?: number };

/** `--deadband measurement=0.05 ...` as deadbands by metric; an entry that is not `<metric>=<number >= 0>` is an error naming it. */
export function parseDeadbands(entries: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) {
    const m = /^([^=\s]+)=(.+)$/.exec(e);
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(v) || v < 0) throw new Error(`--deadband: expected <metric>=<a number >= 0 in its units>, e.g. measurement=0.05, got '${e}'`);
    if (!(DEADBAND_METRICS as readonly string[]).includes(m[1])) throw new Error(`--deadband: '${m[1]}' is not a numeric sample metric (${DEADBAND_METRICS.join(', ')})`);
    out[m[1]] = v;
  }
  return out;
}

/** Report by exception from the flags, over what the file says (each flag given wins). */
function withExceptions(o: AgentCommandOptions, flags: AgentFlags & { reportByException?: unknown }, given: Given): AgentCommandOptions {
  const on = given('reportByException') || o.reportByException !== undefined;
  if (!on) {
    if (given('deadband') || given('maxInterval')) throw new Error('--deadband and --max-interval apply with --report-by-exception (or report.mode: exception in the file)');
    return { ...o, reportByException: undefined };
  }
  const file = o.reportByException ?? {};
  return {
    ...o,
    reportByException: {
      deadband: given('deadband') ? parseDeadbands(flags.deadband ?? []) : file.deadband ?? {},
      maxIntervalMs: given('maxInterval') ? (flags.maxInterval ?? 10) * 1000 : file.maxIntervalMs ?? (flags.maxInterval ?? 10) * 1000,
    },
  };
}

export function agentOptions(raw: AgentFlags & { bdseqFile?: string }, givenRaw: Given): AgentCommandOptions {
  // commander names --bdseq-file `bdseqFile`; the option is bdSeqFile.
  const { bdseqFile, ...flagsRest } = raw;
  const flags: AgentFlags = bdseqFile === undefined ? flagsRest : { ...flagsRest, bdSeqFile: bdseqFile };
  const given: Given = (k) => givenRaw(k === 'bdSeqFile' ? 'bdseqFile' : k);
  const cliPassword = () => passwordFromFlags(flags);
  if (!flags.config) {
    return withExceptions({
      ...(flags as AgentCommandOptions),
      broker: required(flags.broker, '--broker', 'broker.url'),
      node: required(flags.node, '--node', 'identity.node'),
      password: cliPassword(),
    }, flags, given);
  }
  const L = loadAgentConfig(flags.config);
  const c = L.config;
  const b = c.binding;
  if (b.kind !== 'sim') {
    // These describe the simulated plant; with real I/O they would be ignored, and a fault announced that never comes.
    for (const [k, flag] of [['plant', '--plant'], ['seed', '--seed'], ['fault', '--fault']] as const) {
      if (given(k)) throw new Error(`${flag}: applies to a simulated plant only; ${flags.config} binds the loop to ${b.kind} I/O`);
    }
  }
  const base: AgentCommandOptions = {
    broker: c.broker.url, username: c.broker.username, password: L.password, keepalive: c.broker.keepaliveS,
    group: c.identity.group, node: c.identity.node, device: c.identity.device, primaryHost: c.primaryHost,
    plant: b.kind === 'sim' ? b.plant : (flags.plant ?? 'thermal'), seed: b.kind === 'sim' ? b.seed : (flags.seed ?? 1),
    fault: b.kind === 'sim' ? b.fault : undefined, io: b.kind === 'sim' ? undefined : b,
    setpoint: c.loop.setpoint, units: c.loop.units, tripDescription: c.loop.trip, description: c.loop.description,
    params: L.params, dependsOn: c.loop.dependsOn,
    core: L.corePath ?? flags.core!, isolateCore: c.core.isolate, coreDeadlineMs: c.core.deadlineMs,
    fleetKey: L.fleetKey, releaseFile: L.releaseFile, statusEvery: c.statusEveryS, bdSeqFile: L.bdSeqFile,
    reportByException: c.report.mode === 'exception' ? { deadband: c.report.deadband, maxIntervalMs: c.report.maxIntervalS * 1000 } : undefined,
  };
  const { reportByException: _flag, deadband: _d, maxInterval: _m, ...rest } = flags as AgentFlags & { reportByException?: unknown };
  const merged = overlay(base, rest as Record<string, unknown>, given);
  if (given('passwordFile') || given('password')) merged.password = cliPassword();
  return withExceptions(merged, flags, given);
}

export type ServiceFlags = Partial<CoordinatorCommandOptions> & { config?: string; passwordFile?: string; port?: number; commandPasswordFile?: string };

/** The command log-in's password from --command-password-file, when given. */
function withCommandPassword(o: CoordinatorCommandOptions, flags: ServiceFlags): CoordinatorCommandOptions {
  if (flags.commandPasswordFile === undefined) return o;
  return { ...o, commandPassword: passwordFromFlags({ passwordFile: flags.commandPasswordFile }) };
}

export function coordinatorOptions(flags: ServiceFlags, given: Given): CoordinatorCommandOptions {
  if (!flags.config) {
    return withCommandPassword({ ...(flags as CoordinatorCommandOptions), broker: required(flags.broker, '--broker', 'broker.url'), password: passwordFromFlags(flags) }, flags);
  }
  const L = loadCoordinatorConfig(flags.config);
  const c = L.config;
  const base: CoordinatorCommandOptions = {
    broker: c.broker.url, username: c.broker.username, password: L.password, hostId: c.hostId,
    contain: c.contain !== false, containWith: c.contain === false ? undefined : c.contain, staleMs: c.staleMs, reorderTimeoutMs: c.reorderTimeoutMs,
    db: L.db, retain: L.retainMs, dashboard: c.dashboard !== false,
    dashboardHost: c.dashboard === false ? '127.0.0.1' : c.dashboard.host, dashboardPort: c.dashboard === false ? 0 : c.dashboard.port,
    operators: L.operators?.usersFile, commandUsername: L.operators?.username, commandPassword: L.operators?.password,
  };
  const merged = overlay(base, flags as Record<string, unknown>, given);
  if (given('passwordFile') || given('password')) merged.password = passwordFromFlags(flags);
  return withCommandPassword(merged, flags);
}

/** The stand-alone dashboard: a passive coordinator. */
export function dashboardOptions(flags: ServiceFlags, given: Given): CoordinatorCommandOptions {
  const passive = { contain: false, passive: true, dashboard: true };
  if (!flags.config) {
    return withCommandPassword({ ...(flags as CoordinatorCommandOptions), ...passive, dashboardPort: flags.port!,
      broker: required(flags.broker, '--broker', 'broker.url'), password: passwordFromFlags(flags) }, flags);
  }
  const L = loadDashboardConfig(flags.config);
  const c = L.config;
  const base = {
    broker: c.broker.url, username: c.broker.username, password: L.password, hostId: c.hostId, staleMs: c.staleMs,
    db: L.db, retain: L.retainMs, dashboardHost: c.dashboard.host, port: c.dashboard.port,
    operators: L.operators?.usersFile, commandUsername: L.operators?.username, commandPassword: L.operators?.password,
  };
  const merged = overlay(base, flags as Record<string, unknown>, given);
  if (given('passwordFile') || given('password')) merged.password = passwordFromFlags(flags);
  const { port, ...rest } = merged;
  return withCommandPassword({ ...rest, ...passive, dashboardPort: port, contain: false }, flags);
}

export type BrokerFlags = Partial<BrokerCommandOptions> & { config?: string; passwordFile?: string };

export function brokerOptions(flags: BrokerFlags, given: Given): BrokerCommandOptions {
  const password = flags.username !== undefined ? passwordFromFlags(flags) : flags.password;
  if (!flags.config) return { ...(flags as BrokerCommandOptions), password };
  const L = loadBrokerConfig(flags.config);
  const base: BrokerCommandOptions = { host: L.host, port: L.port, userList: L.users };
  const merged = overlay(base, flags as Record<string, unknown>, given);
  if (given('users') || given('username')) merged.userList = undefined;
  if (given('username')) merged.password = password;
  return merged;
}
