// The flatten protocol. A module's weight is either a plain Tensor or a
// tensor subclass (a quantized QTensor, ...) whose payload lives in named
// inner tensors. Everything that moves, pins, casts, offloads, counts or
// saves weights goes through flattenWeight / rebuildWeight, so no code
// outside the subclass knows its layout, and "the wrapper moved but the
// payload stayed behind" cannot happen.
import type { DType } from "./dtype.js";
import type { Device } from "./device.js";
import { Tensor } from "./tensor.js";

export interface TensorSubclass {
  readonly isTensorSubclass: true;
  /** logical shape, e.g. a quantized Linear weight's [out, in] */
  readonly shape: readonly number[];
  /** logical (compute) dtype */
  readonly dtype: DType;
  /** where the inner tensors live (always together) */
  readonly device: Device;
  /** inner tensors by name, in a fixed order */
  innerTensors(): [string, Tensor][];
  /** the same subclass over new inner tensors (same names, shapes and dtypes) */
  rebuild(inner: Map<string, Tensor>): TensorSubclass;
  /** JSON metadata that, with the inner tensors, rebuilds it (saved in checkpoints) */
  metadata(): Record<string, unknown>;
  /** a dense tensor with the represented values */
  dequantize(dtype?: DType): Tensor;
  /** x @ W^T + bias computed from the payload (without it, linear dequantizes first) */
  linear?(x: Tensor, bias: Tensor | null): Tensor;
  dispose(): void;
  readonly isDisposed: boolean;
}

export type Weight = Tensor | TensorSubclass;

export function isTensorSubclass(w: unknown): w is TensorSubclass {
  return typeof w === "object" && w !== null && (w as TensorSubclass).isTensorSubclass === true;
}

/** Leaf tensors of a weight: [["", t]] for a plain tensor, the inner tensors of a subclass. */
export function flattenWeight(w: Weight): [string, Tensor][] {
  return w instanceof Tensor ? [["", w]] : w.innerTensors();
}

/** Rebuilds a weight of the same kind from new leaf tensors (as flattenWeight named them). */
export function rebuildWeight(w: Weight, leaves: Map<string, Tensor>): Weight {
  if (w instanceof Tensor) {
    const t = leaves.get("");
    if (!t) throw new Error("rebuildWeight: a plain tensor needs its leaf \"\"");
    return t;
  }
  for (const [name] of w.innerTensors()) if (!leaves.has(name)) throw new Error(`rebuildWeight: inner tensor "${name}" is missing`);
  return w.rebuild(leaves);
}

/**
 * A new weight whose every leaf is fn(leaf). Used for device moves, pinning, casting and
 * offloading: it cannot leave an inner tensor behind, because it visits all of them.
 */
export function mapWeight(w: Weight, fn: (leaf: Tensor, innerName: string) => Tensor): Weight {
  const leaves = new Map<string, Tensor>();
  for (const [name, t] of flattenWeight(w)) leaves.set(name, fn(t, name));
  return rebuildWeight(w, leaves);
}

export function weightDevices(w: Weight): Device[] {
  return [...new Set(flattenWeight(w).map(([, t]) => t.device))];
}

/** Bytes of all leaves. */
export function weightBytes(w: Weight): number {
  let n = 0;
  for (const [, t] of flattenWeight(w)) n += t.nbytes;
  return n;
}

export function weightNumel(w: Weight): number {
  return w.shape.reduce((a, b) => a * b, 1);
}

/** "name" for a plain tensor, "name.inner" for a subclass leaf. */
export function leafName(weightName: string, innerName: string): string {
  return innerName ? `${weightName}.${innerName}` : weightName;
}
