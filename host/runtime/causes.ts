// What each of the guard's causes means, in a few words, for narration,
// logs and the dashboard (docs/core.md, "Causes and reactions", has the
// whole table). Keyed by the names in abi.ts, so a cause added there without
// a line here does not compile.

import type { CauseName } from './abi.js';

export const CAUSE_TEXT: Readonly<Record<CauseName, string>> = {
  soft_repaired: 'a soft error the configuration scrub repaired',
  soft_failed: 'a soft error that cannot be repaired',
  timing: 'missed ticks, overruns or a stalled clock',
  setpoint: "the host's setpoint is stale",
  sensor_noisy: 'spikes or noise on the sensors kept',
  sensor_voted_out: 'a bad sensor voted out among redundant ones',
  sensor_untrusted: 'a biased, frozen or lost sensor',
  act_weak: 'the actuator gives less than asked',
  act_stuck: 'the actuator does not follow its command',
  act_reversed: 'the actuator moves against its command',
  load: 'the plant moved, the actuator is healthy',
  control: 'a persistent tracking error',
  oscillation: 'the primary controller rings',
  envelope: 'the state is predicted to leave the safety envelope',
  host: "a host's demand",
  early_warning: 'critical slowing down of the residual',
};

/** `act_reversed (the actuator moves against its command)`, or the reason as given ('cleared', 'reset', an unknown name). */
export function describeCause(reason: string | undefined): string {
  if (!reason) return 'no cause given';
  const text = (CAUSE_TEXT as Record<string, string>)[reason];
  return text ? `${reason} (${text})` : reason;
}
