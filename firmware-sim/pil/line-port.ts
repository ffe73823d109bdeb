// The controller port over a LineTarget (the firmware under QEMU, the native
// harness, or the V8 reference): asynchronous, one protocol line per call
// (PROTOCOL.md). It keeps the transcript of every line and reply when asked,
// for replay on another target. What the protocol does not carry, it cannot
// give: the event log and the conditioned measurement.

import { Q16, type Core, type ParamName, type ParamValue } from '../../host/runtime/core.js';
import type { ControllerPort, TickReply, TickRequest } from '../loop/port.js';
import { cmd, configLines, okStatus, parseReply, ProtocolError, type OkReply, type TickReply as LineTickReply, type TrapReply } from './protocol.js';
import { tickCost, type TickCost } from './qemu.js';
import type { LineTarget } from './target.js';

export interface Transcript {
  lines: string[];
  replies: string[];
}

export class LinePort implements ControllerPort<'async'> {
  readonly name: string;
  readonly freshIntervalUs: number;
  readonly transcript: Transcript | undefined;
  private readonly setupLines: string[];
  private readonly reply: TickReply = { command: 0, mode: 0, nextIntervalUs: 0, trip: 0, trapped: false, cost: null };

  private constructor(private readonly target: LineTarget, meta: Core, config: Partial<Record<ParamName, ParamValue>>, transcript: boolean) {
    this.name = target.name;
    this.setupLines = [cmd.init(), ...configLines(meta, config)];
    // A fresh core proposes its shortest interval first.
    this.freshIntervalUs = Number(config.period_min_us);
    this.transcript = transcript ? { lines: [], replies: [] } : undefined;
  }

  /** A port to `target`, its core initialized and configured (`meta`: a local core for the parameter formats). */
  static async open(target: LineTarget, meta: Core, config: Partial<Record<ParamName, ParamValue>>, opts: { transcript?: boolean } = {}): Promise<LinePort> {
    const port = new LinePort(target, meta, config, opts.transcript === true);
    await port.restart();
    return port;
  }

  private async send(line: string): Promise<string> {
    const reply = await this.target.request(line);
    if (this.transcript) { this.transcript.lines.push(line); this.transcript.replies.push(reply); }
    return reply;
  }

  async setSetpoint(value: number, clockUs: number): Promise<boolean> {
    const line = cmd.setpoint(Math.round(value * Q16), clockUs);
    return okStatus(line, await this.send(line)) === 0;
  }

  async flip(addr: number, mask: number): Promise<void> {
    const line = cmd.flip(addr, mask);
    if (okStatus(line, await this.send(line)) !== 0) throw new ProtocolError(line, 'not ok', 'memory fault not applied');
  }

  /** The line protocol has no memory read: whether a corruption is left is not known. */
  async read(): Promise<null> {
    return null;
  }

  async tick(req: TickRequest): Promise<TickReply> {
    const line = cmd.tick(req.clockUs, req.s0, req.s1, req.s2, req.feedbackQ16);
    const reply: LineTickReply | TrapReply | OkReply = parseReply(line, await this.send(line));
    const r = this.reply;
    if (reply.kind === 'tick') {
      r.command = reply.commandQ16 / Q16;
      r.mode = reply.mode;
      r.nextIntervalUs = reply.nextIntervalUs;
      // The T reply's <trip> field; a target that does not send one never trips.
      r.trip = (reply as { trip?: number }).trip ?? 0;
      r.trapped = false;
      r.cost = reply.cost;
    } else if (reply.kind === 'trap') {
      // The firmware applied the safe output and restarted its core: configure it again.
      await this.restart();
      r.command = reply.safeOutputQ16 / Q16;
      r.mode = 0;                              // the fresh core's mode
      r.nextIntervalUs = this.freshIntervalUs; // and its first proposed interval
      r.trip = 1;                              // a trap de-energizes the trip output until the next good tick
      r.trapped = true;
      r.cost = null;
    } else {
      throw new ProtocolError(line, reply.fields.join(' '), 'expected a tick reply');
    }
    return r;
  }

  /** I, then the configuration (C ... K); a refused line is a ProtocolError. */
  async restart(): Promise<void> {
    for (const line of this.setupLines) {
      const reply = await this.send(line);
      if (okStatus(line, reply) !== 0) throw new ProtocolError(line, reply, 'configuration rejected');
    }
  }

  async events(): Promise<null> {
    return null;
  }

  async measurement(): Promise<number> {
    return NaN;
  }

  async finalMode(): Promise<null> {
    return null;
  }

  /** D: the first-out root cause's monitor and stage ids, or null when there is none. */
  async cause(): Promise<{ monitor: number; stage: number } | null> {
    const d = parseReply(cmd.diag(), await this.send(cmd.diag()));
    if (d.kind !== 'ok' || !(Number(d.fields[0]) >= 0)) return null;
    return { monitor: Number(d.fields[0]), stage: Number(d.fields[1]) };
  }

  /** P: the target's tick-cost statistics, when it measures them (not kept in the transcript). */
  async tickCost(): Promise<TickCost | null> {
    const reply = await this.target.request(cmd.cost());
    return reply.startsWith('ok none') ? null : tickCost({ request: async () => reply });
  }
}
