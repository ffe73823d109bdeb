// The firmware under QEMU: build/firmware/edgeloop-m3.elf on mps2-an385
// (Cortex-M3) or edgeloop-m4.elf on mps2-an386 (Cortex-M4), the line
// protocol on UART0, which QEMU connects to its stdio.
//
// Instructions per tick. QEMU runs with -icount shift=S: no real-time
// clock, virtual time advances exactly 2^S ns per executed guest
// instruction, and an I/O access sees the exact count (QEMU ends the
// translation block at the access). The firmware reads CMSDK TIMER0, which
// counts at 25 MHz of virtual time (one count per 40 ns), right before and
// right after its call into the core's tick (mcu/probe.h) and turns the
// difference into instructions with a calibration made at boot against a
// loop of known length (mcu/insn_counter.c): 2^S / 40 counts per
// instruction. S = 0 (1 ns per instruction) would give one count per 40
// instructions; S = 7 gives 3.2 counts per instruction, so every count is
// exact after rounding. The count covers the call (argument set-up, call,
// return) and the whole tick; the probe's own 3 instructions are removed.
// These are instructions, not cycles: QEMU models no pipeline, flash wait
// states or bus timing.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DEFAULT_CORE_PATH } from '../../host/runtime/core.js';
import { ProcessTarget } from './target.js';

export const ROOT = dirname(dirname(DEFAULT_CORE_PATH));

export const MCU_TARGETS = {
  m3: { machine: 'mps2-an385', cpu: 'cortex-m3' },
  m4: { machine: 'mps2-an386', cpu: 'cortex-m4' },
} as const;
export type McuTarget = keyof typeof MCU_TARGETS;

/** 2^7 = 128 ns of virtual time per instruction: 3.2 timer counts per instruction. */
export const ICOUNT_SHIFT = 7;

export function firmwarePath(target: McuTarget): string {
  return join(ROOT, 'build', 'firmware', `edgeloop-${target}.elf`);
}

/** Whether a program runs (`<cmd> --version` exits 0). */
export function toolAvailable(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

export interface QemuOptions {
  target: McuTarget;
  /** Default: build/firmware/edgeloop-<target>.elf. */
  elf?: string;
  icountShift?: number;
  replyTimeoutMs?: number;
  readyTimeoutMs?: number;
  qemu?: string;
}

/** The QEMU command line for a firmware image. */
export function qemuArgs(opts: QemuOptions): string[] {
  const elf = opts.elf ?? firmwarePath(opts.target);
  return [
    '-M', MCU_TARGETS[opts.target].machine,
    // UART0 on stdio through QEMU's mux (the -nographic default). Not plain
    // `-serial stdio`: the CMSDK UART takes one byte at a time, and on a
    // plain fd or socket chardev QEMU 7.2 sometimes misses the wake-up after
    // the guest empties it and stalls for about 1 s (measured: about one
    // request in 300-1000, with or without -icount). The mux buffers input
    // and hands the next byte over as the guest reads the last one. Its
    // escape key (Ctrl-A) never occurs in the protocol's printable lines.
    '-nographic', '-serial', 'mon:stdio',
    // Deterministic: virtual time counts instructions, never the host clock.
    '-icount', `shift=${opts.icountShift ?? ICOUNT_SHIFT},align=off,sleep=off`,
    '-kernel', elf,
  ];
}

/** Boot the firmware under QEMU and wait for its banner. close() kills QEMU by its PID. */
export async function startQemu(opts: QemuOptions): Promise<ProcessTarget> {
  const elf = opts.elf ?? firmwarePath(opts.target);
  if (!existsSync(elf)) throw new Error(`${elf} is missing: run \`npm run firmware\``);
  return ProcessTarget.start({
    name: `qemu ${MCU_TARGETS[opts.target].machine}`,
    command: opts.qemu ?? 'qemu-system-arm',
    args: qemuArgs({ ...opts, elf }),
    readyTimeoutMs: opts.readyTimeoutMs ?? 15_000,
    replyTimeoutMs: opts.replyTimeoutMs ?? 5_000,
  });
}

/** The firmware's tick-cost statistics since boot (the P command). */
export interface TickCost {
  unit: string;
  count: number;
  last: number;
  min: number;
  max: number;
  total: number;
  mean: number;
  /** Timer counts per 65536 instructions (3.2 x 65536 = 209715 at shift 7) and the probe's own instructions. */
  countsPer65536: number | null;
  probeOverhead: number | null;
}

export async function tickCost(target: { request(line: string): Promise<string> }): Promise<TickCost> {
  const reply = await target.request('P');
  const f = reply.split(' ');
  if (f[0] !== 'ok' || f.length < 7) throw new Error(`P -> '${reply}'`);
  const [count, last, min, max, total] = f.slice(2, 7).map(Number);
  return {
    unit: f[1], count, last, min, max, total, mean: count > 0 ? total / count : 0,
    countsPer65536: f.length >= 9 ? Number(f[7]) : null,
    probeOverhead: f.length >= 9 ? Number(f[8]) : null,
  };
}
