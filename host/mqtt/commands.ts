// Commands to an agent arrive as Sparkplug DCMD metrics. Each is validated
// before anything acts on it: a malformed or out-of-range command is
// rejected with an error naming the field, and never reaches a core.
//
//   command/id        String   the coordinator's command id (acknowledged in DDATA)
//   command/setpoint  Double   new setpoint, engineering units
//   command/mode      String   'fallback' (force) or 'release' (back to the supervisor's choice)
//   command/reset     Boolean  true: release latched monitors
//   command/param     String   "<name>=<value>", a core parameter (host/runtime/abi.ts names)
//   command/hold      Boolean  true: hold the loop (stop following its reference feed; without one, setpoint := measurement), for containment
//   command/release   Boolean  true: follow the reference feed again (ends a hold)

import { z } from 'zod';
import { PARAM_IDS, type ParamName } from '../runtime/abi.js';
import type { Payload } from './codec.js';

export type AgentCommand =
  | { id: string; kind: 'setpoint'; value: number }
  | { id: string; kind: 'mode'; value: 'fallback' | 'release' }
  | { id: string; kind: 'reset' }
  | { id: string; kind: 'hold' }
  | { id: string; kind: 'release' }
  | { id: string; kind: 'param'; name: ParamName; value: number | boolean | string };

export class CommandError extends Error {
  constructor(readonly field: string, readonly expected: string, readonly received: unknown) {
    super(`${field}: expected ${expected}, received ${JSON.stringify(received)}`);
    this.name = 'CommandError';
  }
}

const COMMAND_KEYS = ['command/setpoint', 'command/mode', 'command/reset', 'command/hold', 'command/release', 'command/param'];

const Id = z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/);

/** Parse the command in a DCMD payload (exactly one command metric plus its id). */
export function parseCommand(p: Payload): AgentCommand {
  const by = new Map(p.metrics.map((m) => [m.name, m.value]));
  const idRaw = by.get('command/id');
  const id = Id.safeParse(idRaw);
  if (!id.success) throw new CommandError('command/id', 'a command id of 1-64 letters, digits, . _ : -', idRaw);
  const present = COMMAND_KEYS.filter((k) => by.has(k));
  if (present.length !== 1) {
    throw new CommandError('command', `exactly one of ${COMMAND_KEYS.join(', ')}`, present);
  }
  const key = present[0];
  const v = by.get(key);
  switch (key) {
    case 'command/setpoint':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new CommandError(key, 'a finite number', v);
      return { id: id.data, kind: 'setpoint', value: v };
    case 'command/mode':
      if (v !== 'fallback' && v !== 'release') throw new CommandError(key, "'fallback' or 'release'", v);
      return { id: id.data, kind: 'mode', value: v };
    case 'command/reset':
      if (v !== true) throw new CommandError(key, 'true', v);
      return { id: id.data, kind: 'reset' };
    case 'command/hold':
      if (v !== true) throw new CommandError(key, 'true', v);
      return { id: id.data, kind: 'hold' };
    case 'command/release':
      if (v !== true) throw new CommandError(key, 'true', v);
      return { id: id.data, kind: 'release' };
    default: {
      const m = typeof v === 'string' ? /^([a-z0-9_.]+)=(.+)$/.exec(v) : null;
      if (!m) throw new CommandError(key, "'<parameter>=<value>'", v);
      if (!PARAM_IDS.has(m[1] as ParamName)) throw new CommandError(key, 'a known core parameter name', m[1]);
      const raw = m[2];
      const value = raw === 'true' ? true : raw === 'false' ? false : Number.isFinite(Number(raw)) ? Number(raw) : raw;
      return { id: id.data, kind: 'param', name: m[1] as ParamName, value };
    }
  }
}
