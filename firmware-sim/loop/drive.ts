// The two drivers of a Simulation: the same sequence of steps and port
// calls, one calling an engine's Core directly (no promise anywhere on the
// path: the campaign runs ~10^8 ticks through it), the other awaiting a line
// target. Everything they decide is in simulation.ts; keep the two bodies
// line for line alike.

import type { Simulation, Outcome } from './simulation.js';
import type { ControllerPort } from './port.js';

export function driveSync(sim: Simulation, port: ControllerPort<'sync'>): Outcome {
  while (sim.running()) {
    if (sim.startTick()) {
      if (sim.setpointDue()) sim.setpointAnswered(port.setSetpoint(sim.setpoint, sim.request.clockUs));
      const req = sim.sample();
      const flips = sim.flips();
      if (flips !== null) for (const [addr, mask] of flips) { sim.flipping(addr, port.read(addr)); port.flip(addr, mask); }
      sim.reply(port.tick(req));
      const events = port.events();
      if (events !== null) sim.events(events);
      if (sim.overBudget()) {
        port.restart();
        sim.restarted(port.freshIntervalUs);
        sim.setpointAnswered(port.setSetpoint(sim.setpoint, sim.request.clockUs));
      }
      sim.endTick(sim.recording ? port.measurement() : NaN);
    }
    sim.next();
  }
  const left: (number | null)[] = [];
  for (const addr of sim.flipped()) left.push(port.read(addr));
  return sim.finish(port.finalMode(), left);
}

export async function driveAsync(sim: Simulation, port: ControllerPort<'async'>): Promise<Outcome> {
  while (sim.running()) {
    if (sim.startTick()) {
      if (sim.setpointDue()) sim.setpointAnswered(await port.setSetpoint(sim.setpoint, sim.request.clockUs));
      const req = sim.sample();
      const flips = sim.flips();
      if (flips !== null) for (const [addr, mask] of flips) { sim.flipping(addr, await port.read(addr)); await port.flip(addr, mask); }
      sim.reply(await port.tick(req));
      const events = await port.events();
      if (events !== null) sim.events(events);
      if (sim.overBudget()) {
        await port.restart();
        sim.restarted(port.freshIntervalUs);
        sim.setpointAnswered(await port.setSetpoint(sim.setpoint, sim.request.clockUs));
      }
      sim.endTick(sim.recording ? await port.measurement() : NaN);
    }
    sim.next();
  }
  const left: (number | null)[] = [];
  for (const addr of sim.flipped()) left.push(await port.read(addr));
  return sim.finish(await port.finalMode(), left);
}
