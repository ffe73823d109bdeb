// The live dashboard in a real headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core), over a real HTTP server on loopback and a real
// SQLite store filled by the Recorder with payloads through the real
// Sparkplug codec. Only the coordinator's view is a fake (plain arrays).
// Bounded in time; the browser and the server are closed whatever happens.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentView, Decision, TrackedCommand } from '../../host/coordinator/coordinator.js';
import type { RolloutView } from '../../host/deploy/types.js';
import { decodePayload, encodePayload, type Metric } from '../../host/mqtt/codec.js';
import { firstOutCauses, startDashboard, type Dashboard, type DashboardSource } from '../../host/telemetry/dashboard.js';
import { Recorder } from '../../host/telemetry/recorder.js';
import { TelemetryStore } from '../../host/telemetry/store.js';
import { Agent } from '../../host/agent/agent.js';
import { Coordinator } from '../../host/coordinator/coordinator.js';
import { startEmbeddedBroker, type EmbeddedBroker, type User } from '../../host/mqtt/broker.js';
import { dashboardOperators } from '../../host/cli/command.js';
import { LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MS } from '../../host/telemetry/dashboard.js';
import { freshCore } from '../support/core.js';
import { chamberBinding } from '../support/bindings.js';

const CHROMIUM = '/usr/bin/chromium';
const STEP_MS = 100;
const WAIT = { timeout: 10_000 };
const L1 = 'plant1/gw1/loop1';
const L2 = 'plant1/gw1/loop2';
const L3 = 'plant1/gw2/loop3';
const L4 = 'plant1/gw2/loop4';

function view(key: string, over: Partial<AgentView>): AgentView {
  const [group, node, device] = key.split('/');
  return { key, group, node, device, health: 'online', lastSeenMs: Date.now(), mode: 'NOMINAL', cause: '', setpoint: 80, measurement: 79.6, bdSeq: 0, dependsOn: [], held: false,
    contained: null, reportsHeld: false, tripped: false, tripCause: '', guard: [], causes: [], latched: [], predicted: 79.7,
    envelope: { min: 10, max: 95, unit: 'C' }, coreVersion: 'builtin', modesSeen: new Set(), ...over };
}

/** One agent tick as it crosses the wire: encoded and decoded by the real codec; `trip` is the trip output's cause when it is de-energized. */
function wire(tMs: number, sample: number, mode: string, cause: string, y: number, trip = '') {
  const metrics: Metric[] = [
    { name: 'trip', type: 'Boolean', value: trip !== '' },
    { name: 'trip/cause', type: 'String', value: trip },
    { name: 'setpoint', type: 'Double', value: 80 },
    { name: 'measurement', type: 'Double', value: y },
    { name: 'output', type: 'Double', value: mode === 'NOMINAL' ? 40 + (y - 80) : 15 },
    { name: 'mode', type: 'String', value: mode },
    { name: 'cause', type: 'String', value: cause },
    { name: 'tick_us', type: 'UInt64', value: sample * 100_000 },
    { name: 'sample', type: 'UInt64', value: sample },
  ];
  return decodePayload(encodePayload({ timestamp: tMs, metrics }));
}

/** The fleet the fake coordinator reports, and 6 s of history per loop (60 samples at 10 Hz). */
function makeFleet() {
  const store = new TelemetryStore(':memory:');
  const recorder = new Recorder(store, { flushMs: 0 });
  const t0 = Date.now() - 6000;
  // loop2's sensor sticks at sample 30: FALLBACK, first-out sens_stuck/sensing; at 45 its heater turns out
  // reversed: SAFE_STOP, the trip output de-energized (act_reversed/actuation).
  for (let i = 0; i < 60; i++) {
    const t = t0 + i * STEP_MS;
    recorder.record(L1, wire(t, i, 'NOMINAL', '', 79.5 + 0.4 * Math.sin(i / 5)), t + 2);
    recorder.record(L2, wire(t, 500 + i, i < 30 ? 'NOMINAL' : i < 45 ? 'FALLBACK' : 'SAFE_STOP', i < 30 ? '' : 'sens_stuck/sensing', i < 30 ? 80 : 62,
      i < 45 ? '' : 'act_reversed/actuation'), t + 2);
    recorder.record(L3, wire(t, 1000 + i, 'NOMINAL', '', 80 + 0.2 * Math.cos(i / 4)), t + 2);
    if (i < 20) recorder.record(L4, wire(t, i, 'NOMINAL', '', 80), t + 2);
  }
  recorder.flush();
  const agents = [
    view(L1, {}),
    view(L2, { mode: 'SAFE_STOP', cause: 'sens_stuck/sensing', measurement: 62, tripped: true, tripCause: 'act_reversed/actuation',
      guard: ['tripped', 'latched'], causes: ['sensor_voted_out', 'act_reversed'], latched: ['act_reversed'] }),
    view(L3, { dependsOn: [L2], held: true, contained: 'hold' }),
    // A loop whose envelope is the core's open default: no limit to draw.
    view(L4, { health: 'dead', lastSeenMs: t0 + 2000, envelope: { min: -30000, max: 30000, unit: '' } }),
  ];
  const decisions: Decision[] = [{ tMs: t0 + 3000, agent: L3, action: 'hold', reason: `${L2} left control (FALLBACK); ${L3} depends on it` }];
  const commands: TrackedCommand[] = [{ id: 'coord1-1', target: L3, kind: 'hold', state: 'acked', sentMs: t0 + 3000, detail: 'ok' }];
  let rollout: RolloutView | null = {
    id: 'r-7', group: 'plant1', module: '0123456789abcdef', phase: 'soak', canary: L1, reason: 'canary running; soaking',
    startedMs: t0, soakUntilMs: t0 + 60_000,
    agents: [{ key: L1, state: 'running', detail: '' }, { key: L3, state: 'waiting', detail: '' }],
  };
  const registry = new Registry();
  new Gauge({ name: 'edgeloop_agents', help: 'test gauge', registers: [registry] }).set(agents.length);
  const source: DashboardSource = {
    agents: () => agents, decisions: () => decisions, commands: () => commands, rollout: () => rollout, store, registry,
  };
  return { store, recorder, agents, source, t0, setRollout: (r: RolloutView | null) => { rollout = r; } };
}

let fleet: ReturnType<typeof makeFleet>;
let dash: Dashboard | null = null;
let browser: Browser | null = null;

beforeAll(async () => {
  fleet = makeFleet();
  dash = await startDashboard(fleet.source);
});

afterAll(async () => {
  await browser?.close();
  await dash?.close();
  fleet.recorder.close();
  fleet.store.close();
});

describe('dashboard HTTP API (loopback)', () => {
  it('serves state, history, metrics and the static files; bad parameters get 400 naming the parameter', async () => {
    const url = dash!.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const state = await (await fetch(`${url}api/state`)).json();
    expect(state.agents.map((a: AgentView) => [a.key, a.health])).toEqual([[L1, 'online'], [L2, 'online'], [L3, 'online'], [L4, 'dead']]);
    expect(state.firstOut).toEqual([{ agent: L2, monitor: 'sens_stuck', stage: 'sensing', sinceMs: fleet.t0 + 30 * STEP_MS, active: true }]);
    expect(state.rollout.phase).toBe('soak');
    expect(state.decisions).toHaveLength(1);
    expect(state.store).toMatchObject({ lastError: null, writeErrors: 0, pending: 0, dropped: 0 });
    expect(state.agents[0]).toMatchObject({ envelope: { min: 10, max: 95, unit: 'C' }, tripped: false });
    expect(state.agents[1]).toMatchObject({ tripped: true, tripCause: 'act_reversed/actuation', latched: ['act_reversed'] });
    // The trip's alarm row, with its cause, beside the first-out trip.
    expect(state.alarms.filter((a: { kind: string }) => a.kind === 'trip_out'))
      .toEqual([{ agent: L2, tMs: fleet.t0 + 45 * STEP_MS, kind: 'trip_out', monitor: 'act_reversed', stage: 'actuation' }]);

    const h = await (await fetch(`${url}api/history?agent=${encodeURIComponent(L2)}`)).json();
    expect(h.samples).toHaveLength(60);
    expect(h.samples[30]).toMatchObject({ sample: 530, mode: 'FALLBACK', cause: 'sens_stuck/sensing', measurement: 62, tripped: false });
    expect(h.samples[45]).toMatchObject({ sample: 545, mode: 'SAFE_STOP', tripped: true });
    const after = await (await fetch(`${url}api/history?agent=${encodeURIComponent(L2)}&since=${fleet.t0 + 50 * STEP_MS}`)).json();
    expect(after.samples.map((s: { sample: number }) => s.sample)).toEqual([550, 551, 552, 553, 554, 555, 556, 557, 558, 559]);

    const bad = async (path: string, status: number, re: RegExp) => {
      const res = await fetch(url + path, path === 'api/state' ? { method: 'POST' } : undefined);
      expect(res.status, path).toBe(status);
      expect(await res.text(), path).toMatch(re);
    };
    await bad('api/history', 400, /query parameter 'agent': expected an agent key/);
    await bad(`api/history?agent=${L1}&since=yesterday`, 400, /query parameter 'since': expected an integer 0\.\.\d+, received "yesterday"/);
    await bad(`api/history?agent=${L1}&limit=1000000`, 400, /query parameter 'limit': expected an integer 0\.\.20000, received "1000000"/);
    await bad('api/state?since=-1', 400, /query parameter 'since'/);
    await bad('api/state', 405, /read-only/);
    await bad('..%2fpackage.json', 404, /not found/);
    await bad('host/telemetry/dashboard.ts', 404, /not found/);

    const metrics = await fetch(`${url}metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^edgeloop_agents 4$/m);
    const uplot = await fetch(`${url}uplot/uPlot.iife.min.js`);
    expect(uplot.status).toBe(200);
    expect(uplot.headers.get('content-type')).toMatch(/javascript/);
  });

  it('the compiled dashboard (dist/) finds its page and uPlot from the package root', async () => {
    const compiled = join(process.cwd(), 'dist', 'host', 'telemetry', 'dashboard.js');
    expect(existsSync(compiled), `${compiled} is missing: run npm run build first`).toBe(true);
    const mod = await import(pathToFileURL(compiled).href) as typeof import('../../host/telemetry/dashboard.js');
    const d = await mod.startDashboard(fleet.source);
    try {
      for (const path of ['', 'app.js', 'style.css', 'uplot/uPlot.iife.min.js', 'uplot/uPlot.min.css']) {
        expect((await fetch(d.url + path)).status, path).toBe(200);
      }
    } finally {
      await d.close();
    }
  });

  it('first-out per agent: the episode starts at its first trip, a renamed cause replaces the name, a clear ends it', () => {
    const a = (tMs: number, kind: string, monitor: string, stage = '') => ({ agent: 'x', tMs, kind, monitor, stage });
    expect(firstOutCauses([a(1, 'trip', 'est_cusum', 'sensing'), a(2, 'trip', 'est_cusum', 'actuation'), a(3, 'mode', 'FALLBACK')], []))
      .toEqual([{ agent: 'x', monitor: 'est_cusum', stage: 'actuation', sinceMs: 1, active: true }]);
    expect(firstOutCauses([a(1, 'trip', 'sens_stuck', 'sensing'), a(5, 'clear', 'sens_stuck', 'sensing')], []))
      .toEqual([{ agent: 'x', monitor: 'sens_stuck', stage: 'sensing', sinceMs: 1, active: false }]);
    // A trip older than the window still shows, from the coordinator's view.
    expect(firstOutCauses([], [view('p/n/d', { cause: 'tim_missed/timing' })]))
      .toEqual([{ agent: 'p/n/d', monitor: 'tim_missed', stage: 'timing', sinceMs: null, active: true }]);
  });
});

/** Pixels of a chart's canvas close to an RGB colour (anti-aliased lines are near, not equal), with alpha in [aMin, aMax]. */
async function pixelsNear(page: Page, agent: string, rgb: [number, number, number], aMin: number, aMax = 255): Promise<number> {
  return page.$eval(`.chart[data-agent="${agent}"] canvas`, (c, [r, g, b, lo, hi]) => {
    // Read a copy, so the test's readbacks do not make Chromium warn about the page's canvas.
    const canvas = c as HTMLCanvasElement;
    const copy = document.createElement('canvas');
    copy.width = canvas.width;
    copy.height = canvas.height;
    const ctx = copy.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(canvas, 0, 0);
    const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 40 && px[i + 3] >= lo && px[i + 3] <= hi) n++;
    }
    return n;
  }, [...rgb, aMin, aMax] as const);
}

describe('dashboard in headless Chromium', () => {
  it('shows health, charts, the first-out cause and the rollout, then updates live without a reload', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: this test drives Debian's chromium (apt-get install chromium)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    // Off the loopback server there is nothing: fail any other request loudly.
    await page.route((u) => !u.href.startsWith(dash!.url), (r) => { problems.push(`off-server request: ${r.request().url()}`); return r.abort(); });

    await page.goto(`${dash!.url}?poll=200`, WAIT);
    await page.waitForFunction(() => Number(document.getElementById('status')?.dataset.polls) >= 1, null, WAIT);
    await page.evaluate(() => { (window as unknown as { loadedOnce: boolean }).loadedOnce = true; });

    // The health table: every agent, its health, mode and whether it is held.
    const rows = await page.$$eval('#agents tbody tr', (trs) => trs.map((tr) => [
      (tr as HTMLElement).dataset.agent, tr.querySelector('[data-field=health]')!.textContent,
      tr.querySelector('[data-field=mode]')!.textContent, tr.querySelector('[data-field=held]')!.textContent]));
    expect(rows).toEqual([[L1, 'online', 'NOMINAL', 'no'], [L2, 'online', 'SAFE_STOP', 'no'], [L3, 'online', 'NOMINAL', 'held'], [L4, 'dead', 'NOMINAL', 'no']]);
    // The trip and the guard's causes (latched ones marked) in the health table.
    const guardCells = await page.$$eval('#agents tbody tr', (trs) => trs.map((tr) => [(tr as HTMLElement).dataset.tripped,
      tr.querySelector('[data-field=trip]')!.textContent, tr.querySelector('[data-field=causes]')!.textContent]));
    expect(guardCells).toEqual([['no', 'no', '-'], ['yes', 'TRIPPED (act_reversed/actuation)', 'sensor_voted_out, act_reversed (latched)'], ['no', 'no', '-'], ['no', 'no', '-']]);
    // The legend names the envelope's lines and the trip's strip, and only the modes there are.
    const legend = await page.textContent('#chart-panel .legend');
    expect(legend).toMatch(/safety envelope limits/);
    expect(legend).toMatch(/trip output de-energized/);
    expect(await page.$$eval('#chart-panel .legend .band', (bs) => bs.map((b) => b.textContent))).toEqual(['DEGRADED', 'FALLBACK', 'SAFE_STOP', 'trip output de-energized']);

    // A chart per agent, with the samples drawn: measurement line pixels on every canvas,
    // and the FALLBACK band (rgba(255,112,67,0.35) on a clear canvas) on loop2's only.
    await page.waitForFunction(() => [...document.querySelectorAll('.chart')].filter((c) => Number((c as HTMLElement).dataset.points) > 0).length === 4, null, WAIT);
    const points = await page.$$eval('.chart', (cs) => Object.fromEntries(cs.map((c) => [(c as HTMLElement).dataset.agent, Number((c as HTMLElement).dataset.points)])));
    expect(points).toEqual({ [L1]: 60, [L2]: 60, [L3]: 60, [L4]: 20 });
    for (const key of [L1, L2, L3, L4]) {
      expect(await page.$$(`.chart[data-agent="${key}"] canvas`), key).toHaveLength(1);
      expect(await pixelsNear(page, key, [31, 119, 180], 200), `${key} measurement line`).toBeGreaterThan(30);
    }
    expect(await pixelsNear(page, L2, [255, 112, 67], 70, 110), 'loop2 FALLBACK band').toBeGreaterThan(1000);
    expect(await pixelsNear(page, L1, [255, 112, 67], 70, 110), 'no band on a NOMINAL loop').toBe(0);

    // The envelope from the births: 10 and 95 C on the charts' data, two dashed lines (#c2185b) on each canvas,
    // with the axis stretched to show them; none on the loop whose envelope is the core's open default.
    const env = await page.$$eval('.chart', (cs) => cs.map((c) => [(c as HTMLElement).dataset.agent, (c as HTMLElement).dataset.envMin, (c as HTMLElement).dataset.envMax]));
    expect(env).toEqual(expect.arrayContaining([[L1, '10', '95'], [L2, '10', '95'], [L3, '10', '95'], [L4, '', '']]));
    for (const key of [L1, L2, L3]) expect(await pixelsNear(page, key, [194, 24, 91], 200), `${key} envelope lines`).toBeGreaterThan(300);
    expect(await pixelsNear(page, L4, [194, 24, 91], 200), 'no envelope lines without an envelope').toBe(0);
    expect(await page.textContent(`.chart[data-agent="${L1}"] h3`)).toBe(`${L1} (C)`);
    // loop2's trip: a strip along the top (rgba(183,28,28,0.85)) from its 45th sample, counted once; none on loop1.
    expect(await page.getAttribute(`.chart[data-agent="${L2}"]`, 'data-trips')).toBe('1');
    expect(await pixelsNear(page, L2, [183, 28, 28], 200), 'loop2 trip strip').toBeGreaterThan(100);
    expect(await pixelsNear(page, L1, [183, 28, 28], 200), 'no trip strip on a loop that never tripped').toBe(0);
    expect(await page.textContent('#alarm-log')).toContain(`${L2} trip output de-energized: act_reversed/actuation`);

    // The alarm list names loop2's first-out cause; the rollout panel its phase.
    const cause = (key: string) => page.$eval(`#first-out tr[data-agent="${key}"] [data-field=cause]`, (e) => e.textContent);
    expect(await cause(L2)).toBe('sens_stuck/sensing');
    expect(await page.$$('#first-out tbody tr')).toHaveLength(1);
    expect(await page.getAttribute('#rollout', 'data-phase')).toBe('soak');
    expect(await page.textContent('#rollout [data-field=phase]')).toBe('soak');
    expect(await page.textContent('#rollout [data-field=canary]')).toBe(L1);
    expect(await page.textContent('#decisions tbody')).toContain(`${L2} left control (FALLBACK)`);

    // Live: loop1 goes on for 2 s and its actuator jams at its 70th sample (DEGRADED,
    // act_mismatch/actuation); the canary's fault rolls the rollout back. No reload.
    const t1 = fleet.t0 + 60 * STEP_MS;
    for (let i = 60; i < 80; i++) {
      const jam = i >= 70;
      fleet.recorder.record(L1, wire(t1 + (i - 60) * STEP_MS, i, jam ? 'DEGRADED' : 'NOMINAL', jam ? 'act_mismatch/actuation' : '', 79.6), Date.now());
    }
    fleet.recorder.flush();
    Object.assign(fleet.agents[0], { mode: 'DEGRADED', cause: 'act_mismatch/actuation', lastSeenMs: Date.now() });
    fleet.setRollout({ id: 'r-7', group: 'plant1', module: '0123456789abcdef', phase: 'rolled_back', canary: L1, reason: `canary ${L1} left NOMINAL`, startedMs: fleet.t0, soakUntilMs: null, agents: [{ key: L1, state: 'rolled_back', detail: 'previous module restored' }, { key: L3, state: 'waiting', detail: '' }] });

    await page.waitForFunction((k) => document.querySelector(`.chart[data-agent="${k}"]`)?.getAttribute('data-points') === '80', L1, WAIT);
    await page.waitForFunction((k) => document.querySelector(`#first-out tr[data-agent="${k}"] [data-field=cause]`)?.textContent === 'act_mismatch/actuation', L1, WAIT);
    await page.waitForFunction(() => document.getElementById('rollout')?.dataset.phase === 'rolled_back', null, WAIT);
    expect(await page.textContent('#rollout [data-field=reason]')).toBe(`canary ${L1} left NOMINAL`);
    expect(await page.textContent(`#agents tr[data-agent="${L1}"] [data-field=mode]`)).toBe('DEGRADED');
    expect(await page.textContent('#alarm-log')).toContain(`${L1} trip act_mismatch/actuation`);
    // loop1's chart now shows its DEGRADED band (rgba(255,193,7,0.35)).
    expect(await pixelsNear(page, L1, [255, 193, 7], 70, 110), 'loop1 DEGRADED band').toBeGreaterThan(100);
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce)).toBe(true);

    expect(problems).toEqual([]);
    await browser.close();
    browser = null;
  }, 60_000);
});

// Operator commands behind a log-in: a real broker with users and ACLs, a
// real Agent on a simulated chamber, a passive Coordinator (an observer
// log-in) behind the page, and the dashboard's own MQTT link logging in as
// an operator. The page in headless Chromium logs in and sends commands;
// requests without a session, without the CSRF header or from another
// origin are refused.
describe('dashboard operator commands (log-in, CSRF, rate limit) over a real broker and agent', () => {
  const USERS: User[] = [
    { username: 'gw8', password: 'gw8-secret', role: 'agent', group: 'plant1', node: 'gw8' },
    { username: 'viewer', password: 'viewer-secret', role: 'observer' },
    { username: 'dash-link', password: 'dash-link-secret', role: 'operator' },
    { username: 'alice', password: 'alice-secret', role: 'operator' },
  ];
  const LOOP = 'plant1/gw8/loop1';
  let broker: EmbeddedBroker;
  let agent: Agent;
  let coord: Coordinator;
  let cycler: NodeJS.Timeout;
  let wiring: ReturnType<typeof dashboardOperators>;
  let store: TelemetryStore;
  let ops: Dashboard;
  const audit: string[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker({ users: USERS });
    coord = new Coordinator({ broker: broker.url, hostId: 'dash-test', passive: true, username: 'viewer', password: 'viewer-secret' });
    cycler = setInterval(() => coord.cycle(), 50);
    const core = freshCore();
    core.configure({ s0_scale: 0.05, range_min: -10, range_max: 200, kp: 10, ti: 16, out_min: 0, out_max: 100,
      model_gain: 1.5, model_tau: 60, model_offset: 20, resid_sigma: 0.12, period_min_us: 100_000, period_max_us: 100_000 });
    core.setSetpoint(80, 0);
    const t0 = performance.now();
    agent = new Agent({ group: 'plant1', node: 'gw8', device: 'loop1', core, binding: chamberBinding(), broker: broker.url, username: 'gw8', password: 'gw8-secret',
      clockUs: () => Math.round((performance.now() - t0) * 1000),
      // No setpoint refresh after the first tick: the agent's refresh re-sends the setpoint of the tick before, so a
      // command applied on a refresh tick is undone (host/agent/agent.ts, goodSetpoint; reported). Not this test's subject.
      setpointRefreshUs: 3_600_000_000 });
    agent.start();
    // The operators file is the broker's users file (its operator entries log in); the commands go out with the dashboard's own operator log-in.
    const usersFile = join(mkdtempSync(join(tmpdir(), 'edgeloop-operators-')), 'users.json');
    writeFileSync(usersFile, JSON.stringify({ users: USERS }));
    wiring = dashboardOperators({ usersFile, broker: broker.url, username: 'dash-link', password: 'dash-link-secret' }, (l) => audit.push(l));
    store = new TelemetryStore(':memory:');
    ops = await startDashboard({ agents: () => [...coord.agents.values()], decisions: () => [], commands: () => [], rollout: () => null, store },
      { operators: wiring.operators });
  });

  afterAll(async () => {
    clearInterval(cycler);
    await ops?.close();
    await wiring?.close();
    await agent?.stop();
    await coord?.stop();
    store?.close();
    await broker?.close();
  });

  const CSRF = { 'content-type': 'application/json', 'x-edgeloop-request': '1' };
  const postCommand = (headers: Record<string, string>, body: unknown = { target: LOOP, action: 'reset' }) =>
    fetch(`${ops.url}api/command`, { method: 'POST', headers, body: JSON.stringify(body) });

  it('without a log-in: the session says nobody, and a command is refused (403 without the CSRF header, 401 with it)', async () => {
    expect(await (await fetch(`${ops.url}api/session`)).json()).toEqual({ operators: true, user: null });
    const noHeader = await postCommand({ 'content-type': 'application/json' });
    expect(noHeader.status).toBe(403);
    expect((await noHeader.json()).error).toMatch(/x-edgeloop-request: 1/);
    const noSession = await postCommand(CSRF);
    expect(noSession.status).toBe(401);
    expect((await noSession.json()).error).toMatch(/log in first/);
    // The read-only dashboard (no operators): no log-in at all, and a POST is the read-only refusal it always was.
    expect(await (await fetch(`${dash!.url}api/session`)).json()).toEqual({ operators: false, user: null });
    const readOnly = await fetch(`${dash!.url}api/command`, { method: 'POST', headers: CSRF, body: '{}' });
    expect(readOnly.status).toBe(405);
    expect(await readOnly.text()).toMatch(/read-only/);
  });

  it('a session cookie that is HttpOnly and SameSite=Strict; another origin, or a bad body, is refused even with it', async () => {
    const login = await fetch(`${ops.url}api/login`, { method: 'POST', headers: CSRF, body: JSON.stringify({ username: 'alice', password: 'alice-secret' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^edgeloop_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=28800$/);
    const session = cookie.split(';')[0];
    expect(await (await fetch(`${ops.url}api/session`, { headers: { cookie: session } })).json()).toEqual({ operators: true, user: 'alice' });
    const foreign = await postCommand({ ...CSRF, cookie: session, origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect((await foreign.json()).error).toMatch(/Origin "http:\/\/evil\.example"/);
    const crossSite = await postCommand({ ...CSRF, cookie: session, 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    const bad = await postCommand({ ...CSRF, cookie: session }, { target: LOOP, action: 'setpoint', value: 'warm' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).line).toMatch(/value: expected the new setpoint after 'setpoint'/);
    const logout = await fetch(`${ops.url}api/logout`, { method: 'POST', headers: { ...CSRF, cookie: session } });
    expect(logout.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await postCommand({ ...CSRF, cookie: session })).status).toBe(401);
  });

  it('in Chromium: logs in, sets a setpoint and holds the loop, each acknowledgement shown; every action logged', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: this test drives Debian's chromium (apt-get install chromium)`);
    const b = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
    try {
      const page = await b.newPage({ viewport: { width: 1400, height: 1000 } });
      const problems: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

      // The read-only dashboard shows no log-in and no controls.
      await page.goto(`${dash!.url}?poll=200`, WAIT);
      await page.waitForFunction(() => Number(document.getElementById('status')?.dataset.polls) >= 1, null, WAIT);
      expect(await page.isHidden('#operator')).toBe(true);
      expect(await page.isHidden('#operator-panel')).toBe(true);

      // The operators' dashboard: the log-in form, no controls until alice logs in.
      await page.goto(`${ops.url}?poll=200`, WAIT);
      await page.waitForSelector('#login-form', { state: 'visible', ...WAIT });
      expect(await page.isHidden('#operator-panel')).toBe(true);
      await page.fill('#login-user', 'alice');
      await page.fill('#login-password', 'alice-secret');
      await page.click('#login-form button[type=submit]');
      await page.waitForSelector('#whoami', { state: 'visible', ...WAIT });
      expect(await page.textContent('#whoami-user')).toBe('alice');
      const row = `#controls tr[data-agent="${LOOP}"]`;
      await page.waitForSelector(row, WAIT);

      // alice sets 70 C -> a DCMD through the dashboard's link -> the agent's next tick applies it -> its ack, on the page.
      await page.fill(`${row} [data-field=setpoint-input]`, '70');
      await page.click(`${row} button[data-action=setpoint]`);
      await page.waitForFunction((r) => document.querySelector(`${r} [data-field=answer]`)?.getAttribute('data-state') === 'accepted', row, WAIT);
      expect(await page.textContent(`${row} [data-field=answer]`)).toMatch(/^plant1\/gw8\/loop1: setpoint 70: accepted; loop \w+, setpoint 70, held$/);
      expect(agent.core.setpoint).toBe(70);

      // A setpoint the core refuses: the agent's reason on the page.
      await page.fill(`${row} [data-field=setpoint-input]`, '500');
      await page.click(`${row} button[data-action=setpoint]`);
      await page.waitForFunction((r) => document.querySelector(`${r} [data-field=answer]`)?.getAttribute('data-state') === 'rejected', row, WAIT);
      expect(await page.textContent(`${row} [data-field=answer]`)).toMatch(/REJECTED by the agent: parameter 'setpoint': expected a number in \[-10, 200\]/);

      await page.click(`${row} button[data-action=release]`);
      await page.waitForFunction((r) => /release: accepted/.test(document.querySelector(`${r} [data-field=answer]`)?.textContent ?? ''), row, WAIT);
      expect(agent.followingReference).toBe(true);
      await page.click(`${row} button[data-action=hold]`);
      await page.waitForFunction((r) => /hold: accepted/.test(document.querySelector(`${r} [data-field=answer]`)?.textContent ?? ''), row, WAIT);
      expect(agent.followingReference).toBe(false);
      expect(await page.$$eval('#operator-log li', (lis) => lis.map((li) => li.getAttribute('data-state')))).toEqual(['accepted', 'accepted', 'rejected', 'accepted']);

      // Log out: the form is back and the controls are gone.
      await page.click('#logout');
      await page.waitForSelector('#login-form', { state: 'visible', ...WAIT });
      expect(await page.isHidden('#operator-panel')).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await b.close();
    }
    // Who, what, when: every log-in, command (sent, then answered) and log-out.
    const stamp = '\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z';
    for (const re of [`logged in from address 127\\.0\\.0\\.1`, `operator "alice" sends "${LOOP}" "setpoint" "70"`,
      `operator "alice" "${LOOP}" "setpoint" "70": accepted: ${LOOP}: setpoint 70: accepted`, `operator "alice" "${LOOP}" "setpoint" "500": rejected: `,
      `operator "alice" "${LOOP}" "hold": accepted`, 'operator "alice" logged out']) {
      expect(audit.some((l) => new RegExp(`^dashboard: ${stamp} .*${re}`).test(l)), re).toBe(true);
    }
  }, 60_000);

  it('failed log-ins are limited per address: the sixth try is refused even with the right password, until the window passes', async () => {
    let now = Date.UTC(2025, 0, 1);
    const lines: string[] = [];
    const d = await startDashboard({ agents: () => [], decisions: () => [], commands: () => [], rollout: () => null, store },
      { clockMs: () => now, operators: { ...wiring.operators, log: (l) => lines.push(l) } });
    try {
      const login = (password: string) => fetch(`${d.url}api/login`, { method: 'POST', headers: CSRF, body: JSON.stringify({ username: 'alice', password }) });
      for (let i = 0; i < LOGIN_FAILURES_PER_ADDRESS; i++) {
        const r = await login('wrong-password');
        expect(r.status).toBe(401);
        expect((await r.json()).error).toBe('bad username or password');
      }
      const blocked = await login('alice-secret');
      expect(blocked.status).toBe(429);
      expect((await blocked.json()).error).toBe('too many failed log-ins: try again in 60 s');
      // An unknown user gets the same answer as a wrong password (and the same work: nothing tells them apart).
      now += LOGIN_WINDOW_MS;
      expect((await fetch(`${d.url}api/login`, { method: 'POST', headers: CSRF, body: JSON.stringify({ username: 'mallory', password: 'x' }) })).status).toBe(401);
      expect((await login('alice-secret')).status).toBe(200);
      expect(lines.filter((l) => /log-in refused for "alice"/.test(l))).toHaveLength(LOGIN_FAILURES_PER_ADDRESS);
      expect(lines.some((l) => /log-in for "alice" from address 127\.0\.0\.1 refused: too many failed log-ins/.test(l))).toBe(true);
      // A users list with no operator in it is refused at start: nobody could log in.
      await expect(startDashboard({ agents: () => [], decisions: () => [], commands: () => [], rollout: () => null, store },
        { operators: { ...wiring.operators, users: USERS.filter((u) => u.role !== 'operator') } })).rejects.toThrow(/no user with role 'operator'/);
    } finally {
      await d.close();
    }
  });
});
