// A number an agent keeps across restarts in a file of its own (the highest
// release accepted, the last session's bdSeq): one integer and a newline,
// replaced atomically, read back with an error that names the file and says
// what it should hold.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * The integer kept in `file`, or null when there is none yet. An unreadable
 * file, or one that does not hold an integer in [min, max], is an Error
 * naming `what` and the file.
 */
export function readKept(file: string, what: string, min: number, max: number): number | null {
  const text = readKeptText(file, what);
  if (text === null) return null;
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
    throw new Error(`${what} file ${file}: expected ${describeKept[what] ?? `the ${what}`} (an integer ${range}), found ${JSON.stringify(text.trim().slice(0, 40))}`);
  }
  return n;
}

/** What `file` holds, or null when there is none yet; an unreadable one is an Error naming `what` and the file. */
export function readKeptText(file: string, what: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${what} file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

const describeKept: Record<string, string> = { release: 'the highest accepted release', bdSeq: 'the last session\'s bdSeq' };

/** Keep `n` (and what follows it on the line) in `file`, atomically (a temporary file renamed over it). */
export function writeKept(file: string, n: number | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${n}\n`);
  renameSync(tmp, file);
}
