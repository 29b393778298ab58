export * from "./layers.js";
export { makeParam, nameSeed, type ParamFactory } from "./init.js";
