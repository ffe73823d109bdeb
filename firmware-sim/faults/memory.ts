// Memory faults: single-event upsets in the core's linear memory. At the
// first corrupt() call at or after onset, `magnitude` distinct bits chosen
// uniformly among all bits of the context's memory regions are flipped, once.

import type { Rng } from '../rng.js';
import type { FaultSpec } from '../types.js';
import type { FaultContext, FaultWindow, Injector, MagnitudeRule, MemoryRegion } from './index.js';

export type MemoryKind = Extract<FaultSpec['kind'], `memory.${string}`>;

/** bitflip: most bits one fault may flip. */
export const BITFLIP_MAX = 256;

function regionBits(regions: readonly MemoryRegion[]): number {
  return regions.reduce((bits, r) => bits + (r.end - r.start) * 8, 0);
}

export const MEMORY_RULES: Readonly<Record<MemoryKind, MagnitudeRule>> = {
  'memory.bitflip': {
    expected: (ctx) =>
      `an integer count of bits in [1, ${Math.min(BITFLIP_MAX, regionBits(ctx.memoryRegions))}] (bits in ctx.memoryRegions: ${regionBits(ctx.memoryRegions)})`,
    ok: (m, ctx) => Number.isInteger(m) && m >= 1 && m <= BITFLIP_MAX && m <= regionBits(ctx.memoryRegions),
  },
};

export function compileMemoryFault(spec: FaultSpec & { kind: MemoryKind }, win: FaultWindow, rng: Rng, ctx: FaultContext): Injector {
  const regions = [...ctx.memoryRegions].sort((a, b) => a.start - b.start);
  const totalBits = regionBits(regions);
  const count = spec.magnitude;
  let done = false;
  return {
    corrupt: (memory, tS) => {
      if (done || !win.reached(tS)) return [];
      done = true;
      const last = regions[regions.length - 1];
      if (last.end > memory.length) {
        throw new RangeError(`memory.bitflip: region '${last.name}' ends at ${last.end}, past the memory (${memory.length} bytes)`);
      }
      const offsets: number[] = [];
      for (const bit of distinctBits(rng, totalBits, count)) {
        const { byte, mask } = locate(regions, bit);
        memory[byte] ^= mask;
        offsets.push(byte);
      }
      return offsets;
    },
  };
}

/** k distinct integers in [0, n), uniformly (Floyd's algorithm: exactly k draws), ascending. */
function distinctBits(rng: Rng, n: number, k: number): number[] {
  const chosen = new Set<number>();
  for (let j = n - k; j < n; j++) {
    const t = rng.int(0, j);
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** The byte and bit mask of the bit-th bit of the regions laid end to end. */
function locate(regions: readonly MemoryRegion[], bit: number): { byte: number; mask: number } {
  let rest = bit;
  for (const r of regions) {
    const bits = (r.end - r.start) * 8;
    if (rest < bits) return { byte: r.start + (rest >> 3), mask: 1 << (rest & 7) };
    rest -= bits;
  }
  throw new RangeError(`memory.bitflip: bit ${bit} lies outside the regions`); // unreachable: bit < totalBits
}
