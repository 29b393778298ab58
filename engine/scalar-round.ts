// Rounds a JS number to a float dtype's nearest value (round-to-nearest-even),
// for small host-side computations that must match PyTorch's rounding
// (timestep scaling, sinusoidal embeddings).
import type { DType } from "./dtype.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bf16Round(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return NaN;
  u32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
  return f32[0]!;
}

function f16Round(x: number): number {
  const v = Math.fround(x);
  if (!Number.isFinite(v)) return v;
  const a = Math.abs(v);
  if (a >= 65520) return v > 0 ? Infinity : -Infinity;
  // quantum of the float16 grid at |v| (subnormal spacing 2^-24 below 2^-14)
  const e = a < 2 ** -14 ? -24 : Math.floor(Math.log2(a)) - 10;
  const q = 2 ** e;
  const scaled = a / q;
  let r = Math.round(scaled);
  if (Math.abs(scaled - Math.trunc(scaled) - 0.5) === 0 && r % 2 === 1) r -= 1; // ties to even
  return Math.sign(v) * r * q;
}

export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case "float32":
      return Math.fround(x);
    case "bfloat16":
      return bf16Round(x);
    case "float16":
      return f16Round(x);
    default:
      throw new TypeError(`roundTo: ${dtype} is not a float activation dtype`);
  }
}
