// The command stream every target speaks (firmware-sim/pil/PROTOCOL.md):
// one line per call into the core, one reply line per command. The same
// stream, recorded from a V8 run, is replayed on every target; the replies
// to the T (tick) lines must match bit for bit.

import { createHash } from 'node:crypto';
import type { CoreExports } from '../../host/runtime/abi.js';

export type Command =
  | { op: 'I' }
  | { op: 'C'; id: number; value: number }
  | { op: 'K' }
  | { op: 'S'; sp: number; nowUs: number }
  | { op: 'R' }
  | { op: 'T'; nowUs: number; s0: number; s1: number; s2: number; fb: number };

export function encode(c: Command): string {
  switch (c.op) {
    case 'I': case 'K': case 'R': return c.op;
    case 'C': return `C ${c.id} ${c.value}`;
    case 'S': return `S ${c.sp} ${c.nowUs}`;
    case 'T': return `T ${c.nowUs} ${c.s0} ${c.s1} ${c.s2} ${c.fb}`;
  }
}

/** A target answers one command with one reply line. */
export type Target = (c: Command) => string;

/** The reference target: the raw exports of a core instance (V8 or any engine with the same exports). */
export function exportsTarget(raw: CoreExports): Target {
  let open = false;
  return (c) => {
    switch (c.op) {
      case 'I': open = false; return `ok ${raw.init()}`;
      case 'C': {
        if (!open) { raw.config_begin(); open = true; }
        return `ok ${raw.config_set(c.id, c.value)}`;
      }
      case 'K': open = false; return `ok ${raw.config_commit()}`;
      case 'S': return `ok ${raw.set_setpoint(c.sp, BigInt(c.nowUs))}`;
      case 'R': return `ok ${raw.reset()}`;
      case 'T': {
        const u = raw.tick(BigInt(c.nowUs), c.s0, c.s1, c.s2, c.fb);
        return `${u} ${raw.mode()} ${raw.next_interval_us()}`;
      }
    }
  };
}

/** Only the tick replies (what the actuator would see), for hashing and comparison. */
export function tickReplies(stream: readonly Command[], replies: readonly string[]): string[] {
  return replies.filter((_, i) => stream[i].op === 'T').map((r) => r.split(' ').slice(0, 3).join(' '));
}

export function traceHash(ticks: readonly string[]): string {
  return createHash('sha256').update(ticks.join('\n')).digest('hex');
}

/** The first tick at which two traces differ, or -1. */
export function firstDifference(a: readonly string[], b: readonly string[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}
