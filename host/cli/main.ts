// The CLI's composition root: the one place that wires firmware-sim devices
// to the core and picks what to run.
import { Command, InvalidArgumentError } from 'commander';
import { runDemo, DEMO_FAULTS, type DemoFault } from './demo.js';
import { campaignCommand, simCommand, DEFAULT_CORE_PATH, DEFAULT_WORKERS } from './sim.js';
import { ScenarioError } from '../../firmware-sim/scenario/schema.js';
import { ENGINE_NAMES, parseEngineName, type EngineName } from '../runtime/engines/engine.js';

function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got '${value}'`);
    }
    return n;
  };
}

function engineArg(value: string): EngineName {
  try {
    return parseEngineName(value, '--engine');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

const ENGINE_HELP = `where the core runs: ${ENGINE_NAMES.join(' or ')} (wasmtime: a supervised child process, events through getter exports, no memory faults)`;

export async function run(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('edgeloop')
    .description('Sensing-to-action control loops on edge gateways and MCUs: one fixed-point Wasm core with cascade monitors and a Simplex fallback.')
    .showHelpAfterError()
    .exitOverride();

  let code = 0;
  program
    .command('demo')
    .description('Run a thermal chamber loop on a simulated MCU, inject scripted faults, and narrate detection, fallback and containment.')
    .option('--fault <kind>', `which fault script: ${DEMO_FAULTS.join(', ')}`, (v: string) => {
      if (!(DEMO_FAULTS as readonly string[]).includes(v)) {
        throw new InvalidArgumentError(`--fault must be one of ${DEMO_FAULTS.join(', ')}, got '${v}'`);
      }
      return v;
    }, 'all')
    .option('--seed <n>', 'noise seed', intArg('--seed', 0, 2 ** 31 - 1), 1)
    .option('--seconds <n>', 'simulated seconds', intArg('--seconds', 60, 36_000), 600)
    .option('--json', 'print the event log as JSON lines instead of prose', false)
    .action((opts: { fault: DemoFault; seed: number; seconds: number; json: boolean }) => {
      code = runDemo(opts, (line) => console.log(line));
    });

  program
    .command('sim')
    .description('Run one scenario on a simulated MCU; write an SVG plot of setpoint, measurement, output and mode, and the event log.')
    .argument('[scenario.json]', 'scenario file (see --schema)')
    .option('--out <dir>', 'where to write the plot and the event log', 'sim-out')
    .option('--unguarded', 'run the primary controller alone (monitors and fallback off)', false)
    .option('--campaign <seed:index>', 're-run scenario <index> of the campaign with <seed> (as a failing case prints it)')
    .option('--schema', 'print the scenario JSON Schema and exit', false)
    .option('--core <path>', 'core.wasm to run', DEFAULT_CORE_PATH)
    .option('--engine <name>', ENGINE_HELP, engineArg, 'v8' as EngineName)
    .action((file: string | undefined, opts: { out: string; unguarded: boolean; campaign?: string; schema: boolean; core: string; engine: EngineName }) => {
      code = simCommand(file, opts, (line) => console.log(line));
    });

  program
    .command('campaign')
    .description('Run a seeded randomized fault campaign (plants x faults x magnitudes x onsets), guarded vs unguarded, and write a report.')
    .option('--scenarios <n>', 'how many scenarios', intArg('--scenarios', 1, 10_000_000), 1000)
    .option('--seed <s>', 'campaign seed', intArg('--seed', 0, 2 ** 32 - 1), 1)
    .option('--workers <n>', 'worker threads (0: in this thread)', intArg('--workers', 0, 256), DEFAULT_WORKERS)
    .option('--out <dir>', 'report folder', 'campaign-report')
    .option('--core <path>', 'core.wasm to run', DEFAULT_CORE_PATH)
    .option('--engine <name>', `${ENGINE_HELP}; each worker thread owns its own engine`, engineArg, 'v8' as EngineName)
    .option('--no-progress', 'no progress bar')
    .action(async (opts: { scenarios: number; seed: number; workers: number; out: string; core: string; engine: EngineName; progress: boolean }) => {
      code = await campaignCommand(opts, (line) => console.log(line));
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof ScenarioError) {
      console.error(err.message);
      return 2;
    }
    const e = err as { exitCode?: number; code?: string; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode ?? 2;
    console.error(`edgeloop: ${e.message ?? String(err)}`);
    return 1;
  }
  return code;
}
