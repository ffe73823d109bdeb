// The four simulated plants of firmware-sim, each with its tuned core
// configuration (see each file's header for the numbers and the choices).
//
// Change detectors, the same in every plant. Each plant's resid_sigma is the
// measured std of its residual in the nominal loop, so z = r / resid_sigma
// has unit variance. It is not white: the per-sensor median-of-3 holds a
// sample for up to three ticks, so the lag-1 autocorrelation of z is 0.45
// to 0.55. The core's defaults (CUSUM k = 1, h = 10; EWMA lambda = 0.1,
// L = 4.5: limit 1.03 sigma) assume white residuals. On these, over 10^6
// nominal ticks per plant, the CUSUM statistic reaches 9 to 15 and the EWMA
// 0.9 to 1.6 (its std is up to 1.4 times the white-noise value): with the
// defaults the thermal chamber and the drum false-trip within 200 to 6000
// ticks, the motor within 10^6, the tank (whose strong observer calms the
// residual) comes within 10 % of the limits. So every plant sets cusum_h =
// 25 and ewma_l = 11 (limit 11 sqrt(0.1 / 1.9) = 2.5 sigma), a margin of
// about 1.6 over those maxima (which grow by about 1 and 0.1 per decade of
// ticks). k and lambda keep their defaults: a 3-sigma shift trips the CUSUM
// in about 12 ticks, a step of 25 sigma (a sensor bias) in one.

import type { PlantName, PlantSpec } from '../types.js';
import { thermal } from './thermal.js';
import { motor } from './motor.js';
import { tank } from './tank.js';
import { integrator } from './integrator.js';

export const PLANTS: Readonly<Record<PlantName, PlantSpec>> = Object.freeze({ thermal, motor, tank, integrator });

export { Fopdt, FopdtVariable } from './fopdt.js';
export { ThermalChamber, THERMAL, THERMAL_U_NOMINAL, thermal } from './thermal.js';
export { DcMotor, MOTOR, MOTOR_U_NOMINAL, RPM_PER_RAD_S, motorNumbers, motor } from './motor.js';
export { Tank, TANK, TANK_U_NOMINAL, TANK_GAIN, TANK_TAU, TANK_SUBSTEP_S, tank } from './tank.js';
export { SurgeDrum, DRUM, integrator } from './integrator.js';
