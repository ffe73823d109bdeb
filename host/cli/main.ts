// The CLI's composition root: the one place that wires firmware-sim devices
// to the core and picks what to run.
import { Command, InvalidArgumentError } from 'commander';
import { runDemo, DEMO_FAULTS, type DemoFault } from './demo.js';

function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}], got '${value}'`);
    }
    return n;
  };
}

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

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { exitCode?: number; code?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
    return e.exitCode ?? 2;
  }
  return code;
}
