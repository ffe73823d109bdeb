// The native harness (build/native/edgeloop-native): core.wasm through
// wasm2c and gcc -O2 on the host, speaking the line protocol on
// stdin/stdout.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './qemu.js';
import { ProcessTarget } from './target.js';

export function nativePath(variant: 'guard-pages' | 'boundscheck' = 'guard-pages'): string {
  return join(ROOT, 'build', 'native', variant === 'guard-pages' ? 'edgeloop-native' : 'edgeloop-native-boundscheck');
}

export async function startNative(opts: { variant?: 'guard-pages' | 'boundscheck'; replyTimeoutMs?: number } = {}): Promise<ProcessTarget> {
  const path = nativePath(opts.variant);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run firmware\``);
  return ProcessTarget.start({ name: 'native', command: path, args: [], readyTimeoutMs: 5_000, replyTimeoutMs: opts.replyTimeoutMs ?? 5_000 });
}
