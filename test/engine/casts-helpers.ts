// Shared helpers of the cast tests: run one native cast on JS bytes, read
// and write element codes (including packed bit streams, element i at bits
// [i*b, (i+1)*b) little-endian), a seeded PRNG and the float32 input sets.
import { native } from "../../engine/native-binding.js";
import { cast } from "../../engine/kernels/cast.js";
import { byteSize, dtypeInfo, type DType } from "../../engine/dtype.js";
import {
  FORMATS, valueTable, nextUpF32, nextDownF32, bitsFromF32, f32FromBits,
  type FormatName,
} from "../reference/float-formats.js";

export interface CastOptions {
  srcOffset?: number;
  dstOffset?: number;
  /** initial destination bytes (default: zeros sized for dstOffset + n) */
  dstInit?: Uint8Array;
}

/** Runs the native cast on `src` bytes and returns every byte of the destination storage. */
export function castBytes(
  src: Uint8Array, srcDtype: DType, dstDtype: DType, n: number, saturate: boolean, opts: CastOptions = {},
): Uint8Array {
  const srcOffset = opts.srcOffset ?? 0, dstOffset = opts.dstOffset ?? 0;
  const dstBytes = opts.dstInit?.length ?? byteSize(dstDtype, dstOffset + n);
  const s = new native.Storage(src.length, true);
  const d = new native.Storage(dstBytes, true);
  try {
    if (src.length) native.write(s, 0, src);
    if (opts.dstInit) native.write(d, 0, opts.dstInit);
    cast(s, srcDtype, srcOffset, d, dstDtype, dstOffset, n, saturate);
    return new Uint8Array(native.read(d, 0, dstBytes));
  } finally {
    s.free();
    d.free();
  }
}

/** Element codes (unsigned) of n elements starting at element `offset`. */
export function readCodes(bytes: Uint8Array, dtype: DType, n: number, offset = 0): Uint32Array {
  const bits = dtypeInfo(dtype).bits;
  const out = new Uint32Array(n);
  if (bits >= 8) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) {
      const at = (offset + i) * (bits / 8);
      out[i] = bits === 8 ? bytes[at]! : bits === 16 ? view.getUint16(at, true) : view.getUint32(at, true);
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    let code = 0;
    for (let b = 0; b < bits; b++) {
      const pos = (offset + i) * bits + b;
      if ((bytes[pos >> 3]! >> (pos & 7)) & 1) code |= 1 << b;
    }
    out[i] = code;
  }
  return out;
}

/** Writes codes into `bytes` from element `offset`, leaving other bits alone. */
export function writeCodes(bytes: Uint8Array, dtype: DType, codes: ArrayLike<number>, offset = 0): void {
  const bits = dtypeInfo(dtype).bits;
  if (bits >= 8) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < codes.length; i++) {
      const at = (offset + i) * (bits / 8);
      if (bits === 8) bytes[at] = codes[i]!;
      else if (bits === 16) view.setUint16(at, codes[i]!, true);
      else view.setUint32(at, codes[i]! >>> 0, true);
    }
    return;
  }
  for (let i = 0; i < codes.length; i++) {
    for (let b = 0; b < bits; b++) {
      const pos = (offset + i) * bits + b;
      const bit = (codes[i]! >> b) & 1;
      bytes[pos >> 3] = (bytes[pos >> 3]! & ~(1 << (pos & 7))) | (bit << (pos & 7));
    }
  }
}

/** Bytes holding `codes` as elements of `dtype` from element 0. */
export function bytesOf(dtype: DType, codes: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(byteSize(dtype, codes.length));
  writeCodes(bytes, dtype, codes);
  return bytes;
}

/** Deterministic PRNG (mulberry32): 32-bit unsigned outputs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export const NAN_BITS = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fa12345, 0xffbfffff, 0x7fffffff, 0x7fc02000];

/** float32 values every format must handle: zeros, infinities, NaNs, subnormals, limits. */
export function specialF32Bits(): number[] {
  const values = [
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, ...NAN_BITS,
    0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000, 0x80800000,  // float32 subnormals, min normal
    0x7f7fffff, 0xff7fffff,  // float32 max
  ];
  return values.map((v) => v >>> 0);
}

/**
 * float32 inputs that probe format `name`: each code's value, each midpoint
 * between adjacent values and its float32 neighbours, the same around the
 * overflow midpoint (max, max + ulp), both signs.
 */
export function probeF32Bits(name: FormatName): number[] {
  const f = FORMATS[name];
  const t = valueTable(f);
  const magnitudes: number[] = [];
  const withNeighbours = (x: number) => {
    const y = Math.fround(x);
    if (y !== x) throw new Error(`probe ${x} is not a float32`);
    magnitudes.push(y, nextUpF32(y), nextDownF32(y));
  };
  for (let i = 0; i < t.values.length; i++) {
    magnitudes.push(t.values[i]!);
    if (i + 1 < t.values.length) withNeighbours((t.values[i]! + t.values[i + 1]!) / 2);
  }
  withNeighbours((t.maxFinite + t.pastMaxValue) / 2);
  if (Number.isFinite(Math.fround(t.pastMaxValue))) withNeighbours(t.pastMaxValue);
  const out: number[] = [];
  for (const m of magnitudes) {
    if (m < 0) continue;  // nextDown(0)
    out.push(bitsFromF32(m), bitsFromF32(-m));
  }
  return out;
}

/** Every float16 and every bfloat16 code's value as a float32 input (NaN codes give NaN bits). */
export function allHalfValuesAsF32Bits(): number[] {
  const out: number[] = [];
  for (const name of ["float16", "bfloat16"] as const) {
    for (let code = 0; code < 65536; code++) {
      if (name === "bfloat16") { out.push((code << 16) >>> 0); continue; }
      const exp = (code >> 10) & 31, mant = code & 1023;
      if (exp === 31) { out.push((((code & 0x8000) << 16) | 0x7f800000 | (mant << 13)) >>> 0); continue; }
      const value = (code & 0x8000 ? -1 : 1) * (exp === 0 ? mant * Math.pow(2, -24) : (1024 + mant) * Math.pow(2, exp - 25));
      out.push(bitsFromF32(value));
    }
  }
  return out;
}

export function f32BytesFromBits(bits: ArrayLike<number>): Uint8Array {
  const u = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! >>> 0;
  return new Uint8Array(u.buffer);
}

export function hex(v: number, digits = 8): string {
  return "0x" + (v >>> 0).toString(16).padStart(digits, "0");
}

/** Compares codes and reports the first few mismatches with their inputs. */
export function firstMismatches(
  got: ArrayLike<number>, expected: ArrayLike<number>, describeInput: (i: number) => string, limit = 5,
): string[] {
  const bad: string[] = [];
  for (let i = 0; i < expected.length && bad.length < limit; i++) {
    if (got[i] !== expected[i]) bad.push(`#${i} input ${describeInput(i)}: got ${hex(got[i]!, 2)} expected ${hex(expected[i]!, 2)}`);
  }
  return bad;
}

export { f32FromBits, bitsFromF32 };
