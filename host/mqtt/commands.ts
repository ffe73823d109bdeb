// Commands to an agent arrive as Sparkplug DCMD metrics. Each is validated
// before anything acts on it: a malformed or out-of-range command is
// rejected with an error naming the field, and never reaches a core.
//
//   command/id        String   the coordinator's command id (acknowledged in DDATA); without one the
//                              answer goes under the command metric's name (a SCADA host's tag write)
//   command/setpoint  Double   new setpoint, engineering units
//   command/mode      String   'fallback' (the fallback controller), 'trip' (de-energize the trip output)
//                              or 'release' (back to the guard's own choice): the core's demand()
//   command/reset     Boolean  true: the operator's reset; the core releases the latches whose condition is false now
//   command/param     String   "<name>=<value>", a core parameter (host/runtime/abi.ts names)
//   command/hold      Boolean  true: hold the loop (stop following its reference feed; without one, setpoint := measurement), for containment
//   command/release   Boolean  true: follow the reference feed again (ends a hold)
//   command/deploy    String   a new core module, base64 (at most MODULE_MAX_BYTES decoded), with
//   command/signature String   its Ed25519 signature by the fleet key, base64 (an accompanying field,
//                              not a command; a deploy without it is refused by the module gate)
//   command/rollback  Boolean  true: go back to the core the last deploy replaced
//
// A command payload carries at most COMMAND_METRICS_MAX metrics; every name
// under command/ must be one of the above and appear once (other metrics,
// notes say, are ignored). A parameter value is a decimal number, true,
// false or a name (a reaction, a monitor level or a direction), in at most
// PARAM_TEXT_MAX characters. Errors
// quote at most a few dozen characters of what was received: they travel
// back in acknowledgements.

import { z } from 'zod';
import { ACTIONS, DIRECTIONS, LEVELS, PARAM_IDS, type ParamName } from '../runtime/abi.js';
import type { Metric, Payload } from './codec.js';
import { MODULE_MAX_BYTES } from '../deploy/module.js';
import { fromBase64, SIGNATURE_BYTES } from '../deploy/signing.js';

export type AgentCommand =
  | { id: string; kind: 'setpoint'; value: number }
  | { id: string; kind: 'mode'; value: ModeDemand }
  | { id: string; kind: 'reset' }
  | { id: string; kind: 'hold' }
  | { id: string; kind: 'release' }
  | { id: string; kind: 'param'; name: ParamName; value: number | boolean | string }
  | { id: string; kind: 'deploy'; module: Uint8Array; signature: Uint8Array | null }
  | { id: string; kind: 'rollback' };

/** What command/mode asks of the guard: its fallback controller, the trip, or a return to its own choice. */
export const MODE_DEMANDS = ['fallback', 'trip', 'release'] as const;
export type ModeDemand = (typeof MODE_DEMANDS)[number];

/** The names a parameter value may be (reactions, monitor levels, directions; the core's format decides which fit). */
const PARAM_NAMES_ALLOWED: ReadonlySet<string> = new Set<string>([...ACTIONS, ...LEVELS, ...DIRECTIONS]);

/** The longest command/deploy value: base64 of MODULE_MAX_BYTES. */
export const DEPLOY_BASE64_MAX = 4 * Math.ceil(MODULE_MAX_BYTES / 3);

/** Most metrics in one command payload (id, command, signature, and a few notes). */
export const COMMAND_METRICS_MAX = 8;
/** Longest command/param text ("<name>=<value>"). */
export const PARAM_TEXT_MAX = 128;
/** Most characters of a received value quoted in an error. */
const QUOTE_MAX = 64;

function quote(v: unknown): string {
  const s = v === undefined ? 'undefined' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v) ?? String(v);
  return s.length > QUOTE_MAX ? `${s.slice(0, QUOTE_MAX)}... (${s.length} characters)` : s;
}

export class CommandError extends Error {
  constructor(readonly field: string, readonly expected: string, readonly received: unknown) {
    super(`${field}: expected ${expected}, received ${quote(received)}`);
    this.name = 'CommandError';
  }
}

const COMMAND_KEYS = ['command/setpoint', 'command/mode', 'command/reset', 'command/hold', 'command/release', 'command/param',
  'command/deploy', 'command/rollback'];

const KNOWN = new Set(['command/id', 'command/signature', ...COMMAND_KEYS]);

const Id = z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/);

/** A decimal number (no hex, no padding, no Infinity), true or false. */
const PARAM_VALUE = /^(-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|true|false)$/;

/** The payload's command id if it has a usable one (to acknowledge a command that is otherwise refused), else null. */
export function commandIdOf(p: Payload): string | null {
  const m = p.metrics.find((x) => x.name === 'command/id');
  const id = Id.safeParse(m?.value);
  return id.success ? id.data : null;
}

/** Who a refused command's answer goes to: its command/id, else the one command metric it named (a tag write), else nobody. */
export function answerIdOf(p: Payload): string | null {
  if (p.metrics.some((x) => x.name === 'command/id')) return commandIdOf(p);
  const named = p.metrics.filter((x) => COMMAND_KEYS.includes(x.name));
  return named.length === 1 ? named[0].name : null;
}

/** A host asks for a device's births again (Sparkplug B: Device Control/Rebirth). */
export const DEVICE_REBIRTH = 'Device Control/Rebirth';
/** A host asks for the node's births again (Sparkplug B: Node Control/Rebirth). */
export const NODE_REBIRTH = 'Node Control/Rebirth';

/**
 * The metrics of an agent's DBIRTH a SCADA host may write, the way it writes
 * a tag (Ignition, Tahu): a DCMD carrying the metric by its birth name and a
 * new value, with no edgeloop command metric. Each write is one command,
 * answered in DDATA as `command/ack` "<command id, else the metric's name>
 * ok" or "... rejected: <why>".
 *
 *   setpoint     Double   the new setpoint
 *   mode         String   fallback | trip | release (or the mode names FALLBACK, SAFE_STOP, NOMINAL)
 *   held         Boolean  true: hold the loop; false: follow its reference again
 *   guard/reset  Boolean  true: the operator's reset of the guard's latches
 *   param/<name> the parameter's own type (Double, Boolean, or String for a name): a core parameter
 */
export const HOST_WRITABLE = ['setpoint', 'mode', 'held', 'guard/reset'] as const;
/** Prefix of the writable core parameters in DBIRTH (`param/kp`). */
export const PARAM_PREFIX = 'param/';

/** A written metric's name as the id its answer goes under (a name with spaces or odd characters is answered as 'command'). */
const WRITE_ID = /^[A-Za-z0-9._:/-]{1,64}$/;

/** Whether a birth metric of this name is writable by a host. */
export function isWritable(name: string): boolean {
  return (HOST_WRITABLE as readonly string[]).includes(name) || (name.startsWith(PARAM_PREFIX) && PARAM_IDS.has(name.slice(PARAM_PREFIX.length) as ParamName));
}

/** The mode names a host may write to `mode`, and the demand each is. */
const MODE_WRITES: Readonly<Record<string, ModeDemand>> = { fallback: 'fallback', trip: 'trip', release: 'release', FALLBACK: 'fallback', SAFE_STOP: 'trip', NOMINAL: 'release' };

/** Whether a DCMD payload carries edgeloop's own command metrics (command/...), rather than a host's tag writes. */
export function isEdgeloopCommand(p: Payload): boolean {
  return p.metrics.some((m) => m.name.startsWith('command/') && m.name !== 'command/id');
}

/** A host's write that cannot be taken: answered under `id` with `reason`. */
export interface RefusedWrite { id: string; error: Error }

/**
 * A host's tag writes (no edgeloop command metric), one command per
 * written metric; a metric that is not writable, or a value of the wrong
 * kind, is refused with the reason (never the whole payload for one bad
 * write). The answer goes under the payload's command/id when it has one,
 * else under the metric's name.
 */
export function parseHostWrites(p: Payload): { commands: AgentCommand[]; refused: RefusedWrite[] } {
  const commands: AgentCommand[] = [];
  const refused: RefusedWrite[] = [];
  const given = commandIdOf(p);
  const writes = p.metrics.filter((m) => m.name !== 'command/id');
  if (writes.length > COMMAND_METRICS_MAX) {
    refused.push({ id: given ?? 'command', error: new CommandError('command', `at most ${COMMAND_METRICS_MAX} writes in one DCMD`, `${writes.length} metrics`) });
    return { commands, refused };
  }
  for (const m of writes) {
    const id = given ?? (WRITE_ID.test(m.name) ? m.name : 'command');
    try {
      commands.push({ id, ...parseWrite(m.name, m.value) });
    } catch (err) {
      refused.push({ id, error: err as Error });
    }
  }
  return { commands, refused };
}

/** One host write as a command (without its id), or a CommandError naming the metric. */
function parseWrite(name: string, v: unknown): CommandBody {
  switch (name) {
    case 'setpoint':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new CommandError(name, 'a finite number', v);
      return { kind: 'setpoint', value: v };
    case 'mode': {
      const demand = typeof v === 'string' ? MODE_WRITES[v] : undefined;
      if (!demand) throw new CommandError(name, `one of ${Object.keys(MODE_WRITES).join(', ')}`, v);
      return { kind: 'mode', value: demand };
    }
    case 'held':
      if (typeof v !== 'boolean') throw new CommandError(name, 'true (hold) or false (follow the reference again)', v);
      return v ? { kind: 'hold' } : { kind: 'release' };
    case 'guard/reset':
      if (v !== true) throw new CommandError(name, 'true', v);
      return { kind: 'reset' };
    default: {
      if (!name.startsWith(PARAM_PREFIX)) {
        throw new CommandError(name, `a writable metric (${HOST_WRITABLE.join(', ')}, ${PARAM_PREFIX}<parameter>, ${DEVICE_REBIRTH})`, name);
      }
      const param = name.slice(PARAM_PREFIX.length);
      if (!PARAM_IDS.has(param as ParamName)) throw new CommandError(name, 'a known core parameter name', param);
      if (typeof v === 'number' && Number.isFinite(v)) return { kind: 'param', name: param as ParamName, value: v };
      if (typeof v === 'boolean') return { kind: 'param', name: param as ParamName, value: v };
      if (typeof v === 'string' && PARAM_NAMES_ALLOWED.has(v)) return { kind: 'param', name: param as ParamName, value: v };
      throw new CommandError(name, `a finite number, true, false or a name (${[...PARAM_NAMES_ALLOWED].join(', ')})`, v);
    }
  }
}

/** A command without its id: what the coordinator asks of an agent. */
export type CommandBody = AgentCommand extends infer C ? C extends { id: string } ? Omit<C, 'id'> : never : never;

/**
 * The DCMD metrics of a command (after its command/id): the one encoding
 * the coordinator sends and parseCommand reads.
 */
export function encodeCommand(c: CommandBody): Metric[] {
  switch (c.kind) {
    case 'setpoint': return [{ name: 'command/setpoint', type: 'Double', value: c.value }];
    case 'mode': return [{ name: 'command/mode', type: 'String', value: c.value }];
    case 'reset': return [{ name: 'command/reset', type: 'Boolean', value: true }];
    case 'hold': return [{ name: 'command/hold', type: 'Boolean', value: true }];
    case 'release': return [{ name: 'command/release', type: 'Boolean', value: true }];
    case 'param': return [{ name: 'command/param', type: 'String', value: `${c.name}=${String(c.value)}` }];
    case 'rollback': return [{ name: 'command/rollback', type: 'Boolean', value: true }];
    case 'deploy': return encodeDeploy(Buffer.from(c.module).toString('base64'), c.signature ? Buffer.from(c.signature).toString('base64') : null);
    default: throw new Error(`no encoding for '${(c as { kind: string }).kind}' commands`);
  }
}

/** Parse edgeloop's command in a DCMD payload (exactly one command/* metric plus its command/id). */
export function parseCommand(p: Payload): AgentCommand {
  if (p.metrics.length > COMMAND_METRICS_MAX) throw new CommandError('command', `at most ${COMMAND_METRICS_MAX} metrics`, `${p.metrics.length} metrics`);
  const by = new Map<string, unknown>();
  for (const m of p.metrics) {
    if (!m.name.startsWith('command/')) continue;
    if (!KNOWN.has(m.name)) throw new CommandError(m.name, `a known command metric (${[...KNOWN].join(', ')})`, m.name);
    if (by.has(m.name)) throw new CommandError(m.name, 'once', 'twice');
    by.set(m.name, m.value);
  }
  const present = COMMAND_KEYS.filter((k) => by.has(k));
  let id: string;
  if (by.has('command/id')) {
    const given = Id.safeParse(by.get('command/id'));
    if (!given.success) throw new CommandError('command/id', 'a command id of 1-64 letters, digits, . _ : -', by.get('command/id'));
    id = given.data;
  } else {
    // Without a command/id (a SCADA host writing the declared command/* tag), the answer goes under the metric's name.
    id = present[0] ?? '';
  }
  if (present.length !== 1) {
    throw new CommandError('command', `exactly one of ${COMMAND_KEYS.join(', ')}`, present);
  }
  const key = present[0];
  const v = by.get(key);
  if (by.has('command/signature') && key !== 'command/deploy') {
    throw new CommandError('command/signature', 'only alongside command/deploy', key);
  }
  switch (key) {
    case 'command/setpoint':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new CommandError(key, 'a finite number', v);
      return { id, kind: 'setpoint', value: v };
    case 'command/mode':
      if (!(MODE_DEMANDS as readonly unknown[]).includes(v)) throw new CommandError(key, `one of ${MODE_DEMANDS.map((d) => `'${d}'`).join(', ')}`, v);
      return { id, kind: 'mode', value: v as ModeDemand };
    case 'command/reset':
      if (v !== true) throw new CommandError(key, 'true', v);
      return { id, kind: 'reset' };
    case 'command/hold':
      if (v !== true) throw new CommandError(key, 'true', v);
      return { id, kind: 'hold' };
    case 'command/release':
      if (v !== true) throw new CommandError(key, 'true', v);
      return { id, kind: 'release' };
    case 'command/deploy':
      return { id, kind: 'deploy', ...parseDeploy(v, by.get('command/signature')) };
    case 'command/rollback':
      if (v !== true) throw new CommandError(key, 'true', v);
      return { id, kind: 'rollback' };
    default: {
      const m = typeof v === 'string' && v.length <= PARAM_TEXT_MAX ? /^([a-z0-9_.]+)=(.+)$/.exec(v) : null;
      if (!m) throw new CommandError(key, `'<parameter>=<value>' in at most ${PARAM_TEXT_MAX} characters`, v);
      if (!PARAM_IDS.has(m[1] as ParamName)) throw new CommandError(key, 'a known core parameter name', m[1]);
      const raw = m[2];
      if (!PARAM_VALUE.test(raw) && !PARAM_NAMES_ALLOWED.has(raw)) {
        throw new CommandError(key, `a decimal number, true, false or a name (${[...PARAM_NAMES_ALLOWED].join(', ')}) after '='`, raw);
      }
      const value = raw === 'true' ? true : raw === 'false' ? false : PARAM_VALUE.test(raw) ? Number(raw) : raw;
      if (typeof value === 'number' && !Number.isFinite(value)) throw new CommandError(key, 'a finite number after \'=\'', raw);
      return { id, kind: 'param', name: m[1] as ParamName, value };
    }
  }
}

/** A deploy's metrics from the module and signature already in base64 (a rollout keeps them so). */
export function encodeDeploy(moduleB64: string, signatureB64: string | null): Metric[] {
  const out: Metric[] = [{ name: 'command/deploy', type: 'String', value: moduleB64 }];
  if (signatureB64 !== null) out.push({ name: 'command/signature', type: 'String', value: signatureB64 });
  return out;
}

/** The module and its signature, decoded; the gate (host/deploy/module.ts) judges them. */
function parseDeploy(v: unknown, sig: unknown): { module: Uint8Array; signature: Uint8Array | null } {
  const expected = `a WebAssembly module in base64 of at most ${DEPLOY_BASE64_MAX} characters (${MODULE_MAX_BYTES} bytes)`;
  if (typeof v !== 'string' || v.length === 0) throw new CommandError('command/deploy', expected, typeof v === 'string' ? v : typeof v);
  if (v.length > DEPLOY_BASE64_MAX) throw new CommandError('command/deploy', expected, `${v.length} characters`);
  const module = fromBase64(v);
  if (!module) throw new CommandError('command/deploy', expected, 'text that is not base64');
  if (module.length > MODULE_MAX_BYTES) throw new CommandError('command/deploy', expected, `${module.length} bytes`);
  if (sig === undefined) return { module, signature: null };
  const sigExpected = `a base64 Ed25519 signature (${SIGNATURE_BYTES} bytes)`;
  const signature = typeof sig === 'string' && sig.length <= 4 * Math.ceil(SIGNATURE_BYTES / 3) ? fromBase64(sig) : null;
  if (!signature || signature.length !== SIGNATURE_BYTES) throw new CommandError('command/signature', sigExpected, sig);
  return { module, signature };
}
