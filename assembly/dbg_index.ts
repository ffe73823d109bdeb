export * from "./index";
export { dbg_alt, dbg_jump, dbg_dist, dbg_frozen } from "./model";
