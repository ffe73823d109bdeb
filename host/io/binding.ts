// The I/O binding: what a sensor/actuator driver implements so that a loop
// can run on it. An agent (host/agent/agent.ts) closes its loop only through
// this interface; firmware-sim/device.ts implements it on a simulated plant,
// a real driver implements it on ADCs, a DAC or PWM and a contactor. It sits
// beside the runtime, not inside the agent, so that a driver (or the
// simulator) needs only this file and host/runtime/ (the arrows point one
// way: ARCHITECTURE.md, layers inside the host).
//
// Three channels, driven every tick:
//
//   read()      sensors in (raw ADC counts), the actuator's feedback, and an
//               optional reference fed to this loop locally
//   write()     the actuator command, engineering units
//   writeTrip() the trip output, independent of the actuator command
//
// The trip output is de-energize to trip: `tripped = true` means remove the
// energy (open the contactor, safe torque off, close the isolation valves),
// `false` means run permitted. Wire the channel so that its unpowered state
// is the tripped state: a dead driver, a cut wire or a host that stops
// calling writeTrip() then trips too (a hardware watchdog on the channel,
// fed by writeTrip(false), does that for a host that hangs). The core
// verifies the trip from the actuator's feedback (`trip_fb`,
// `trip_verify_us`): while tripped, read() should report the feedback the
// actuator really shows, never the command.
//
// A binding with no physical trip channel still implements writeTrip(), and
// its documentation must say how it makes the loop safe without one (for
// example: it drives the actuator to its unpowered value and ignores
// write() until released). Such a binding is only as safe as its actuator
// path: the trip is meant for the faults where that path is not to be
// trusted (a reversed or stuck driver).

/** What a binding reads at one tick. */
export interface IoReading {
  /** Raw sensor samples (ADC counts), one per redundant sensor; null for "no sample this tick". */
  sensors: (number | null)[];
  /** The actuator's measured output (engineering units of the command), if it has a feedback channel. */
  feedback?: number | null;
  /**
   * A setpoint fed to this loop locally (engineering units), wired from an
   * upstream process as in a cascade or a line that follows its lead zone:
   * the agent follows it unless the coordinator holds the loop.
   */
  reference?: number | null;
}

/** What a real sensor/actuator driver implements. */
export interface IoBinding {
  /** The sensors, the actuator's feedback and the reference at time nowUs (microseconds, the agent's clock). */
  read(nowUs: number): IoReading;
  /** Apply the actuator command (engineering units). */
  write(command: number, nowUs: number): void;
  /**
   * Drive the trip output, every tick: true = de-energize (trip), false =
   * run permitted. The agent passes the core's `tripped` after each tick;
   * on a trip it calls writeTrip() before write(), on a release after it.
   */
  writeTrip(tripped: boolean, nowUs: number): void;
}
