// Deployments end to end, on the embedded aedes and on a real Mosquitto:
// a signed good core rolled out to a group (canary, soak, the rest); a bad
// canary that trips during its soak, rolled back automatically; unsigned,
// wrongly signed and invalid modules refused by the agents with the running
// core untouched. Agents run firmware-sim thermal loops in simulated time;
// the messages are real. Loopback only, bounded in time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../host/agent/agent.js';
import { Coordinator } from '../../host/coordinator/coordinator.js';
import { Core, DEFAULT_CORE_PATH } from '../../host/runtime/core.js';
import { generateFleetKey, signModule, toBase64 } from '../../host/deploy/signing.js';
import { moduleVersion } from '../../host/deploy/module.js';
import { SimDevice } from '../../firmware-sim/device.js';
import { BROKER_KINDS, startBroker, wait, type TestBroker } from '../support/brokers.js';

const GOOD = readFileSync(DEFAULT_CORE_PATH);
const BAD = readFileSync(join(DEFAULT_CORE_PATH, '..', 'bad_core.wasm'));
const fleet = generateFleetKey();
const other = generateFleetKey();

let broker: TestBroker | null = null;
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of stops.splice(0)) await f().catch(() => {});
  await broker?.close();
  broker = null;
});

/** Three thermal zones in group 'plant1' and a coordinator, all on one simulated clock. */
async function fleetOf(url: string, hostId: string) {
  let nowUs = 0;
  const epoch = Date.now();
  const wallMs = () => epoch + Math.round(nowUs / 1000);
  // Simulated time runs far faster than messages travel: commands get a simulated timeout to match.
  const seen = new Map<string, number>();
  const coord = new Coordinator({ broker: url, hostId, clockMs: wallMs, commandTimeoutMs: 600_000, onData: (k, p) => {
    const s = p.metrics.find((m) => m.name === 'sample')?.value;
    if (typeof s === 'number') seen.set(k, Math.max(s, seen.get(k) ?? -1));
  } });
  stops.push(() => coord.stop());
  await wait(100);
  const agents = ['gw1', 'gw2', 'gw3'].map((node, i) => {
    const device = new SimDevice({ plant: 'thermal', seed: 10 + i });
    const core = Core.load();
    core.configure(device.config);
    core.setSetpoint(80, 0);
    const agent = new Agent({ group: 'plant1', node, device: 'loop', core, config: device.config, binding: device, broker: url,
      clockUs: () => nowUs, wallMs, primaryHost: hostId, fleetKey: fleet.publicKeyPem });
    stops.push(() => agent.stop());
    return { agent, device, node };
  });
  const step = async (n = 1) => {
    for (let i = 0; i < n; i++) {
      nowUs += 100_000;
      for (const a of agents) a.agent.tick();
      await new Promise<void>((r) => setImmediate(r));
      coord.cycle();
      // Simulated time waits for the telemetry: at most two ticks in flight (as on a real network).
      const behind = () => agents.some((a) => (seen.get(`plant1/${a.node}/loop`) ?? -1) < a.agent.stats.ticks - 3);
      for (let k = 0; k < 500 && coord.agents.size === agents.length && behind(); k++) { await wait(1); coord.cycle(); }
    }
  };
  const run = async (pred: () => boolean, what: string, maxSteps = 3000) => {
    for (let i = 0; i < maxSteps && !pred(); i++) {
      await step();
      // A command in flight: give it real time to arrive before simulated time runs on.
      if (i % 20 === 0 || [...coord.commands.values()].some((c) => c.state === 'sent')) await wait(2);
    }
    expect(pred(), what).toBe(true);
  };
  await run(() => coord.agents.size === 3, 'three agents discovered');
  await step(100);   // 10 s settled
  return { coord, agents, step, run };
}

describe.each(BROKER_KINDS)('deployments on %s', (kind) => {
  it('a signed good core: canary, soak, then the rest of the group', async () => {
    broker = await startBroker(kind);
    const { coord, agents, run } = await fleetOf(broker.url, 'dep1');
    const r = coord.startRollout({ group: 'plant1', bytes: GOOD, signature: signModule(GOOD, fleet.privateKeyPem), soakMs: 20_000, staleMs: 3000,
      canary: 'plant1/gw2/loop', publicKey: fleet.publicKeyPem });
    await run(() => r.finished, 'the rollout finished');
    expect(r.phase, r.log.map((l) => l.message).join('\n')).toBe('done');
    for (const { agent } of agents) expect(agent.coreVersion).toBe(moduleVersion(GOOD));
    expect(coord.rollout()).toMatchObject({ phase: 'done', canary: 'plant1/gw2/loop' });
  }, 60_000);

  it('a bad canary trips during its soak: rolled back automatically, the rest never get it', async () => {
    broker = await startBroker(kind);
    const { coord, agents, run, step } = await fleetOf(broker.url, 'dep2');
    const r = coord.startRollout({ group: 'plant1', bytes: BAD, signature: signModule(BAD, fleet.privateKeyPem), soakMs: 120_000, staleMs: 3000,
      canary: 'plant1/gw1/loop' });
    await run(() => agents[0].agent.coreVersion === moduleVersion(BAD), 'the canary runs the bad core');
    await run(() => r.finished, 'the rollout ended');
    const log = r.log.map((l) => l.message).join('\n');
    expect(r.phase, log).toBe('rolled_back');
    expect(r.view().reason).toMatch(/plant1\/gw1\/loop/);
    await run(() => agents[0].agent.coreVersion === 'builtin', 'the canary back on its previous core');
    expect(agents[1].agent.coreVersion).toBe('builtin');
    expect(agents[2].agent.coreVersion).toBe('builtin');
    console.log(`[${kind}] bad canary: ${r.view().reason}`);
    // Back on its old core the canary recovers (the plant was driven hot meanwhile).
    await step(600);
    expect(agents[0].device.truth).toBeLessThan(95);
  }, 90_000);

  it('unsigned, wrongly signed and invalid modules are refused; the running core is untouched', async () => {
    broker = await startBroker(kind);
    const { coord, agents, run } = await fleetOf(broker.url, 'dep3');
    const target = coord.agents.get('plant1/gw3/loop')!;
    const running = agents[2].agent.core;
    const send = (module: Uint8Array, signature: string | null) => (coord as unknown as {
      send(a: unknown, m: unknown[], k: string): { state: string; detail: string };
    }).send(target, [
      { name: 'command/deploy', type: 'String', value: toBase64(module) },
      ...(signature === null ? [] : [{ name: 'command/signature', type: 'String', value: signature }]),
    ], 'deploy');
    const junk = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99, 99]);
    const cases = [
      ['unsigned', send(GOOD, null), /signature/],
      ['signed by another key', send(GOOD, toBase64(signModule(GOOD, other.privateKeyPem))), /signature/],
      ['one byte changed after signing', send(Uint8Array.from(GOOD, (b, i) => (i === 100 ? b ^ 1 : b)), toBase64(signModule(GOOD, fleet.privateKeyPem))), /signature/],
      ['not a valid core, signed', send(junk, toBase64(signModule(junk, fleet.privateKeyPem))), /module/],
    ] as const;
    await run(() => cases.every(([, c]) => c.state !== 'sent'), 'every deploy answered');
    for (const [what, c, why] of cases) {
      expect(c.state, what).toBe('rejected');
      expect(c.detail, what).toMatch(why);
    }
    expect(agents[2].agent.core).toBe(running);
    expect(agents[2].agent.coreVersion).toBe('builtin');
    expect(running.mode).toBe('NOMINAL');
    // A rollout whose module fails the fleet key never sends anything.
    expect(() => coord.startRollout({ group: 'plant1', bytes: GOOD, signature: signModule(GOOD, other.privateKeyPem), soakMs: 1000, staleMs: 1000,
      publicKey: fleet.publicKeyPem })).toThrow(/signature/);
  }, 60_000);
});
