// The CLI's composition root: the one place that wires firmware-sim devices
// to the core and picks what to run.
import { Command, InvalidArgumentError } from 'commander';
import { runDemo, DEMO_FAULTS, type DemoFault } from './demo.js';
import { campaignCommand, simCommand, CAMPAIGN_EXIT, SIM_EXIT, DEBUG_CORE_PATH, DEFAULT_CORE_PATH, DEFAULT_WORKERS } from './sim.js';
import { ORACLES } from '../../firmware-sim/campaign/pair.js';
import type { Oracle } from '../../firmware-sim/run.js';
import { ScenarioError } from '../../firmware-sim/scenario/schema.js';
import { ENGINE_NAMES, parseEngineName, type EngineName } from '../runtime/engines/engine.js';
import { agentCommand, brokerCommand, coordinatorCommand, idArg, parseFaultArg } from './system.js';
import { agentOptions, brokerOptions, coordinatorOptions, dashboardOptions, givenOn, type AgentFlags, type BrokerFlags, type ServiceFlags } from './configured.js';
import { ConfigError } from '../config/file.js';
import { agentConfigFor, modbusSimCommand, type ModbusSimOptions } from './modbus-sim.js';
import { parseDuration } from './telemetry.js';
import { systemDemo } from './system-demo.js';
import { CONTAIN_ACTIONS, type ContainAction } from '../coordinator/coordinator.js';
import { deployCommand, keygenCommand, signCommand, type DeployCommandOptions } from './deploy.js';
import { PLANT_NAMES, type PlantName } from '../../firmware-sim/types.js';

function wrap<T>(parse: (v: string) => T) {
  return (value: string): T => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

function numberArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}], got '${value}'`);
    }
    return n;
  };
}

function urlArg(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError(`--broker must be a URL such as mqtt://127.0.0.1:1883, got '${value}'`);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:'].includes(u.protocol)) {
    throw new InvalidArgumentError(`--broker must use mqtt://, mqtts://, ws:// or wss://, got '${u.protocol}'`);
  }
  return value;
}

const print = (line: string) => console.log(line);

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

function containArg(value: string): ContainAction {
  if (!(CONTAIN_ACTIONS as readonly string[]).includes(value)) throw new InvalidArgumentError(`--contain-with must be one of ${CONTAIN_ACTIONS.join(', ')}, got '${value}'`);
  return value as ContainAction;
}

function oracleArg(value: string): Oracle {
  if (!(ORACLES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`--oracle must be one of ${ORACLES.join(', ')}, got '${value}'`);
  }
  return value as Oracle;
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
    .description('The whole system on the embedded default: an MQTT broker, six thermal zones in a chain on simulated MCUs (one agent each), the coordinator, telemetry and the dashboard; a scripted fault run without and with coordination, narrated.')
    .option('--seconds <n>', 'simulated seconds per run', intArg('--seconds', 150, 3600), 300)
    .option('--speed <x>', 'simulated seconds per real second in the coordinated run (0: as fast as it runs)', intArg('--speed', 0, 1000), 20)
    .option('--linger <s>', 'keep the dashboard up this long afterwards (default: 120 on a terminal, 0 otherwise)', intArg('--linger', 0, 86_400))
    .option('--port <n>', 'embedded broker port (0: any free one)', intArg('--port', 0, 65535), 0)
    .option('--dashboard-port <n>', 'dashboard port (0: any free one)', intArg('--dashboard-port', 0, 65535), 0)
    .option('--db <file>', 'keep the telemetry in this SQLite file (default: a temporary one)')
    .option('--contain-with <action>', `how the coordinated run contains the cascade: ${CONTAIN_ACTIONS.join(' or ')}`, containArg, 'hold' as ContainAction)
    .action(async (opts: { seconds: number; speed: number; linger?: number; port: number; dashboardPort: number; db?: string; containWith: ContainAction }) => {
      code = await systemDemo({ ...opts, linger: opts.linger ?? (process.stdout.isTTY ? 120 : 0) }, print);
    });

  program
    .command('chamber')
    .description('Run one thermal chamber loop on a simulated MCU (no broker), inject scripted faults, and narrate detection and fallback.')
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
    .option('--core <path>', 'core.wasm to run (default: the debug build, whose broken invariants trap; pass build/core.wasm for the field build)', DEBUG_CORE_PATH)
    .option('--engine <name>', ENGINE_HELP, engineArg, 'v8' as EngineName)
    .option('--oracle <kind>', `an oracle run: from the first fault's onset the command pinned at the actuator's min or max, or the trip asserted (${ORACLES.join(', ')}); a campaign's misses name the one that prevents them`, oracleArg)
    .addHelpText('after', [
      '',
      'Exit codes:',
      `  ${SIM_EXIT.ok}  the run went through`,
      `  ${SIM_EXIT.error}  an error stopped it, or an argument was bad`,
      `  ${SIM_EXIT.badScenario}  the scenario (file or --campaign) is not valid; every problem is named`,
      `  ${SIM_EXIT.deadCore}  the core broke one of its invariants (a bug), trapped or overran its tick budget (the watchdog restarted it; the run finished on the safe output), or did not return from a tick (the run was stopped)`,
    ].join('\n'))
    .option('--stall <s>', 'seconds the run may take before the core is taken for stuck in a tick (default: 30 s plus 20 us a tick)', intArg('--stall', 1, 86_400))
    .action(async (file: string | undefined, opts: { out: string; unguarded: boolean; campaign?: string; schema: boolean; core: string; engine: EngineName; oracle?: Oracle; stall?: number }) => {
      code = await simCommand(file, opts, (line) => console.log(line));
    });

  program
    .command('campaign')
    .description('Run a seeded randomized fault campaign (plants x faults x magnitudes x onsets), guarded vs unguarded, and write a report.')
    .option('--scenarios <n>', 'how many scenarios', intArg('--scenarios', 1, 10_000_000), 1000)
    .option('--seed <s>', 'campaign seed', intArg('--seed', 0, 2 ** 32 - 1), 1)
    .option('--workers <n>', 'worker threads (0: in this thread)', intArg('--workers', 0, 256), DEFAULT_WORKERS)
    .option('--out <dir>', 'report folder', 'campaign-report')
    .option('--core <path>', 'core.wasm to run (default: the debug build, whose broken invariants trap; pass build/core.wasm for the field build)', DEBUG_CORE_PATH)
    .option('--engine <name>', `${ENGINE_HELP}; each worker thread owns its own engine`, engineArg, 'v8' as EngineName)
    .option('--no-progress', 'no progress bar')
    .option('--fail-on-harm', `exit ${CAMPAIGN_EXIT.harm} on any harm (a run the guard takes out of the envelope that the primary controller alone keeps inside), with a one-line summary on stderr`, false)
    .option('--stall <s>', 'a worker that finishes no scenario for this long is running a core whose tick does not return: the campaign stops and fails (needs --workers >= 1)', intArg('--stall', 1, 86_400), 120)
    .addHelpText('after', [
      '',
      'Every scenario runs guarded and unguarded under operations (setpoint changes, load disturbances); the report',
      '(report.md, report.json) counts saves, harms and misses, tries each miss against the oracles, and lists every',
      'harm and miss with the line that re-runs it (npx edgeloop sim --campaign <seed>:<index>).',
      '',
      'Exit codes:',
      `  ${CAMPAIGN_EXIT.ok}  the campaign ran (with --fail-on-harm: and harmed no run)`,
      `  ${CAMPAIGN_EXIT.error}  an error stopped it, or an argument was bad`,
      `  ${CAMPAIGN_EXIT.falseTrips}  false trips: a monitor tripped before any fault`,
      `  ${CAMPAIGN_EXIT.harm}  harms, with --fail-on-harm (outranks ${CAMPAIGN_EXIT.falseTrips})`,
      `  ${CAMPAIGN_EXIT.deadCore}  the core under test is not controlling: it broke one of its invariants (a bug), trapped, overran its tick budget or did not return from a tick (--stall) in some run, or no injected fault was detected among 10 faulty runs or more (outranks the others)`,
      '',
    ].join('\n'))
    .action(async (opts: { scenarios: number; seed: number; workers: number; out: string; core: string; engine: EngineName; progress: boolean; failOnHarm: boolean; stall: number }) => {
      code = await campaignCommand({ ...opts, stallMs: opts.stall * 1000 }, (line) => console.log(line));
    });

  program
    .command('agent')
    .description('Run one agent: a core closing a loop on real I/O (Modbus, Linux sysfs: --config) or a firmware-sim device, reporting over MQTT as a Sparkplug B edge node, until SIGINT/SIGTERM.')
    .option('--config <file>', 'the agent\'s configuration file, YAML or JSON (docs/gateway.md, examples/); flags given here override it')
    .option('--broker <url>', 'MQTT broker URL (mqtt://host:port); required without --config', urlArg)
    .option('--group <id>', 'Sparkplug group_id', idArg('group_id'), 'plant1')
    .option('--node <id>', 'Sparkplug edge_node_id; required without --config', idArg('edge_node_id'))
    .option('--device <id>', 'Sparkplug device_id', idArg('device_id'), 'loop')
    .option('--plant <name>', `simulated plant: ${PLANT_NAMES.join(', ')}`, wrap((v) => {
      if (!(PLANT_NAMES as readonly string[]).includes(v)) throw new Error(`--plant must be one of ${PLANT_NAMES.join(', ')}, got '${v}'`);
      return v as PlantName;
    }), 'thermal' as PlantName)
    .option('--seed <n>', 'noise seed', intArg('--seed', 0, 2 ** 31 - 1), 1)
    .option('--setpoint <x>', 'setpoint in the plant\'s units (default: its nominal one)', numberArg('--setpoint', -1e6, 1e6))
    .option('--depends-on <key...>', 'agents (group/node/device) whose output is this loop\'s input', [])
    .option('--primary-host <id>', 'publish only while this Sparkplug host application\'s STATE is online', idArg('host_application_id'))
    .option('--username <u>', 'MQTT username')
    .option('--password <p>', 'MQTT password (visible to ps: prefer --password-file or EDGELOOP_PASSWORD)')
    .option('--password-file <file>', 'read the MQTT password from the first line of this file (default: the environment variable EDGELOOP_PASSWORD)')
    .option('--core <path>', 'core.wasm to run', DEFAULT_CORE_PATH)
    .option('--fault <kind@onset[:magnitude]>', 'inject a firmware-sim fault, e.g. actuator.reversed@60', wrap(parseFaultArg))
    .option('--status-every <s>', 'print a status line every s seconds (0: only mode changes)', intArg('--status-every', 0, 3600), 10)
    .option('--fleet-key <pem>', "the fleet's Ed25519 public key: accept core deployments signed by it (without it, every deployment is refused)")
    .option('--keepalive <s>', 'MQTT keepalive; the broker publishes the NDEATH after about 1.5x this of silence', intArg('--keepalive', 1, 3600), 5)
    .option('--release-file <path>', 'keep the highest core release this agent has accepted in this file, so that a restarted agent still refuses older releases')
    .option('--bdseq-file <path>', 'keep the last Sparkplug session\'s bdSeq in this file, so that a restarted or replacement agent never reuses it')
    .option('--report-by-exception', 'send a metric only when it moved past its deadband (--deadband), everything at least every --max-interval (default: every metric every tick)')
    .option('--deadband <metric=value...>', 'report-by-exception deadbands in the metric\'s units, e.g. measurement=0.05 output=0.5 (default: any change)', [])
    .option('--max-interval <s>', 'report by exception: everything goes at least this often, seconds', intArg('--max-interval', 1, 3600), 10)
    .option('--no-isolate-core', 'run the core in the agent\'s own thread (default: in a worker thread, each call with a deadline, so that a tick that never returns is stopped and handled as a trap)')
    .option('--core-deadline-ms <ms>', 'how long an isolated core\'s call may take before it is stopped and handled as a trap: the time the loop may run blind (a tick takes microseconds; leave room for a loaded machine\'s pauses)', intArg('--core-deadline-ms', 10, 60_000), 1000)
    .action(async (opts: AgentFlags, cmd: Command) => {
      code = await agentCommand(agentOptions(opts, givenOn(cmd)), print);
    });

  const telemetryOptions = (c: Command) => c
    .option('--db <file>', 'SQLite file for the telemetry history', 'edgeloop-telemetry.db')
    .option('--retain <duration>', 'history kept: 7d, 12h, 30m ... (default 7d)', wrap((v) => parseDuration(v, '--retain')))
    .option('--dashboard-host <addr>', 'dashboard listen address (read-only without --operators; keep it on loopback or behind a TLS proxy either way)', '127.0.0.1')
    .option('--operators <users-file>', 'let the users with role "operator" in this users file (the broker\'s format) log in to the dashboard and command the loops')
    .option('--command-username <u>', 'the broker user the dashboard sends operators\' commands as (operator or coordinator role; default: --username)')
    .option('--command-password-file <file>', 'its password, from the first line of this file')
    .option('--username <u>', 'MQTT username')
    .option('--password <p>', 'MQTT password (visible to ps: prefer --password-file or EDGELOOP_PASSWORD)')
    .option('--password-file <file>', 'read the MQTT password from the first line of this file (default: the environment variable EDGELOOP_PASSWORD)');

  telemetryOptions(program
    .command('coordinator')
    .description('Run the coordinator: discover agents, track their health and commands, contain cascades; record telemetry and serve the dashboard and /metrics. Until SIGINT/SIGTERM.')
    .option('--config <file>', 'the coordinator\'s configuration file, YAML or JSON (examples/coordinator.yaml); flags given here override it')
    .option('--broker <url>', 'MQTT broker URL; required without --config', urlArg)
    .option('--host-id <id>', 'Sparkplug host application id (its STATE topic)', idArg('host_application_id'), 'edgeloop-coordinator')
    .option('--no-contain', 'observe only: take no containment action')
    .option('--contain-with <action>', `how a dependent of an agent out of control is contained: ${CONTAIN_ACTIONS.join(' (stop following its reference) or ')} (its fallback controller)`, containArg, 'hold' as ContainAction)
    .option('--stale-ms <ms>', 'no data for this long: the agent is stale', intArg('--stale-ms', 100, 3_600_000), 3000)
    .option('--reorder-timeout-ms <ms>', 'Sparkplug Reorder Timeout: a gap in an edge node\'s seq not filled within this long asks it for a rebirth', intArg('--reorder-timeout-ms', 100, 60_000), 2000)
    .option('--dashboard-port <n>', 'dashboard port (0: any free one)', intArg('--dashboard-port', 0, 65535), 8080)
    .option('--no-dashboard', 'no dashboard'))
    .action(async (opts: ServiceFlags, cmd: Command) => {
      code = await coordinatorCommand(coordinatorOptions(opts, givenOn(cmd)), print);
    });

  telemetryOptions(program
    .command('dashboard')
    .description('Serve the live dashboard and /metrics on its own: a passive Sparkplug host application that records telemetry and commands nothing. Until SIGINT/SIGTERM.')
    .option('--config <file>', 'the dashboard\'s configuration file, YAML or JSON (examples/dashboard.yaml); flags given here override it')
    .option('--broker <url>', 'MQTT broker URL (an observer log-in is enough); required without --config', urlArg)
    .option('--host-id <id>', 'Sparkplug host application id', idArg('host_application_id'), 'edgeloop-dashboard')
    .option('--port <n>', 'dashboard port (0: any free one; the coordinator\'s own dashboard defaults to 8080, so both fit on one machine)', intArg('--port', 0, 65535), 8081)
    .option('--stale-ms <ms>', 'no data for this long: the agent is shown stale', intArg('--stale-ms', 100, 3_600_000), 3000))
    .action(async (opts: ServiceFlags, cmd: Command) => {
      code = await coordinatorCommand(dashboardOptions(opts, givenOn(cmd)), print);
    });

  program
    .command('broker')
    .description('Run the embedded MQTT broker (aedes) on its own, until SIGINT/SIGTERM. Loopback by default; any other listener needs credentials.')
    .option('--config <file>', 'the broker\'s configuration file, YAML or JSON (examples/broker.yaml): listen address and users, their passwords in files or environment variables; flags given here override it')
    .option('--host <addr>', 'listen address', '127.0.0.1')
    .option('--port <n>', 'listen port', intArg('--port', 0, 65535), 1883)
    .option('--users <file>', 'JSON users file: {"users": [{"username", "password" (8+ characters), "role": "agent" (with "group", "node") | "coordinator" | "observer" | "operator"}]}; enables per-agent ACLs')
    .option('--username <u>', 'one coordinator log-in (with --password), instead of a users file')
    .option('--password <p>', 'its password (8+ characters; visible to ps: prefer --password-file or EDGELOOP_PASSWORD)')
    .option('--password-file <file>', 'read that password from the first line of this file')
    .action(async (opts: BrokerFlags, cmd: Command) => {
      code = await brokerCommand(brokerOptions(opts, givenOn(cmd)), print);
    });

  program
    .command('modbus-sim')
    .description('A simulated plant behind a Modbus TCP server (modbus-serial\'s), stepped in real time: commission a gateway\'s agent over real Modbus before its field device is wired (docs/gateway.md). Until SIGINT/SIGTERM.')
    .option('--plant <name>', `simulated plant: ${PLANT_NAMES.join(', ')}`, wrap((v) => {
      if (!(PLANT_NAMES as readonly string[]).includes(v)) throw new Error(`--plant must be one of ${PLANT_NAMES.join(', ')}, got '${v}'`);
      return v as PlantName;
    }), 'thermal' as PlantName)
    .option('--seed <n>', 'noise seed', intArg('--seed', 0, 2 ** 31 - 1), 1)
    .option('--host <addr>', 'listen address', '127.0.0.1')
    .option('--port <n>', 'listen port (502, the Modbus port, needs privileges)', intArg('--port', 1, 65535), 1502)
    .option('--unit <id>', 'Modbus unit id', intArg('--unit', 1, 247), 1)
    .option('--fault <kind@onset[:magnitude]>', 'inject a firmware-sim fault, e.g. actuator.reversed@60', wrap(parseFaultArg))
    .option('--agent-config', 'print an agent configuration for this device (YAML, for edgeloop agent --config) and exit', false)
    .option('--broker <url>', 'the broker URL that configuration names', urlArg, 'mqtt://127.0.0.1:1883')
    .option('--node <id>', 'the edge_node_id that configuration names', idArg('edge_node_id'), 'gw1')
    .action(async (opts: ModbusSimOptions & { agentConfig: boolean; broker: string; node: string; unit: number }) => {
      const o = { ...opts, unitId: opts.unit };
      if (opts.agentConfig) { process.stdout.write(agentConfigFor(o)); code = 0; return; }
      code = await modbusSimCommand(o, print);
    });

  program
    .command('keygen')
    .description("Make the fleet's Ed25519 key pair: fleet.key (private, signs modules) and fleet.pub (agents verify with it).")
    .option('--out <dir>', 'where to write fleet.key and fleet.pub (the folder is created if missing; existing key files are never overwritten)', '.')
    .action((opts: { out: string }) => { code = keygenCommand(opts, print); });

  program
    .command('sign')
    .description('Sign a core module and its release with the fleet key: writes <core.wasm>.sig next to it. Agents run only a release newer than the one they run (a replayed older module is a downgrade, refused).')
    .argument('<core.wasm>', 'the module (a valid edgeloop core)')
    .requiredOption('--key <fleet.key>', "the fleet's private key (PEM)")
    .option('--release <n>', 'the release, an integer that grows from one release to the next (default: the time now in ms)', intArg('--release', 1, Number.MAX_SAFE_INTEGER))
    .option('--allow-debug', 'sign the debug build too (build/core.debug.wasm: a broken invariant traps instead of latching a fault code)', false)
    .action((module: string, opts: { key: string; release?: number; allowDebug: boolean }) => { code = signCommand(module, opts, print); });

  program
    .command('deploy')
    .description('Roll a signed core out to a group of agents: canary first, a soak window, then the rest; rolls back automatically if the canary trips or goes quiet.')
    .argument('<core.wasm>', 'the module (its signature: <core.wasm>.sig, or --signature)')
    .requiredOption('--broker <url>', 'MQTT broker URL', urlArg)
    .requiredOption('--group <id>', 'the Sparkplug group to deploy to', idArg('group_id'))
    .requiredOption('--key <fleet.pub>', "the fleet's public key: the module is checked against it before anything is sent")
    .option('--signature <file>', 'detached signature (default: <core.wasm>.sig)')
    .option('--canary <key>', 'the canary agent, group/node/device (default: the first online NOMINAL agent of the group)')
    .option('--soak <s>', 'how long the canary must run cleanly', intArg('--soak', 1, 86_400), 60)
    .option('--stale-ms <ms>', 'no data from the canary for this long during the soak: roll back', intArg('--stale-ms', 100, 3_600_000), 3000)
    .option('--discover <s>', 'how long to listen for the group\'s agents first', intArg('--discover', 1, 600), 5)
    .option('--timeout <s>', 'give up (agents keep what they run) after this long', intArg('--timeout', 10, 86_400), 600)
    .option('--host-id <id>', 'Sparkplug host application id of this deploy', idArg('host_application_id'), 'edgeloop-deploy')
    .option('--username <u>', 'MQTT username (a coordinator principal: only it may command)')
    .option('--password <p>', 'MQTT password')
    .action(async (module: string, opts: DeployCommandOptions) => { code = await deployCommand(module, opts, print); });

  // `edgeloop command`: one operator command to one loop (host/cli/command.ts).
  (await import('./command.js')).registerCommand(program, (exit) => { code = exit; });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof ScenarioError || err instanceof ConfigError) {
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
