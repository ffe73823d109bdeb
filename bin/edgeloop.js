#!/usr/bin/env node
// The edgeloop CLI. `npm run build` compiles it to dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/host/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('edgeloop: not built yet. Run `npm run build` first (it compiles the core and the host).');
  process.exit(2);
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv);
