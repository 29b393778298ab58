// Float64 / JS reference of the quantization kernels (engine/kernels/quant.ts),
// written from the stated formulas: every float32 operation is a float64
// operation followed by Math.fround (exact for +, -, *, / of float32
// operands), rounding is an explicit half-to-even, float formats are encoded
// with the independent value-table encoder of float-formats.ts, and integer
// sums are exact float64 integers (well below 2^53).
import {
  FORMATS, decode as decodeFormat, encodeFloat32Bits, bitsFromF32, type FormatName,
} from "./float-formats.js";

export type QDType = "int8" | "int4" | "float8_e4m3fn" | "fp6_e3m2" | "fp5_e2m2" | "fp4_e2m1";
export type QuantModeRef = "symmetric" | "asymmetric";
export const FLOAT_QDTYPES: readonly QDType[] = ["float8_e4m3fn", "fp6_e3m2", "fp5_e2m2", "fp4_e2m1"];

export const FLOAT32_EPS = 1.1920928955078125e-07;
const FLOAT_SCALE_MIN = Math.fround(1e-12);

export function isFloatQDType(d: QDType): boolean {
  return FLOAT_QDTYPES.includes(d);
}
export function qdtypeBits(d: QDType): number {
  switch (d) {
    case "int8": case "float8_e4m3fn": return 8;
    case "fp6_e3m2": return 6;
    case "fp5_e2m2": return 5;
    default: return 4;
  }
}
/** Largest finite value of a float quantization format. */
export function formatMax(d: QDType): number {
  switch (d) {
    case "float8_e4m3fn": return 448;
    case "fp6_e3m2": return 28;
    case "fp5_e2m2": return 7;
    case "fp4_e2m1": return 6;
    default: throw new Error(`${d} is not a float format`);
  }
}

/** Round half to even of a float64 (the kernels round float32 values, which are float64 values). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface QuantizedRef {
  /** integer formats: the stored signed integer; float formats: the unsigned code */
  codes: Int32Array;
  scale: Float64Array;
  /** asymmetric only */
  zero: Float64Array | null;
}

/**
 * Quantizes float32 values `x` ([rows, cols], groups of groupSize along a row)
 * as engine/kernels/quant.ts documents.
 */
export function quantizeRef(
  x: ArrayLike<number>, rows: number, cols: number, groupSize: number,
  qdtype: QDType, mode: QuantModeRef, qmin: number, qmax: number,
): QuantizedRef {
  const n = rows * cols;
  const groups = n / groupSize;
  const codes = new Int32Array(n);
  const scale = new Float64Array(groups);
  const zero = mode === "asymmetric" ? new Float64Array(groups) : null;
  const mid = (qmin + qmax + 1) / 2;
  for (let g = 0; g < groups; g++) {
    const begin = g * groupSize, end = begin + groupSize;
    let lo = Infinity, hi = -Infinity, nan = false;
    for (let i = begin; i < end; i++) {
      const v = x[i]!;
      if (Number.isNaN(v)) nan = true;
      else { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    const minNeg = nan ? NaN : Math.min(lo, 0);
    const maxPos = nan ? NaN : Math.max(hi, 0);
    const amax = nan ? NaN : Math.max(-minNeg, maxPos);
    let s: number;
    if (mode === "asymmetric") {
      s = Math.fround(Math.fround(maxPos - minNeg) / (qmax - qmin));
      if (s < FLOAT32_EPS) s = FLOAT32_EPS;
      const offset = Math.fround(s * mid);
      const z = Math.fround(minNeg + offset);
      zero![g] = z;
      const minVal = Math.fround(z - offset);  // torchao: min_val = zero - scale * mid
      for (let i = begin; i < end; i++) {
        const v = x[i]!;
        const y = Math.fround(Math.fround(v - minVal) / s);
        const q = Number.isNaN(y) ? 0 : Math.min(Math.max(roundHalfEven(y), qmin), qmax);
        codes[i] = Number.isNaN(v) ? 0 : q - mid;
      }
    } else if (isFloatQDType(qdtype)) {
      s = Math.fround(amax / formatMax(qdtype));
      if (s < FLOAT_SCALE_MIN) s = FLOAT_SCALE_MIN;
      const format = FORMATS[qdtype as FormatName];
      for (let i = begin; i < end; i++) codes[i] = encodeFloat32Bits(format, bitsFromF32(Math.fround(x[i]! / s)), true);
    } else {
      s = Math.fround(amax / ((qmax - qmin) / 2));
      if (s < FLOAT32_EPS) s = FLOAT32_EPS;
      for (let i = begin; i < end; i++) {
        const y = Math.fround(x[i]! / s);
        codes[i] = Number.isNaN(y) ? 0 : Math.min(Math.max(roundHalfEven(y), qmin), qmax);
      }
    }
    scale[g] = s;
  }
  return { codes, scale, zero };
}

/** The float32 value of each element, as dequantize() computes it. */
export function dequantizeRef(
  codes: ArrayLike<number>, qdtype: QDType, scale: ArrayLike<number>, zero: ArrayLike<number> | null,
  rows: number, cols: number, groupSize: number, scaleRowStride: number,
): Float64Array {
  const out = new Float64Array(rows * cols);
  const format = isFloatQDType(qdtype) ? FORMATS[qdtype as FormatName] : null;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const g = r * scaleRowStride + Math.floor(c / groupSize);
      const value = format ? decodeFormat(format, codes[i]!) : codes[i]!;
      const scaled = Math.fround(value * scale[g]!);
      out[i] = zero ? Math.fround(scaled + zero[g]!) : scaled;
    }
  }
  return out;
}

/** Packs codes (integers are stored in two's complement) into the kernels' little-endian bit stream. */
export function packCodes(codes: ArrayLike<number>, qdtype: QDType, into?: Uint8Array): Uint8Array {
  const bits = qdtypeBits(qdtype);
  const out = into ?? new Uint8Array(Math.ceil((codes.length * bits) / 8));
  const mask = (1 << bits) - 1;
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]! & mask;
    for (let b = 0; b < bits; b++) {
      const pos = i * bits + b;
      const bit = (code >> b) & 1;
      out[pos >> 3] = (out[pos >> 3]! & ~(1 << (pos & 7))) | (bit << (pos & 7));
    }
  }
  return out;
}

/** Codes of n elements of a packed stream; integer formats come back signed. */
export function unpackCodes(bytes: Uint8Array, qdtype: QDType, n: number): Int32Array {
  const bits = qdtypeBits(qdtype);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let code = 0;
    for (let b = 0; b < bits; b++) {
      const pos = i * bits + b;
      if ((bytes[pos >> 3]! >> (pos & 7)) & 1) code |= 1 << b;
    }
    if (qdtype === "int8" && code >= 128) code -= 256;
    if (qdtype === "int4" && code >= 8) code -= 16;
    out[i] = code;
  }
  return out;
}

/** Exact sums acc[m][n] = sum_k x[m,k] * w[n,k] of int8 matrices (float64 integers, exact). */
export function int8DotRef(x: Int8Array, w: Int8Array, M: number, N: number, K: number): Float64Array {
  const acc = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
      acc[m * N + n] = s;
    }
  }
  return acc;
}

/** int8Gemm's float32 epilogue: ((float32(acc) * xScale[m]) * wScale[n * stride]) + bias[n]. */
export function int8GemmRef(
  acc: Float64Array, xScale: ArrayLike<number>, wScale: ArrayLike<number>, wScaleStride: number,
  bias: ArrayLike<number> | null, M: number, N: number,
): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let y = Math.fround(acc[m * N + n]!);
      y = Math.fround(y * xScale[m]!);
      y = Math.fround(y * wScale[n * wScaleStride]!);
      if (bias) y = Math.fround(y + bias[n]!);
      out[m * N + n] = y;
    }
  }
  return out;
}

/** Signal-to-quantization-noise ratio in dB: 10 log10(sum x^2 / sum (x - y)^2). */
export function sqnrDb(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let signal = 0, noise = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i]! - y[i]!;
    signal += x[i]! * x[i]!;
    noise += d * d;
  }
  return 10 * Math.log10(signal / noise);
}
