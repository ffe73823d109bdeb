// `edgeloop/agent`: a loop as a Sparkplug B edge node (agent.ts) and the slot
// its cores run in, with hot swap and rollback (core-slot.ts). The binding an
// agent closes its loop through is in `edgeloop/io`.
export { Agent, ISOLATE_DEADLINE_MS, RESEND_MAX, readReleaseFloor, type AgentOptions, type AgentStats, type TrapReport } from './agent.js';
export { CoreSlot, type CoreConfig, type CoreMaker } from './core-slot.js';
