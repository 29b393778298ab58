export * from "./math.js";
export * from "./norm.js";
export * from "./attention.js";
export * from "./layout.js";
export { PrepackedWeight, linearPrepacked } from "./linear.js";
export { cast, to, clone, copyInto, toFloat32Array, toInt32Array, readBytes } from "./transfer.js";
export { tensor, zeros, ones, full, randn, rand } from "./creation.js";
