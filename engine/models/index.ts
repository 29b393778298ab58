export * from "./flux/index.js";
