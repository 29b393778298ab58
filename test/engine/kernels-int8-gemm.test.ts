// int8Gemm (engine/kernels/quant.ts) against an exact JS reference.
//
// Tolerance: none for the kernel itself. The int32 sums are compared exactly
// (the reference sums in float64 integers, exact below 2^53), and the float32
// epilogue ((float32(acc) * xScale[m]) * wScale[n]) + bias[n] is mirrored
// with Math.fround per step, so outputs must match bit for bit. Only the
// end-to-end dynamic-quantization check has a tolerance (stated there).
//
// The file reruns itself at VRAMLAB_CPU=avx2 and =portable, so the VNNI,
// AVX2 and portable kernels are each held to the same exact reference.
import { test } from "node:test";
import assert from "node:assert/strict";
import { native, type NativeStorage } from "../../engine/native-binding.js";
import { int8Gemm, int8GemmInfo, quantize } from "../../engine/kernels/quant.js";
import { int8DotRef, int8GemmRef } from "../reference/quant-reference.js";
import {
  Rng, alsoTestOtherCpuLevels, decode, encode, relativeL2, reportCpuLevel, roundTo, type FloatDType,
} from "../reference/float64-ops.js";

function storageOf(bytes: Uint8Array | Int8Array | Float32Array): NativeStorage {
  const s = new native.Storage(Math.max(bytes.byteLength, 1));
  native.write(s, 0, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return s;
}
function using<T>(storages: (NativeStorage | null)[], body: () => T): T {
  try { return body(); } finally { for (const s of storages) s?.free(); }
}
const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);
function bitsOf(v: number): number { scratch[0] = v; return scratchBits[0]!; }
function assertSameF32(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    if (bitsOf(actual[i]!) !== bitsOf(expected[i]!)) assert.fail(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
}

function randomInt8(rng: Rng, n: number): Int8Array {
  return Int8Array.from({ length: n }, () => rng.int(-128, 127));
}

interface Case {
  M: number; N: number; K: number;
  x: Int8Array; w: Int8Array;
  xScale: Float32Array; wScale: Float32Array; wScaleStride: number;
  bias: number[] | null; biasDtype: FloatDType; outDtype: FloatDType;
}

/** Runs int8Gemm and returns the output as float64 values. */
function runInt8Gemm(c: Case): Float64Array {
  const out = new native.Storage(Math.max(c.M * c.N * (c.outDtype === "float32" ? 4 : 2), 1));
  const storages = [storageOf(c.x), storageOf(c.xScale), storageOf(c.w), storageOf(c.wScale),
    c.bias ? storageOf(encode(c.biasDtype, c.bias)) : null];
  return using([out, ...storages], () => {
    const [xs, xScale, ws, wScale, bias] = storages;
    int8Gemm(out, c.outDtype, xs!, xScale!, ws!, wScale!, c.wScaleStride, bias ?? null, c.biasDtype, c.M, c.N, c.K);
    return decode(c.outDtype, native.read(out, 0, c.M * c.N * (c.outDtype === "float32" ? 4 : 2)), c.M * c.N);
  });
}

/** The reference output, rounded to the output dtype. */
function expected(c: Case): Float64Array {
  const acc = int8DotRef(c.x, c.w, c.M, c.N, c.K);
  const bias = c.bias ? c.bias.map((v) => roundTo(c.biasDtype, v)) : null;
  return int8GemmRef(acc, c.xScale, c.wScale, c.wScaleStride, bias, c.M, c.N).map((v) => roundTo(c.outDtype, v));
}

test("int8Gemm matches the exact reference: shapes across micro-tile edges, scales, bias and output dtypes", () => {
  const rng = new Rng(0x1a8);
  const info = int8GemmInfo();
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 5, 3], [7, 13, 17], [info.mr, info.nr, 64], [info.mr + 1, info.nr + 1, 4 * 33 + 3],
    [13, 130, 259], [64, 200, 1000], [130, 70, 96], [2, 3, 2],
  ];
  let checked = 0;
  for (const [M, N, K] of shapes) {
    const x = randomInt8(rng, M * K), w = randomInt8(rng, N * K);
    const xScale = Float32Array.from({ length: M }, () => rng.uniform() * 0.02 + 1e-4);
    for (const wScaleStride of [1, 0]) {
      const wScale = Float32Array.from({ length: wScaleStride ? N : 1 }, () => rng.uniform() * 0.02 + 1e-4);
      const variants: [FloatDType, FloatDType, boolean][] = [["float32", "float32", true], ["float32", "float32", false], ["bfloat16", "bfloat16", true], ["float16", "float16", true]];
      for (const [outDtype, biasDtype, withBias] of variants) {
        const bias = withBias ? Array.from({ length: N }, () => rng.normal()) : null;
        const c: Case = { M, N, K, x, w, xScale, wScale, wScaleStride, bias, biasDtype, outDtype };
        assertSameF32(runInt8Gemm(c), expected(c), `[${M},${N},${K}] wScaleStride ${wScaleStride} out ${outDtype} bias ${withBias ? biasDtype : "none"}`);
        checked++;
      }
    }
  }
  assert.equal(checked, shapes.length * 8);
});

test("int8Gemm int32 sums are exact: unit scales show every sum below 2^24 as is, extremes do not wrap", () => {
  const rng = new Rng(0xe8ac7);
  // |sum| <= 1024 * 16384 = 2^24: exact in float32, so out == the integer sum.
  const M = 9, N = 70, K = 1024;
  const x = randomInt8(rng, M * K), w = randomInt8(rng, N * K);
  x.fill(-128, 0, K);  // row 0 at the extreme: sums of +-16384 terms
  w.fill(-128, 0, K);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const c: Case = { M, N, K, x, w, xScale: ones(M), wScale: ones(N), wScaleStride: 1, bias: null, biasDtype: "float32", outDtype: "float32" };
  const got = runInt8Gemm(c);
  const acc = int8DotRef(x, w, M, N, K);
  assert.equal(acc[0], 1024 * 16384);
  assertSameF32(got, acc, "integer sums");

  // The largest K: sums reach 131071 * 16384 = 2^31 - 16384 (a float32 value) without wrapping.
  const big = 131071;
  const xb = new Int8Array(2 * big).fill(-128), wb = new Int8Array(2 * big).fill(-128);
  xb.fill(127, big);  // row 1: 127 * -128 per term
  const cb: Case = { M: 2, N: 2, K: big, x: xb, w: wb, xScale: ones(2), wScale: ones(2), wScaleStride: 1, bias: null, biasDtype: "float32", outDtype: "float32" };
  wb.fill(1, big);  // column 1: row of ones
  const gotBig = runInt8Gemm(cb);
  assert.deepEqual(Array.from(gotBig), [2147467264, -128 * big, 127 * -128 * big, 127 * big].map(Math.fround));
  assertSameF32(gotBig, expected(cb), "K = 131071");
});

test("int8Gemm rejects bad arguments with JS errors", () => {
  const x = new native.Storage(64), s = new native.Storage(64), out = new native.Storage(64);
  using([x, s, out], () => {
    assert.throws(() => int8Gemm(out, "float32", x, s, x, s, 1, null, "float32", 2, 2, 131072), /131071/);
    assert.throws(() => int8Gemm(out, "float32", x, s, x, s, 1, null, "float32", 2, 2, 33), RangeError);  // xq holds 64 < 66
    assert.throws(() => int8Gemm(out, "float32", x, s, x, s, 1, null, "float32", 5, 5, 4), RangeError);   // out holds 16 < 25 floats
    assert.throws(() => int8Gemm(out, "int8", x, s, x, s, 1, null, "float32", 2, 2, 4), TypeError);
    assert.throws(() => int8Gemm(out, "float32", x, s, x, s, 1, s, "int32", 2, 2, 4), TypeError);
    assert.throws(() => int8Gemm(out, "float32", x, s, x, s, 1, null, "float32", 2, 2, -1), RangeError);
    assert.throws(() => int8Gemm(x, "float32", x, s, x, s, 1, null, "float32", 2, 2, 4), /share/);
    const freed = new native.Storage(64);
    freed.free();
    assert.throws(() => int8Gemm(out, "float32", freed, s, x, s, 1, null, "float32", 2, 2, 4), /disposed/);
  });
});

// torchao's int8dq: per-token activations on [-127, 127], per-row weights on
// [-128, 127], int8Gemm, compared with the float64 product of the unquantized
// operands. Tolerance: relative L2 error below 3%. Each operand's rounding
// noise is ~41 dB (0.9% relative); the product's error adds both, ~1.3%.
test("dynamic int8 (int8dq): quantize activations and weights, int8Gemm ~ float product", () => {
  const rng = new Rng(0xd7);
  const M = 24, N = 96, K = 256;
  const xv = Float32Array.from({ length: M * K }, () => rng.normal());
  const wv = Float32Array.from({ length: N * K }, () => rng.normal() * 0.05);
  const xs = storageOf(xv), ws = storageOf(wv);
  const xq = new native.Storage(M * K), wq = new native.Storage(N * K);
  const xScale = new native.Storage(M * 4), wScale = new native.Storage(N * 4), out = new native.Storage(M * N * 4);
  using([xs, ws, xq, wq, xScale, wScale, out], () => {
    quantize(xs, "float32", M, K, K, xq, "int8", xScale, null, "symmetric", -127, 127);
    quantize(ws, "float32", N, K, K, wq, "int8", wScale, null, "symmetric", -128, 127);
    int8Gemm(out, "float32", xq, xScale, wq, wScale, 1, null, "float32", M, N, K);
    const got = new Float32Array(native.read(out, 0, M * N * 4));
    const ref = new Float64Array(M * N);
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += xv[m * K + k]! * wv[n * K + k]!;
        ref[m * N + n] = s;
      }
    const err = relativeL2(got, ref);
    assert.ok(err < 0.03, `relative L2 ${err}`);
  });
});

test("int8Gemm uses the path the CPU level allows", () => {
  const level = native.cpuInfo().level;
  const path = int8GemmInfo().path;
  if (level === "portable") assert.equal(path, "portable");
  else if (level === "avx2") assert.equal(path, "avx2");
  else assert.ok(path === "avx512-vnni" || path === "avx2", path);  // AVX-512 without VNNI uses AVX2
});

reportCpuLevel();
alsoTestOtherCpuLevels(import.meta.url);
