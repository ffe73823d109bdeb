// What a staged rollout looks like from outside (dashboard, metrics, CLI).
// host/deploy/rollout.ts produces it; the dashboard renders it.

export type RolloutPhase = 'canary' | 'soak' | 'rollout' | 'done' | 'rolled_back' | 'failed';

export type RolloutAgentState = 'waiting' | 'sent' | 'running' | 'rolled_back' | 'failed';

/** One line of a rollout's log: a transition or a message sent, with its time. */
export interface RolloutLogEntry {
  tMs: number;
  message: string;
}

export interface RolloutView {
  id: string;
  group: string;
  /** sha256 of the module being rolled out (hex, first 16 characters). */
  module: string;
  phase: RolloutPhase;
  /** The canary agent's key (group/node/device). */
  canary: string;
  agents: { key: string; state: RolloutAgentState; detail: string }[];
  /** Why the rollout is where it is (the rollback reason, for one). */
  reason: string;
  startedMs: number;
  /** When the soak window ends (ms), while soaking. */
  soakUntilMs: number | null;
  /** Every transition so far, oldest first. */
  log?: RolloutLogEntry[];
}
