// Parameter creation for layers: seeded random values that depend only on
// (seed, parameter name), so any subset of a model is reproducible, or
// uninitialised storage when a checkpoint will fill it.
import type { DType } from "../dtype.js";
import type { Device } from "../device.js";
import { Tensor } from "../tensor.js";
import { randn, full } from "../ops/creation.js";

export interface ParamFactory {
  device: Device;
  dtype: DType;
  /** "random": seeded values; "empty": uninitialised (a loader fills them) */
  init: "random" | "empty";
  seed: number;
  /** every tensor made so far, so a failed construction can free them */
  created?: Tensor[];
}

/** 32-bit FNV-1a of a string, mixed with the model seed. */
export function nameSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export type InitKind = { kind: "normal"; std: number; mean?: number } | { kind: "constant"; value: number };

export function makeParam(f: ParamFactory, name: string, shape: number[], init: InitKind): Tensor {
  const t =
    f.init === "empty" ? Tensor.empty(shape, f.dtype, f.device, name)
    : init.kind === "constant" ? full(shape, init.value, { dtype: f.dtype, device: f.device, owner: name })
    : randn(shape, { seed: nameSeed(f.seed, name), std: init.std, mean: init.mean ?? 0, dtype: f.dtype, device: f.device, owner: name });
  f.created?.push(t);
  return t;
}
