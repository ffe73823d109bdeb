// `edgeloop/io`: what a sensor/actuator driver implements (binding.ts), and
// the bindings that ship with edgeloop (Modbus, Linux sysfs) with their
// configuration schema and createBinding(). The
// package's only entry into host/io/: add each new binding's module here.
export type { IoBinding, IoReading } from './binding.js';
export {
  createBinding, parseBindingConfig, bindingConfigIssues, bindingJsonSchema, BindingConfigSchema, BindingConfigError,
  type BindingConfig, type BindingConfigInput, type BindingOptions, type ConfiguredBinding, type ModbusConfig, type ModbusConfigInput,
  type SysfsConfig, type SysfsConfigInput,
} from './config.js';
export { ModbusBinding, type ModbusStats } from './modbus.js';
export { SysfsBinding, type SysfsStats } from './sysfs.js';
