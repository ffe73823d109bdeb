// The campaign is deterministic: the same seed gives the same report, byte
// for byte, whatever the number of worker threads; any scenario re-runs
// alone from its seed and index.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CORE_PATH } from '../../host/runtime/core.js';
import { runCampaign } from '../../firmware-sim/campaign/run.js';
import { buildReport, reportMarkdown } from '../../firmware-sim/campaign/report.js';
import { campaignScenario } from '../../firmware-sim/campaign/generate.js';
import { runPair } from '../../firmware-sim/campaign/pair.js';

const N = 40;

describe('campaign determinism', () => {
  it('same seed, same report bytes with 0, 1 and 2 workers', async () => {
    const reports = [];
    for (const workers of [0, 1, 2]) {
      const { results } = await runCampaign({ seed: 11, scenarios: N, workers, corePath: DEFAULT_CORE_PATH });
      const r = buildReport(11, results);
      reports.push(JSON.stringify(r) + reportMarkdown(r));
    }
    expect(reports[1]).toBe(reports[0]);
    expect(reports[2]).toBe(reports[0]);
  });

  it('a different seed gives a different swarm', () => {
    const a = Array.from({ length: 20 }, (_, i) => JSON.stringify(campaignScenario(1, i)));
    const b = Array.from({ length: 20 }, (_, i) => JSON.stringify(campaignScenario(2, i)));
    expect(a).not.toEqual(b);
  });

  it('scenario i re-runs alone with the result it had in the campaign', async () => {
    const { results } = await runCampaign({ seed: 5, scenarios: 12, workers: 0, corePath: DEFAULT_CORE_PATH });
    const module = new WebAssembly.Module(readFileSync(DEFAULT_CORE_PATH));
    expect(JSON.stringify(runPair(campaignScenario(5, 9), module))).toBe(JSON.stringify(results[9]));
  });
});
