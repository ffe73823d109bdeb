#!/usr/bin/env node
// The edgeloop CLI. `npm run build` compiles it to dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/host/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('edgeloop: not built yet. Run `npm run build` first (it compiles the core and the host).');
  process.exit(2);
}
// Output piped into a reader that stopped (`| head`) is no error of ours.
process.stdout.on('error', (err) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err; });
const { run } = await import(main.href);
process.exitCode = await run(process.argv);
// Every command has finished and awaited its cleanup. What can still hold the
// process is a thread that cannot be stopped: a worker blocked in a call into
// a Wasmtime child whose core never returns (sim and campaign gave up on it
// and said so). Two seconds for the output to drain, then leave.
setTimeout(() => process.exit(process.exitCode), 2000).unref();
