// `edgeloop/io`: what a sensor/actuator driver implements (binding.ts), and
// the bindings that ship with edgeloop as they are added beside it. The
// package's only entry into host/io/: add each new binding's module here.
export type { IoBinding, IoReading } from './binding.js';
