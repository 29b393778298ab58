// Float64 reference implementations of the float kernels (elementwise, norm,
// attention, layout), the float16/bfloat16 rounding they are checked against,
// and the small amount of plumbing the kernel tests share (seeded random
// data, storages holding encoded values, the per-CPU-level child runs).
//
// The dtype rounding here is written arithmetically (scaling by powers of
// two and rounding half to even), independently of the bit tricks in
// engine/native/src/dtype.h, so agreement is a real check of both.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { native, type NativeStorage } from "../../engine/native-binding.js";

export type FloatDType = "float32" | "float16" | "bfloat16";
export const FLOAT_DTYPES: readonly FloatDType[] = ["float32", "float16", "bfloat16"];

// ---------------------------------------------------------------- rounding

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Rounds v (any double) to the nearest value with `mantissaBits` fraction bits,
 * minimum normal exponent `minExp`, overflowing to inf above `maxFinite`. */
function roundToFormat(v: number, mantissaBits: number, minExp: number, maxFinite: number): number {
  if (Number.isNaN(v) || !Number.isFinite(v) || v === 0) return v;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;            // guard log2 rounding
  if (2 ** (e + 1) <= a) e++;
  const quantum = 2 ** (Math.max(e, minExp) - mantissaBits);
  const r = roundHalfEven(a / quantum) * quantum;
  const out = r > maxFinite ? Infinity : r;
  return v < 0 ? -out : out;
}

/** float16 and bfloat16 have 10 and 7 fraction bits; float32 is Math.fround. */
export function roundTo(d: FloatDType, v: number): number {
  switch (d) {
    case "float32": return Math.fround(v);
    // float16: exponents -14..15, largest finite 65504
    case "float16": return roundToFormat(Math.fround(v), 10, -14, 65504);
    // bfloat16: float32's exponent range, largest finite 0x7f7f << 16
    case "bfloat16": return roundToFormat(Math.fround(v), 7, -126, 3.3895313892515355e38);
  }
}

/** Half an ulp of `d` relative to the value (round to nearest): 2^-24, 2^-11, 2^-8. */
export function halfUlp(d: FloatDType): number {
  return d === "float32" ? 2 ** -24 : d === "float16" ? 2 ** -11 : 2 ** -8;
}
/** Absolute rounding error bound near zero (half the smallest subnormal). */
export function subnormalHalfStep(d: FloatDType): number {
  return d === "float32" ? 2 ** -150 : d === "float16" ? 2 ** -25 : 2 ** -134;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

function f16BitsOf(v: number): number {  // v must already be a float16 value (or NaN)
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | (a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  return sign | ((e + 15) << 10) | ((a / 2 ** e - 1) * 1024);
}
function f16ValueOf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Bytes of `values` stored as dtype d (each rounded to d first). */
export function encode(d: FloatDType, values: ArrayLike<number>): Uint8Array {
  if (d === "float32") return new Uint8Array(Float32Array.from(values).buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const r = roundTo(d, values[i]);
    if (d === "float16") {
      out[i] = f16BitsOf(r);
    } else {
      f32Scratch[0] = r;
      out[i] = Number.isNaN(r) ? 0x7fc0 : u32Scratch[0] >>> 16;
    }
  }
  return new Uint8Array(out.buffer);
}

/** Values of n elements of dtype d in `bytes`. */
export function decode(d: FloatDType, bytes: ArrayBuffer, n: number): Float64Array {
  if (d === "float32") return Float64Array.from(new Float32Array(bytes, 0, n));
  const h = new Uint16Array(bytes, 0, n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (d === "float16") out[i] = f16ValueOf(h[i]);
    else { u32Scratch[0] = h[i] << 16; out[i] = f32Scratch[0]; }
  }
  return out;
}

// ---------------------------------------------------------------- storages

export function elemBytes(d: FloatDType): number {
  return d === "float32" ? 4 : 2;
}
/** A storage holding `values` as dtype d, plus `padElems` extra elements of 0 (to spot overruns). */
export function storageOf(d: FloatDType, values: ArrayLike<number>, padElems = 0): NativeStorage {
  const bytes = encode(d, values);
  const s = new native.Storage(bytes.byteLength + padElems * elemBytes(d), true);
  native.write(s, 0, bytes);
  return s;
}
export function readValues(s: NativeStorage, d: FloatDType, n: number, offsetElems = 0): Float64Array {
  return decode(d, native.read(s, offsetElems * elemBytes(d), n * elemBytes(d)), n);
}
/** Frees the storages even when a check throws. */
export function withStorages<T>(storages: NativeStorage[], body: () => T): T {
  try {
    return body();
  } finally {
    for (const s of storages) s.free();
  }
}

// ---------------------------------------------------------------- random data

/** Deterministic generator (mulberry32) so failures reproduce. */
export class Rng {
  private state: number;
  constructor(seed: number) { this.state = seed >>> 0; }
  uniform(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.uniform(), 1e-300);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
  int(lo: number, hi: number): number { return lo + Math.floor(this.uniform() * (hi - lo + 1)); }
  /** n values of `mean + std * N(0,1)` already rounded to dtype d, so the reference sees the stored values. */
  values(d: FloatDType, n: number, std = 1, mean = 0): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = roundTo(d, mean + std * this.normal());
    return out;
  }
}

// ---------------------------------------------------------------- index arithmetic

/** Calls fn(index, linear) for every index of `shape` in row-major order. */
export function forEachIndex(shape: readonly number[], fn: (index: number[], linear: number) => void): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let lin = 0; lin < n; lin++) {
    fn(idx, lin);
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
}
export function offsetOf(index: readonly number[], strides: readonly number[], offset = 0): number {
  let o = offset;
  for (let i = 0; i < index.length; i++) o += index[i] * strides[i];
  return o;
}
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

// ---------------------------------------------------------------- float64 references

/** erf in double: Taylor series below 3, continued fraction for erfc above (both < 1e-15 relative). */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a, sum = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // erfc(a) = exp(-a^2)/sqrt(pi) * 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))) (Lentz-free backward evaluation)
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + (k / 2) / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

export type BinaryOpName = "add" | "sub" | "mul" | "div";
export function binaryRef(op: BinaryOpName, a: number, b: number): number {
  switch (op) {
    case "add": return a + b;
    case "sub": return a - b;
    case "mul": return a * b;
    case "div": return a / b;
  }
}

/** sqrt(2/pi) (x + 0.044715 x^3), the tanh argument of GELU(approximate="tanh"). */
export function geluTanhInner(x: number): number {
  return Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
}
export type UnaryOpName = "gelu_tanh" | "gelu" | "silu" | "relu" | "neg" | "exp" | "sqrt" | "rsqrt" | "sin" | "cos";
export function unaryRef(op: UnaryOpName, x: number): number {
  switch (op) {
    case "gelu_tanh": {
      // 0.5 x (1 + tanh(u)) written as x / (1 + exp(-2u)) so double keeps its digits for x << 0
      return x / (1 + Math.exp(-2 * geluTanhInner(x)));
    }
    case "gelu": return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case "silu": return x / (1 + Math.exp(-x));
    case "relu": return x < 0 ? 0 : x;
    case "neg": return -x;
    case "exp": return Math.exp(x);
    case "sqrt": return Math.sqrt(x);
    case "rsqrt": return 1 / Math.sqrt(x);
    case "sin": return Math.sin(x);
    case "cos": return Math.cos(x);
  }
}

// ---------------------------------------------------------------- float32 emulations

/** The float32 next to r (r finite) in the direction of `up`. */
function adjacentF32(r: number, up: boolean): number {
  if (r === 0) return up ? 2 ** -149 : -(2 ** -149);
  f32Scratch[0] = r;
  u32Scratch[0] = (r > 0) === up ? u32Scratch[0] + 1 : u32Scratch[0] - 1;
  return f32Scratch[0];
}

/**
 * fma(a, b, c) for float32 a, b, c with one rounding: a*b is exact in double
 * (24 + 24 bits), TwoSum gives p + c = s + err exactly, and err only matters
 * when s falls exactly halfway between two float32s.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return Math.fround(s);
  const t = s - p;
  const err = (p - (s - t)) + (c - t);
  const r = Math.fround(s);
  if (err === 0 || r === s || !Number.isFinite(r)) return r;
  const other = adjacentF32(r, s > r);
  if ((r + other) / 2 !== s) return r;
  return (err > 0) === (other > r) ? other : r;  // a tie in double: the exact value lies on err's side
}

const SLEEF_EXP_POLY = [0.000198527617612853646278381, 0.00139304355252534151077271, 0.00833336077630519866943359,
  0.0416664853692054748535156, 0.166666671633720397949219, 0.5].map(Math.fround);

/** SLEEF's expf_u10 (PyTorch's vectorised float32 exp), operation by operation in float32. */
export function sleefExpF32(x: number): number {
  const f = Math.fround;
  const d = f(x);
  if (Number.isNaN(d)) return NaN;
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  const q = roundHalfEven(f(d * f(1.4426950408889634)));
  let s = fmaF32(q, f(-0.693145751953125), d);
  s = fmaF32(q, f(-1.428606765330187045e-6), s);
  let u = SLEEF_EXP_POLY[0];
  for (let i = 1; i < SLEEF_EXP_POLY.length; i++) u = fmaF32(u, s, SLEEF_EXP_POLY[i]);
  u = f(1 + fmaF32(f(s * s), u, s));
  const half = q >> 1;
  return f(f(u * 2 ** half) * 2 ** (q - half));
}
/** The kernels' float32 silu: x / (1 + exp(-x)). */
export function siluF32(x: number): number {
  return Math.fround(x / Math.fround(1 + sleefExpF32(-x)));
}
/** The kernels' float32 tanh-GELU: x / (1 + exp(-2u)), u = fround(sqrt(2/pi)) * fma(0.044715, x^3, x). */
export function geluTanhF32(x: number): number {
  const f = Math.fround;
  const u = f(f(0.7978845608028654) * fmaF32(f(0.044715), f(f(x * x) * x), x));
  return f(x / f(1 + sleefExpF32(f(-2 * u))));
}

/** LayerNorm of one row (biased variance); also returns the normalised values before weight/bias. */
export function layerNormRow(x: ArrayLike<number>, weight: ArrayLike<number> | null, bias: ArrayLike<number> | null, eps: number): { y: Float64Array; normalized: Float64Array } {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (x[i] - mean) ** 2;
  v /= n;
  const rstd = 1 / Math.sqrt(v + eps);
  const normalized = new Float64Array(n), y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    normalized[i] = (x[i] - mean) * rstd;
    y[i] = normalized[i] * (weight ? weight[i] : 1) + (bias ? bias[i] : 0);
  }
  return { y, normalized };
}

/** RMSNorm of one row: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNormRow(x: ArrayLike<number>, weight: ArrayLike<number> | null, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return Float64Array.from(x, (v, i) => v * inv * (weight ? weight[i] : 1));
}

export function softmaxRow(x: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]);
  const e = Float64Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** softmax(q k^T * scale) v for [bh, lq, d] x [bh, lk, d] (bh = batch * heads). */
export function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, bh: number, lq: number, lk: number, d: number, scale: number): Float64Array {
  const out = new Float64Array(bh * lq * d);
  const scores = new Float64Array(lk);
  for (let h = 0; h < bh; h++) {
    for (let i = 0; i < lq; i++) {
      const qo = (h * lq + i) * d;
      for (let j = 0; j < lk; j++) {
        const ko = (h * lk + j) * d;
        let s = 0;
        for (let c = 0; c < d; c++) s += q[qo + c] * k[ko + c];
        scores[j] = s * scale;
      }
      const p = softmaxRow(scores);
      for (let j = 0; j < lk; j++) {
        const vo = (h * lk + j) * d;
        for (let c = 0; c < d; c++) out[qo + c] += p[j] * v[vo + c];
      }
    }
  }
  return out;
}

/** diffusers apply_rotary_emb(use_real=True, unbind_dim=-1) in double: x [rows = b*h*seq, d], cos/sin [seq, d]. */
export function ropeRef(x: ArrayLike<number>, cos: ArrayLike<number>, sin: ArrayLike<number>, rows: number, seq: number, d: number): Float64Array {
  const out = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const t = (r % seq) * d, o = r * d;
    for (let i = 0; i < d; i += 2) {
      out[o + i] = x[o + i] * cos[t + i] - x[o + i + 1] * sin[t + i];
      out[o + i + 1] = x[o + i + 1] * cos[t + i + 1] + x[o + i] * sin[t + i + 1];
    }
  }
  return out;
}

/** sqrt(sum (a-b)^2) / sqrt(sum b^2). */
export function relativeL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  return Math.sqrt(num) / Math.sqrt(den);
}

/** Asserts |actual - expected| <= tol(i) for each element, naming the first that fails. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    const t = tol(i);
    if (!(Math.abs(a - e) <= t))
      assert.fail(`${what}: element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > tolerance ${t})`);
  }
}
/** Asserts equal values (NaN equals NaN; +0 equals -0). */
export function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assertClose(actual, expected, () => 0, what);
}

// ---------------------------------------------------------------- CPU levels

/**
 * Runs the calling test file again in child processes with VRAMLAB_CPU=avx2
 * and VRAMLAB_CPU=portable (the level is fixed when the addon loads), so each
 * vector path is checked by the same tests. Call at the end of a test file.
 */
export function alsoTestOtherCpuLevels(testFileUrl: string): void {
  if (process.env.VRAMLAB_CPU) return;
  const order = ["portable", "avx2", "avx512"];
  const best = order.indexOf(native.cpuInfo().level);
  for (const level of ["avx2", "portable"]) {
    const expect = order[Math.min(order.indexOf(level), best)];
    test(`same checks at CPU level ${level} (child process with VRAMLAB_CPU=${level})`, () => {
      // NODE_TEST_CONTEXT would make the child report to this runner instead of its stdout.
      const { NODE_TEST_CONTEXT: _ignored, ...env } = process.env;
      const r = spawnSync(process.execPath, ["--test", fileURLToPath(testFileUrl)], { env: { ...env, VRAMLAB_CPU: level }, encoding: "utf8" });
      assert.equal(r.status, 0, `child test run failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`cpu level under test: ${expect}`));
    });
  }
}
/** A test that names the active CPU level (the parent checks for it in the child's output). */
export function reportCpuLevel(): void {
  test(`cpu level under test: ${native.cpuInfo().level}`, () => {
    assert.ok(["portable", "avx2", "avx512"].includes(native.cpuInfo().level));
  });
}
