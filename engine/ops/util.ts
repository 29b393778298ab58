// Shared checks for the op layer: one device per op (named in the error,
// like PyTorch), dtype checks, strides and broadcasting.
import { moduleLocation } from "../context.js";
import { isComputeDType, type DType } from "../dtype.js";
import { formatShape, type Tensor } from "../tensor.js";
import type { Device } from "../device.js";

/** The device all tensors share; throws naming both devices and the module otherwise. */
export function sameDevice(op: string, ...tensors: (Tensor | null | undefined)[]): Device {
  let first: Tensor | undefined;
  for (const t of tensors) {
    if (!t) continue;
    if (!first) first = t;
    else if (t.device !== first.device) {
      throw new Error(
        `Expected all tensors to be on the same device, but found at least two devices, ${first.device.name} and ${t.device.name}` +
          ` (in ${op}${moduleLocation()}). Move them with .to(device) first; vramlab never copies silently.`,
      );
    }
  }
  if (!first) throw new TypeError(`${op}: no tensor arguments`);
  return first.device;
}

export function requireCompute(op: string, t: Tensor, what = "input"): void {
  if (!isComputeDType(t.dtype)) {
    throw new TypeError(`${op}: ${what} has dtype ${t.dtype}; this op computes on float32, float16 or bfloat16 (cast it with .to({dtype}))${moduleLocation()}`);
  }
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i]!;
  }
  return st;
}

export function normDim(dim: number, ndim: number, op: string): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= ndim) throw new RangeError(`${op}: dim ${dim} is out of range for a ${ndim}-d tensor`);
  return d;
}

/** PyTorch broadcasting: the result shape and each input's strides over it (0 where broadcast). */
export function broadcast(op: string, a: readonly number[], b: readonly number[]): { shape: number[]; aStrides: number[]; bStrides: number[] } {
  const n = Math.max(a.length, b.length);
  const shape: number[] = [];
  const as = contiguousStrides(a);
  const bs = contiguousStrides(b);
  const aStrides: number[] = [];
  const bStrides: number[] = [];
  for (let i = 0; i < n; i++) {
    const ai = i - (n - a.length);
    const bi = i - (n - b.length);
    const ad = ai >= 0 ? a[ai]! : 1;
    const bd = bi >= 0 ? b[bi]! : 1;
    if (ad !== bd && ad !== 1 && bd !== 1) {
      throw new TypeError(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together (dimension ${i}: ${ad} vs ${bd})${moduleLocation()}`);
    }
    const d = ad === 1 ? bd : ad;
    shape.push(d);
    aStrides.push(ai >= 0 && ad !== 1 ? as[ai]! : 0);
    bStrides.push(bi >= 0 && bd !== 1 ? bs[bi]! : 0);
  }
  return { shape, aStrides, bStrides };
}

/** Result dtype of a binary op on two float tensors (PyTorch promotion among f32/f16/bf16). */
export function promote(a: DType, b: DType): DType {
  if (a === b) return a;
  return "float32";
}
