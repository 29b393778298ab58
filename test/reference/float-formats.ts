// Independent reference for the engine's narrow float formats, written from
// the format definitions rather than from the engine's bit tricks: each
// format is (exponent bits, mantissa bits, bias, what the all-ones exponent
// means); every code is decoded to a float64 with Math.pow arithmetic, and a
// value is encoded by binary search over the sorted finite values with an
// explicit ties-to-even rule on the code's last mantissa bit, plus the
// overflow and NaN conventions documented in engine/kernels/cast.ts.

export type FormatName =
  | "float16" | "bfloat16" | "float8_e4m3fn" | "float8_e5m2"
  | "fp6_e3m2" | "fp5_e2m2" | "fp4_e2m1";

/**
 * ieee: the all-ones exponent holds inf (mantissa 0) and NaN (otherwise).
 * fn: no inf; only the all-ones exponent with all-ones mantissa is NaN.
 * finite: every code is a finite number (no inf, no NaN).
 */
export type SpecialValues = "ieee" | "fn" | "finite";

export interface FloatFormat {
  name: FormatName;
  expBits: number;
  mantBits: number;
  bias: number;
  special: SpecialValues;
}

function format(name: FormatName, expBits: number, mantBits: number, special: SpecialValues): FloatFormat {
  return { name, expBits, mantBits, bias: Math.pow(2, expBits - 1) - 1, special };
}

export const FORMATS: Record<FormatName, FloatFormat> = {
  float16: format("float16", 5, 10, "ieee"),
  bfloat16: format("bfloat16", 8, 7, "ieee"),
  float8_e4m3fn: format("float8_e4m3fn", 4, 3, "fn"),
  float8_e5m2: format("float8_e5m2", 5, 2, "ieee"),
  fp6_e3m2: format("fp6_e3m2", 3, 2, "finite"),
  fp5_e2m2: format("fp5_e2m2", 2, 2, "finite"),
  fp4_e2m1: format("fp4_e2m1", 2, 1, "finite"),
};
export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];

export function totalBits(f: FloatFormat): number {
  return 1 + f.expBits + f.mantBits;
}
export function codeCount(f: FloatFormat): number {
  return Math.pow(2, totalBits(f));
}

interface Fields { negative: boolean; exponent: number; mantissa: number }
function fields(f: FloatFormat, code: number): Fields {
  const mantScale = Math.pow(2, f.mantBits);
  const expScale = Math.pow(2, f.expBits);
  const mantissa = code % mantScale;
  const exponent = Math.floor(code / mantScale) % expScale;
  const negative = Math.floor(code / (mantScale * expScale)) === 1;
  return { negative, exponent, mantissa };
}

export function isNanCode(f: FloatFormat, code: number): boolean {
  const { exponent, mantissa } = fields(f, code);
  const allOnesExp = exponent === Math.pow(2, f.expBits) - 1;
  if (f.special === "ieee") return allOnesExp && mantissa !== 0;
  if (f.special === "fn") return allOnesExp && mantissa === Math.pow(2, f.mantBits) - 1;
  return false;
}

/** The value of a code as a float64 (NaN, +-Infinity and -0 included). */
export function decode(f: FloatFormat, code: number): number {
  const { negative, exponent, mantissa } = fields(f, code);
  const sign = negative ? -1 : 1;
  if (isNanCode(f, code)) return NaN;
  if (f.special === "ieee" && exponent === Math.pow(2, f.expBits) - 1) return sign * Infinity;
  const fraction = mantissa / Math.pow(2, f.mantBits);
  const magnitude = exponent === 0
    ? fraction * Math.pow(2, 1 - f.bias)             // subnormal: 0.mantissa * 2^(1-bias)
    : (1 + fraction) * Math.pow(2, exponent - f.bias);
  return sign * magnitude;
}

/**
 * Sorted non-negative finite values of a format with their (positive) codes,
 * plus the would-be next code past the largest finite value: code maxCode + 1
 * with value max + ulp(max). Rounding to it is an overflow.
 */
export interface ValueTable {
  values: Float64Array;
  codes: Uint32Array;
  maxFinite: number;
  maxCode: number;
  pastMaxValue: number;
  signBit: number;
  /** code (without sign) an overflow gives: inf, NaN (e4m3fn) or max (sub-byte formats) */
  overflowCode: number;
}
const tables = new Map<FormatName, ValueTable>();
export function valueTable(f: FloatFormat): ValueTable {
  let t = tables.get(f.name);
  if (!t) {
    const entries: { value: number; code: number }[] = [];
    for (let code = 0; code < codeCount(f) / 2; code++) {
      const value = decode(f, code);
      if (Number.isFinite(value)) entries.push({ value, code });
    }
    entries.sort((a, b) => a.value - b.value);
    const last = entries[entries.length - 1]!;
    const maxExponent = Math.floor(last.code / Math.pow(2, f.mantBits));
    const ulpOfMax = Math.pow(2, maxExponent - f.bias - f.mantBits);
    const overflowCode = f.special === "ieee" ? (Math.pow(2, f.expBits) - 1) * Math.pow(2, f.mantBits)  // inf
      : f.special === "fn" ? last.code + 1  // the NaN code
      : last.code;  // finite formats saturate
    t = {
      values: Float64Array.from(entries, (e) => e.value),
      codes: Uint32Array.from(entries, (e) => e.code),
      maxFinite: last.value,
      maxCode: last.code,
      pastMaxValue: last.value + ulpOfMax,
      signBit: Math.pow(2, totalBits(f) - 1),
      overflowCode,
    };
    tables.set(f.name, t);
  }
  return t;
}

function signBit(f: FloatFormat): number {
  return valueTable(f).signBit;
}

/** The code a NaN input becomes (documented in engine/kernels/cast.ts). */
export function nanCodeFor(f: FloatFormat, f32Bits: number): number {
  const negative = f32Bits >>> 31 === 1;
  const sign = negative ? signBit(f) : 0;
  switch (f.name) {
    case "float8_e4m3fn": case "float8_e5m2":
      return sign + 0x7f;
    case "float16":  // quiet bit set, top 9 payload bits kept
      return sign + 0x7e00 + ((f32Bits >>> 13) & 0x1ff);
    case "bfloat16":
      return sign + 0x7fc0 + ((f32Bits >>> 16) & 0x3f);
    default:
      return 0;  // the sub-byte formats have no NaN: +0
  }
}

/**
 * Code for a non-NaN value (a float32 value given as a float64). Round to
 * nearest, ties to the code with an even last mantissa bit. Past the largest
 * finite value the next code up would be maxCode + 1 with value
 * max + ulp(max); rounding to it is an overflow: inf for ieee formats, NaN
 * for e4m3fn, max for the sub-byte formats. saturate clamps |x| (inf
 * included) to max first.
 */
export function encodeValue(f: FloatFormat, x: number, saturate: boolean): number {
  if (Number.isNaN(x)) throw new Error("encodeValue: NaN has no value; use nanCodeFor");
  const t = valueTable(f);
  const sign = x < 0 || Object.is(x, -0) ? t.signBit : 0;
  let a = Math.abs(x);
  if (saturate && a > t.maxFinite) a = t.maxFinite;
  if (a === Infinity) return sign + t.overflowCode;

  // largest index whose value is <= a
  const values = t.values;
  let lo = 0, hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (values[mid]! <= a) lo = mid; else hi = mid - 1;
  }
  const below = values[lo]!;
  if (below === a) return sign + t.codes[lo]!;

  const pastMax = lo === values.length - 1;
  const aboveValue = pastMax ? t.pastMaxValue : values[lo + 1]!;
  const aboveCode = pastMax ? t.maxCode + 1 : t.codes[lo + 1]!;
  const midpoint = (below + aboveValue) / 2;  // exact in float64 for these formats
  const roundUp = a > midpoint || (a === midpoint && aboveCode % 2 === 0);
  if (!roundUp) return sign + t.codes[lo]!;
  return sign + (pastMax ? t.overflowCode : aboveCode);
}

const f32Scratch = new DataView(new ArrayBuffer(4));
export function f32FromBits(bits: number): number {
  f32Scratch.setUint32(0, bits >>> 0);
  return f32Scratch.getFloat32(0);
}
export function bitsFromF32(x: number): number {
  f32Scratch.setFloat32(0, x);
  return f32Scratch.getUint32(0);
}

/** Code for a float32 input given by its bits. */
export function encodeFloat32Bits(f: FloatFormat, bits: number, saturate: boolean): number {
  const abs = (bits & 0x7fffffff) >>> 0;
  if (abs > 0x7f800000) return nanCodeFor(f, bits >>> 0);
  return encodeValue(f, f32FromBits(bits), saturate);
}

/**
 * float32 bits a code decodes to. Values are exact in float32; NaN follows
 * the documented conventions (float16/e5m2: quiet, payload kept; e4m3fn:
 * PyTorch's 0x7ff00000; bfloat16: the code in the top half).
 */
export function decodeToFloat32Bits(f: FloatFormat, code: number): number {
  if (isNanCode(f, code)) {
    const { negative, mantissa } = fields(f, code);
    const sign = negative ? 0x80000000 : 0;
    switch (f.name) {
      case "float16": return (sign + 0x7fc00000 + ((mantissa * 8192) & 0x3fffff)) >>> 0;
      case "float8_e5m2": return (sign + 0x7fc00000 + ((mantissa * 0x200000) & 0x3fffff)) >>> 0;
      case "float8_e4m3fn": return (sign + 0x7ff00000) >>> 0;
      case "bfloat16": return (code * 65536) >>> 0;
      default: throw new Error("unreachable: sub-byte formats have no NaN");
    }
  }
  return bitsFromF32(decode(f, code));
}

/** float32 neighbours (toward +inf / -inf) of a finite float32 value. */
export function nextUpF32(x: number): number {
  if (x === 0) return f32FromBits(1);
  const bits = bitsFromF32(x);
  return f32FromBits(x > 0 ? bits + 1 : bits - 1);
}
export function nextDownF32(x: number): number {
  return -nextUpF32(-x);
}
