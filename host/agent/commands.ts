// The agent's commands: what a host sends (edgeloop's command/* metrics, or
// a SCADA host's write of a writable DBIRTH metric) is parsed and checked in
// the network callback and put in a bounded inbox; the tick applies it, and
// every command gets its answer in the next DDATA (`command/ack`, "<id> ok
// ..." or "<id> rejected: <why>"). Parsing and encoding live in
// host/mqtt/commands.ts, shared with the coordinator.

import type { Metric, Payload } from '../mqtt/codec.js';
import { answerIdOf, commandIdOf, isEdgeloopCommand, parseCommand, parseHostWrites, type AgentCommand, type ModeDemand } from '../mqtt/commands.js';
import type { ParamName } from '../runtime/abi.js';

/** What a command does to the loop: the agent's side of each. Each returns the ack's status after 'ok' (or nothing); each throws to refuse. */
export interface CommandTarget {
  setpoint(value: number, nowUs: number): void;
  reset(): string | void;
  hold(nowUs: number): void;
  release(): void;
  param(name: ParamName, value: number | boolean | string): void;
  deploy(module: Uint8Array, signature: Uint8Array | null, nowUs: number): string | void;
  rollback(nowUs: number): string | void;
  mode(demand: ModeDemand): string | void;
}

export interface CommandStats {
  commandsApplied: number;
  commandsRejected: number;
  inboxDropped: number;
  acksDropped: number;
}

/** Command acknowledgements carried by one DDATA at most. */
export const ACKS_PER_SAMPLE = 16;
/** Acknowledgements waiting for a DDATA, at most (a flood of refused commands is counted, not queued). */
const ACKS_PENDING_MAX = 256;
/** The longest acknowledgement status sent (an error that echoes a 50 KB value is cut: the ack is for a person to read). */
const ACK_STATUS_MAX = 300;

export function ack(id: string, status: string): Metric {
  const text = status.length > ACK_STATUS_MAX ? `${status.slice(0, ACK_STATUS_MAX)}... (${status.length} characters)` : status;
  return { name: 'command/ack', type: 'String', value: `${id} ${text}` };
}

export class CommandDesk {
  private readonly inbox: AgentCommand[] = [];
  private readonly acks: Metric[] = [];

  constructor(private readonly stats: CommandStats, private readonly inboxMax: number) {}

  /** Commands received and waiting for the next tick. */
  get waiting(): number { return this.inbox.length; }

  /** A DCMD from the network: parsed, checked and queued, or answered with why it was refused. */
  intake(p: Payload): void {
    if (isEdgeloopCommand(p)) {
      try {
        this.queue(parseCommand(p));
      } catch (err) {
        this.refuse(answerIdOf(p), err as Error);
      }
      return;
    }
    // A SCADA host's tag writes: each written metric is its own command, each refused one answered
    // (the message is counted once in commandsRejected, however many of its writes were refused).
    const { commands, refused } = parseHostWrites(p);
    if (!commands.length && !refused.length) {
      this.refuse(commandIdOf(p), new Error('command: expected a command/* metric with its command/id, or a write of a writable DBIRTH metric; received none'));
      return;
    }
    for (const c of commands) this.queue(c);
    if (refused.length) this.stats.commandsRejected++;
    for (const r of refused) this.answer(r.id, `rejected: ${r.error.message}`);
  }

  private queue(c: AgentCommand): void {
    if (this.inbox.length >= this.inboxMax) {
      this.stats.inboxDropped++;
      // Not taken in, but answered: its sender learns it must send it again.
      this.answer(c.id, `rejected: the agent's command inbox is full (${this.inboxMax} waiting); send it again`);
      return;
    }
    this.inbox.push(c);
  }

  /** Refused before the inbox: counted, and answered when it has a usable id (bounded, so a flood cannot grow it). */
  private refuse(id: string | null, err: Error): void {
    this.stats.commandsRejected++;
    if (id !== null) this.answer(id, `rejected: ${err.message}`);
  }

  /** An answer for the next DDATA; beyond ACKS_PENDING_MAX waiting (a flood) it is dropped and counted. */
  private answer(id: string, status: string): void {
    if (this.acks.length < ACKS_PENDING_MAX) this.acks.push(ack(id, status));
    else this.stats.acksDropped++;
  }

  /** Apply what waits, in order (from the tick). Returns whether anything was applied or refused. */
  drain(target: CommandTarget, nowUs: number): boolean {
    if (!this.inbox.length) return false;
    while (this.inbox.length) this.apply(this.inbox.shift()!, target, nowUs);
    return true;
  }

  /** The acknowledgements for the next DDATA (a bounded number; the rest wait for the one after). */
  takeAcks(): Metric[] {
    return this.acks.splice(0, ACKS_PER_SAMPLE);
  }

  private apply(c: AgentCommand, t: CommandTarget, now: number): void {
    let extra: string | void;
    try {
      switch (c.kind) {
        case 'setpoint': extra = t.setpoint(c.value, now); break;
        case 'reset': extra = t.reset(); break;
        case 'hold': extra = t.hold(now); break;
        case 'release': extra = t.release(); break;
        case 'param': extra = t.param(c.name, c.value); break;
        case 'deploy': extra = t.deploy(c.module, c.signature, now); break;
        case 'rollback': extra = t.rollback(now); break;
        case 'mode': extra = t.mode(c.value); break;
        default: throw new Error(`no handler for '${(c as { kind: string }).kind}' commands on this agent`);
      }
      this.stats.commandsApplied++;
      this.answer(c.id, extra ? `ok ${extra}` : 'ok');
    } catch (err) {
      this.stats.commandsRejected++;
      this.answer(c.id, `rejected: ${(err as Error).message}`);
    }
  }
}
