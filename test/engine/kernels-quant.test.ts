// quantize / dequantize / matmulQuantB (engine/kernels/quant.ts) against the
// float64 reference in test/reference/quant-reference.ts.
//
// Tolerance: none. Every check is bit-exact: scales, zero points and packed
// codes must equal the reference's bytes, dequantized values its float32
// values, and matmulQuantB the bytes of dequantize() + matmul(transB). The
// reference mirrors each float32 step with Math.fround and encodes float
// formats with an independent value-table encoder, so any difference is a bug.
// The SQNR test is the only statistical one (bands stated there).
//
// The file reruns itself at VRAMLAB_CPU=avx2 and =portable (alsoTestOtherCpuLevels),
// so every instruction-set build is held to the same exact reference.
import { test } from "node:test";
import assert from "node:assert/strict";
import { native, type NativeStorage } from "../../engine/native-binding.js";
import { byteSize, type DType } from "../../engine/dtype.js";
import { cast } from "../../engine/kernels/cast.js";
import { matmul } from "../../engine/kernels/gemm.js";
import { dequantize, matmulQuantB, quantize, type QuantMode } from "../../engine/kernels/quant.js";
import {
  dequantizeRef, packCodes, quantizeRef, sqnrDb, unpackCodes, isFloatQDType, type QDType,
} from "../reference/quant-reference.js";
import {
  Rng, alsoTestOtherCpuLevels, decode, encode, reportCpuLevel, roundTo, type FloatDType,
} from "../reference/float64-ops.js";

interface Scheme { name: string; qdtype: QDType; mode: QuantMode; qmin: number; qmax: number }
const SCHEMES: Scheme[] = [
  { name: "int8 symmetric [-128,127]", qdtype: "int8", mode: "symmetric", qmin: -128, qmax: 127 },
  { name: "int8 symmetric [-127,127]", qdtype: "int8", mode: "symmetric", qmin: -127, qmax: 127 },
  { name: "int4 symmetric [-8,7]", qdtype: "int4", mode: "symmetric", qmin: -8, qmax: 7 },
  { name: "int4 asymmetric [0,15]", qdtype: "int4", mode: "asymmetric", qmin: 0, qmax: 15 },
  { name: "int8 asymmetric [0,255]", qdtype: "int8", mode: "asymmetric", qmin: 0, qmax: 255 },
  { name: "float8_e4m3fn", qdtype: "float8_e4m3fn", mode: "symmetric", qmin: 0, qmax: 0 },
  { name: "fp6_e3m2", qdtype: "fp6_e3m2", mode: "symmetric", qmin: 0, qmax: 0 },
  { name: "fp5_e2m2", qdtype: "fp5_e2m2", mode: "symmetric", qmin: 0, qmax: 0 },
  { name: "fp4_e2m1", qdtype: "fp4_e2m1", mode: "symmetric", qmin: 0, qmax: 0 },
];

// ---------------------------------------------------------------- helpers

function storageWith(bytes: Uint8Array, extra = 0, fill = 0): NativeStorage {
  const s = new native.Storage(bytes.byteLength + extra);
  const init = new Uint8Array(bytes.byteLength + extra).fill(fill);
  init.set(bytes);
  native.write(s, 0, init);
  return s;
}
function f32Storage(values: ArrayLike<number>): NativeStorage {
  return storageWith(new Uint8Array(Float32Array.from(values).buffer));
}
function readF32(s: NativeStorage, n: number): Float32Array {
  return new Float32Array(native.read(s, 0, n * 4));
}
function readBytes(s: NativeStorage): Uint8Array {
  return new Uint8Array(native.read(s, 0, s.nbytes));
}
function using<T>(storages: NativeStorage[], body: () => T): T {
  try { return body(); } finally { for (const s of storages) s.free(); }
}
const bitsScratch = new Float32Array(1);
const bitsView = new Uint32Array(bitsScratch.buffer);
function f32Bits(v: number): number { bitsScratch[0] = v; return bitsView[0]!; }

/** Exact float32 equality (NaN equals NaN; +0 and -0 differ), naming the first difference. */
function assertSameF32(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    if (f32Bits(a) !== f32Bits(e)) assert.fail(`${what}: element ${i} is ${a}, expected ${e}`);
  }
}
function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    if (actual[i] !== expected[i]) assert.fail(`${what}: byte ${i} is 0x${actual[i]!.toString(16)}, expected 0x${expected[i]!.toString(16)}`);
}

/**
 * Rows of N(0,1) data with adversarial rows mixed in: all zero, one huge
 * outlier, negative only, tiny values (scale clamps to eps / 1e-12), exact
 * rounding ties for int8 [-128,127] (amax 127.5 gives scale 1), positive only.
 */
function testMatrix(rng: Rng, rows: number, cols: number): Float32Array {
  const x = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const kind = r % 8;
    for (let c = 0; c < cols; c++) row[c] = rng.normal() * (1 + r);
    if (kind === 1) row.fill(0);
    if (kind === 2) row[rng.int(0, cols - 1)] = 1e4;
    if (kind === 3) for (let c = 0; c < cols; c++) row[c] = -Math.abs(row[c]!);
    if (kind === 4) for (let c = 0; c < cols; c++) row[c] = row[c]! * 1e-30;
    if (kind === 5) {
      const ties = [127.5, -127.5, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 3.5];
      for (let c = 0; c < cols; c++) row[c] = c < ties.length ? ties[c]! : ((c * 7) % 255) - 127 + 0.5 * (c % 2);
    }
    if (kind === 6) for (let c = 0; c < cols; c++) row[c] = Math.abs(row[c]!) + 0.25;
  }
  return x;
}

interface NativeQuantized { qbytes: Uint8Array; scale: Float32Array; zero: Float32Array | null }

/** Runs the native quantize on float32 values held as srcDtype; qdata is pre-filled with 0xa5 plus 3 spare bytes. */
function runQuantize(
  values: ArrayLike<number>, srcDtype: FloatDType, rows: number, cols: number, groupSize: number, s: Scheme,
): NativeQuantized {
  const n = rows * cols, groups = n / groupSize;
  const src = storageWith(encode(srcDtype, values));
  const q = storageWith(new Uint8Array(0), byteSize(s.qdtype, n) + 3, 0xa5);
  const scale = new native.Storage(groups * 4);
  const zero = s.mode === "asymmetric" ? new native.Storage(groups * 4) : null;
  return using([src, q, scale, ...(zero ? [zero] : [])], () => {
    quantize(src, srcDtype, rows, cols, groupSize, q, s.qdtype, scale, zero, s.mode, s.qmin, s.qmax);
    return { qbytes: readBytes(q), scale: readF32(scale, groups), zero: zero ? readF32(zero, groups) : null };
  });
}

/** Checks one quantize + dequantize against the reference, bit for bit. */
function checkRoundTrip(values: Float64Array, srcDtype: FloatDType, rows: number, cols: number, groupSize: number, s: Scheme, what: string): void {
  const n = rows * cols;
  const got = runQuantize(values, srcDtype, rows, cols, groupSize, s);
  const ref = quantizeRef(values, rows, cols, groupSize, s.qdtype, s.mode, s.qmin, s.qmax);
  assertSameF32(got.scale, ref.scale, `${what}: scale`);
  if (ref.zero) assertSameF32(got.zero!, ref.zero, `${what}: zero`);
  else assert.equal(got.zero, null);
  // Spare bits after the last element keep the 0xa5 fill.
  const expected = packCodes(ref.codes, s.qdtype, new Uint8Array(got.qbytes.length).fill(0xa5));
  assertSameBytes(got.qbytes, expected, `${what}: qdata`);

  const expectedValues = dequantizeRef(ref.codes, s.qdtype, ref.scale, ref.zero, rows, cols, groupSize, cols / groupSize);
  for (const outDtype of ["float32", "bfloat16"] as const) {
    const q = storageWith(got.qbytes);
    const scale = f32Storage(got.scale);
    const zero = got.zero ? f32Storage(got.zero) : null;
    const out = new native.Storage(n * (outDtype === "float32" ? 4 : 2));
    using([q, scale, out, ...(zero ? [zero] : [])], () => {
      dequantize(q, s.qdtype, scale, zero, rows, cols, groupSize, cols / groupSize, out, outDtype);
      if (outDtype === "float32") {
        assertSameF32(readF32(out, n), expectedValues, `${what}: dequantize`);
      } else {
        // Compared as values: NaN payloads (only from a NaN code times a NaN scale) are not specified.
        const got16 = decode("bfloat16", native.read(out, 0, n * 2), n);
        assertSameF32(got16, Array.from(expectedValues, (v) => roundTo("bfloat16", v)), `${what}: dequantize to bfloat16`);
      }
    });
  }
}

// ---------------------------------------------------------------- quantize / dequantize

test("quantize and dequantize match the reference bit for bit: every scheme x granularity", () => {
  const rng = new Rng(0x9a47);
  const rows = 9, cols = 384;
  const x = Float64Array.from(testMatrix(rng, rows, cols));
  const granularities: { name: string; rows: number; cols: number; group: number }[] = [
    { name: "per-row", rows, cols, group: cols },
    { name: "group 32", rows, cols, group: 32 },
    { name: "group 64", rows, cols, group: 64 },
    { name: "group 128", rows, cols, group: 128 },
    { name: "per-tensor", rows: 1, cols: rows * cols, group: rows * cols },
  ];
  for (const s of SCHEMES)
    for (const g of granularities) checkRoundTrip(x, "float32", g.rows, g.cols, g.group, s, `${s.name}, ${g.name}`);
});

test("odd shapes: rows that start inside a byte of the packed stream, odd group sizes, float16/bfloat16 sources", () => {
  const rng = new Rng(0x0dd);
  for (const [rows, cols, group] of [[7, 45, 45], [5, 45, 9], [3, 13, 13], [1, 1, 1], [11, 24, 8]] as const) {
    for (const src of ["float32", "float16", "bfloat16"] as const) {
      const x = Float64Array.from(testMatrix(rng, rows, cols), (v) => roundTo(src, v));
      for (const s of SCHEMES) checkRoundTrip(x, src, rows, cols, group, s, `${s.name}, [${rows},${cols}] group ${group} from ${src}`);
    }
  }
});

test("long per-tensor groups (split across threads) and many small groups", () => {
  const rng = new Rng(0x7e2);
  const n = 3 * 16384 + 40;  // three statistics parts and a ragged fourth
  const x = Float64Array.from({ length: n }, () => Math.fround(rng.normal()));
  x[40000] = -77;  // the amax sits in a later part
  for (const s of SCHEMES) checkRoundTrip(x, "float32", 1, n, n, s, `${s.name}, per-tensor of ${n}`);
  const y = Float64Array.from({ length: 4096 * 8 }, () => Math.fround(rng.normal()));
  for (const s of [SCHEMES[3]!, SCHEMES[8]!]) checkRoundTrip(y, "float32", 4096, 8, 8, s, `${s.name}, 4096 rows of 8`);
});

test("float formats: codes equal the cast kernel's saturating cast of float32(x / scale)", () => {
  const rng = new Rng(0xca57);
  const rows = 6, cols = 200;
  const x = testMatrix(rng, rows, cols);
  for (const s of SCHEMES.filter((t) => isFloatQDType(t.qdtype))) {
    for (const group of [cols, 40]) {
      const got = runQuantize(x, "float32", rows, cols, group, s);
      const scaled = Float32Array.from(x, (v, i) => Math.fround(v / got.scale[Math.floor(i / group)]!));
      const src = f32Storage(scaled);
      const dst = new native.Storage(byteSize(s.qdtype, rows * cols) + 3, true);
      using([src, dst], () => {
        native.write(dst, 0, new Uint8Array(dst.nbytes).fill(0xa5));
        cast(src, "float32", 0, dst, s.qdtype, 0, rows * cols, true);
        assertSameBytes(got.qbytes, readBytes(dst), `${s.name} group ${group} vs cast(saturate)`);
      });
    }
  }
});

test("a NaN makes its group's scale NaN (as torch.amax) and leaves other groups exact", () => {
  const x = Float64Array.from({ length: 64 }, (_, i) => Math.fround(Math.sin(i) * 3));
  x[5] = NaN;
  for (const s of SCHEMES) {
    checkRoundTrip(x, "float32", 2, 32, 32, s, `${s.name} with a NaN`);
    const got = runQuantize(x, "float32", 2, 32, 32, s);
    assert.ok(Number.isNaN(got.scale[0]!), `${s.name}: the NaN group's scale`);
    assert.ok(Number.isFinite(got.scale[1]!), `${s.name}: the clean group's scale`);
  }
});

test("int8 symmetric [-128,127]: amax/127.5 scale, ties to even, -127.5 reaches -128", () => {
  const got = runQuantize([127.5, -127.5, 0.5, 1.5, 2.5, -0.5, -2.5, 100.25], "float32", 1, 8, 8, SCHEMES[0]!);
  assert.equal(got.scale[0], 1);
  assert.deepEqual(Array.from(unpackCodes(got.qbytes, "int8", 8)), [127, -128, 0, 2, 2, 0, -2, 100]);
  const reduced = runQuantize([127, -127, 63.5, 0], "float32", 1, 4, 4, SCHEMES[1]!);
  assert.equal(reduced.scale[0], 1);
  assert.deepEqual(Array.from(unpackCodes(reduced.qbytes, "int8", 4)), [127, -127, 64, 0]);
});

test("int4 asymmetric: zero = minNeg + 8 * scale, stored nibble q - 8, torchao's order of operations", () => {
  // Values 0..15: minNeg 0, maxPos 15, scale 1, zero 8; q = x, stored x - 8.
  const x = Array.from({ length: 16 }, (_, i) => i);
  const got = runQuantize(x, "float32", 1, 16, 16, SCHEMES[3]!);
  assert.equal(got.scale[0], 1);
  assert.equal(got.zero![0], 8);
  assert.deepEqual(Array.from(unpackCodes(got.qbytes, "int4", 16)), x.map((v) => v - 8));
  // Element 0 sits in the low nibble of byte 0.
  assert.equal(got.qbytes[0], ((0 - 8) & 0xf) | (((1 - 8) & 0xf) << 4));
});

test("dequantize with a shared row of scales (scaleRowStride 0) and with a padded stride", () => {
  const rng = new Rng(0x5ca1e);
  const rows = 5, cols = 64, group = 32;
  const codes = Int32Array.from({ length: rows * cols }, () => rng.int(-8, 7));
  const qbytes = packCodes(codes, "int4");
  const scales = Float64Array.from({ length: 4 * rows }, () => Math.fround(rng.uniform() + 0.1));
  const zeros = Float64Array.from({ length: 4 * rows }, () => Math.fround(rng.normal()));
  for (const stride of [0, 2, 4]) {
    const q = storageWith(qbytes), scale = f32Storage(scales), zero = f32Storage(zeros);
    const out = new native.Storage(rows * cols * 4);
    using([q, scale, zero, out], () => {
      dequantize(q, "int4", scale, zero, rows, cols, group, stride, out, "float32");
      assertSameF32(readF32(out, rows * cols), dequantizeRef(codes, "int4", scales, zeros, rows, cols, group, stride), `stride ${stride}`);
    });
  }
});

test("bad arguments give JS errors, never a crash", () => {
  const src = f32Storage(new Float32Array(64));
  const q = new native.Storage(64), scale = new native.Storage(64), zero = new native.Storage(64), out = new native.Storage(256);
  using([src, q, scale, zero, out], () => {
    assert.throws(() => quantize(src, "float32", 2, 32, 5, q, "int8", scale, null, "symmetric", -128, 127), /does not divide/);
    assert.throws(() => quantize(src, "float32", 2, 32, 0, q, "int8", scale, null, "symmetric", -128, 127), TypeError);
    assert.throws(() => quantize(src, "float32", 2, 32, 32, q, "int8", scale, zero, "symmetric", -128, 127), /no zero point/);
    assert.throws(() => quantize(src, "float32", 2, 32, 32, q, "int4", scale, null, "asymmetric", 0, 15), /needs a zero storage/);
    assert.throws(() => quantize(src, "float32", 2, 32, 32, q, "fp6_e3m2", scale, zero, "asymmetric", 0, 15), /int8 or int4/);
    assert.throws(() => quantize(src, "float32", 2, 32, 32, q, "int4", scale, null, "symmetric", -128, 127), /within \[-8, 7\]/);
    assert.throws(() => quantize(src, "float32", 2, 32, 32, q, "float32", scale, null, "symmetric", 0, 0), TypeError);
    assert.throws(() => quantize(src, "int8", 2, 32, 32, q, "int8", scale, null, "symmetric", -128, 127), TypeError);
    assert.throws(() => quantize(src, "float32", 2, 32, 32, q, "int8", scale, null, "other" as QuantMode, -128, 127), /mode/);
    assert.throws(() => quantize(src, "float32", 4, 32, 32, q, "int8", scale, null, "symmetric", -128, 127), RangeError);  // src too small
    assert.throws(() => quantize(src, "float32", 2, 32, 1, q, "int8", scale, null, "symmetric", -128, 127), RangeError);   // 64 scales > 16 floats
    assert.throws(() => quantize(src, "float32", 2, 32, 32, src, "int8", scale, null, "symmetric", -128, 127), /share a storage/);
    assert.throws(() => dequantize(q, "int8", scale, null, 4, 32, 32, 1, out, "float32"), RangeError);  // qdata too small
    assert.throws(() => dequantize(q, "int8", scale, null, 2, 64, 32, 1, out, "float32"), /scaleRowStride/);
    assert.throws(() => dequantize(q, "fp4_e2m1", scale, zero, 2, 32, 32, 1, out, "float32"), /zero point/);
    assert.throws(() => dequantize(q, "int8", scale, null, 2, 32, 32, 1, out, "int8"), TypeError);
    assert.throws(() => matmulQuantB(out, "float32", src, "float32", null, q, "int8", scale, null, 1, 32, null, "float32", 2, 2, 33), /does not divide/);
    assert.throws(() => matmulQuantB(out, "float32", src, "float32", null, q, "int8", scale, null, 1, 32, null, "float32", 2, 64, 32), RangeError);
    const freed = new native.Storage(64);
    freed.free();
    assert.throws(() => quantize(freed, "float32", 2, 32, 32, q, "int8", scale, null, "symmetric", -128, 127), /disposed/);
    assert.throws(() => dequantize(q, "int8", freed, null, 2, 32, 32, 1, out, "float32"), /disposed/);
  });
});

// ---------------------------------------------------------------- matmulQuantB

interface QuantizedWeight { q: NativeStorage; scale: NativeStorage; zero: NativeStorage | null; stride: number; group: number }

function quantizeWeight(w: Float32Array, N: number, K: number, s: Scheme, granularity: "row" | number | "tensor"): QuantizedWeight {
  const src = f32Storage(w);
  const perTensor = granularity === "tensor";
  const group = perTensor ? N * K : granularity === "row" ? K : granularity;
  const groups = (N * K) / group;
  const q = new native.Storage(byteSize(s.qdtype, N * K));
  const scale = new native.Storage(groups * 4);
  const zero = s.mode === "asymmetric" ? new native.Storage(groups * 4) : null;
  using([src], () => {
    if (perTensor) quantize(src, "float32", 1, N * K, N * K, q, s.qdtype, scale, zero, s.mode, s.qmin, s.qmax);
    else quantize(src, "float32", N, K, group, q, s.qdtype, scale, zero, s.mode, s.qmin, s.qmax);
  });
  // Per-tensor: every row of the [N, K] view shares the one scale (stride 0, group K).
  return perTensor ? { q, scale, zero, stride: 0, group: K } : { q, scale, zero, stride: K / group, group };
}

test("matmulQuantB is bit-identical to dequantize + matmul(transB), for every format, shape and dtype", () => {
  const rng = new Rng(0x3a7);
  const cases: { s: Scheme; g: "row" | number | "tensor" }[] = [
    { s: SCHEMES[0]!, g: "row" }, { s: SCHEMES[2]!, g: 32 }, { s: SCHEMES[3]!, g: 32 }, { s: SCHEMES[3]!, g: 64 },
    { s: SCHEMES[5]!, g: "row" }, { s: SCHEMES[5]!, g: "tensor" }, { s: SCHEMES[6]!, g: "row" },
    { s: SCHEMES[7]!, g: 64 }, { s: SCHEMES[8]!, g: "row" }, { s: SCHEMES[4]!, g: 128 },
  ];
  const shapes: [number, number, number][] = [[1, 33, 64], [3, 70, 128], [4, 300, 64], [5, 67, 192], [37, 300, 256], [130, 129, 128], [256, 20, 64]];  // the last splits M across threads
  let checked = 0;
  for (const [M, N, K] of shapes) {
    const w = Float32Array.from({ length: N * K }, () => rng.normal());
    for (const { s, g } of cases) {
      if (typeof g === "number" && K % g !== 0) continue;
      const qw = quantizeWeight(w, N, K, s, g);
      const dense = new native.Storage(N * K * 4);
      using([qw.q, qw.scale, ...(qw.zero ? [qw.zero] : []), dense], () => {
        dequantize(qw.q, s.qdtype, qw.scale, qw.zero, N, K, qw.group, qw.stride, dense, "float32");
        const combos: [FloatDType, FloatDType, boolean][] = [["float32", "float32", false], ["float32", "float32", true], ["bfloat16", "float16", true]];
        for (const [aDtype, outDtype, withBias] of combos) {
          const a = storageWith(encode(aDtype, Array.from({ length: M * K }, () => rng.normal())));
          const bias = withBias ? storageWith(encode(aDtype, Array.from({ length: N }, () => rng.normal()))) : null;
          const outBytes = M * N * (outDtype === "float32" ? 4 : 2);
          const got = new native.Storage(outBytes), want = new native.Storage(outBytes);
          using([a, got, want, ...(bias ? [bias] : [])], () => {
            matmulQuantB(got, outDtype, a, aDtype, null, qw.q, s.qdtype, qw.scale, qw.zero, qw.stride, qw.group, bias, aDtype, M, N, K);
            matmul(want, outDtype, a, aDtype, dense, "float32", bias, aDtype, M, N, K, true);
            assertSameBytes(readBytes(got), readBytes(want), `${s.name} ${String(g)} [${M},${N},${K}] a ${aDtype} out ${outDtype} bias ${withBias}`);
          });
          checked++;
        }
      });
    }
  }
  assert.ok(checked > 150);
});

test("matmulQuantB row-scale epilogue: out = float32(float32(rowScale[m] * acc) + bias[n])", () => {
  const rng = new Rng(0x5ea1);
  for (const [M, N, K] of [[2, 40, 64], [19, 96, 128]] as const) {
    const s = SCHEMES[0]!;
    const w = Float32Array.from({ length: N * K }, () => rng.normal());
    const qw = quantizeWeight(w, N, K, s, "row");
    const aValues = Array.from({ length: M * K }, () => rng.normal());
    const rowScale = Float32Array.from({ length: M }, () => rng.uniform() * 0.1);
    const biasValues = Float32Array.from({ length: N }, () => rng.normal());
    const a = f32Storage(aValues), rs = f32Storage(rowScale), bias = f32Storage(biasValues);
    const dense = new native.Storage(N * K * 4), plain = new native.Storage(M * N * 4);
    const got = new native.Storage(M * N * 2);
    using([qw.q, qw.scale, a, rs, bias, dense, plain, got], () => {
      dequantize(qw.q, s.qdtype, qw.scale, null, N, K, K, 1, dense, "float32");
      matmul(plain, "float32", a, "float32", dense, "float32", null, "float32", M, N, K, true);
      const acc = readF32(plain, M * N);
      const expected = Array.from(acc, (v, i) => roundTo("bfloat16", Math.fround(Math.fround(rowScale[Math.floor(i / N)]! * v) + biasValues[i % N]!)));
      matmulQuantB(got, "bfloat16", a, "float32", rs, qw.q, s.qdtype, qw.scale, null, 1, K, bias, "float32", M, N, K);
      assertSameBytes(new Uint8Array(native.read(got, 0, M * N * 2)), encode("bfloat16", expected), `rowScale [${M},${N},${K}]`);
    });
  }
});

// ---------------------------------------------------------------- SQNR

// Quantize -> dequantize of a 3072 x 3072 N(0,1) weight (seeded), against
// the values of a correct implementation. Issue 3 quotes int8 per-row "about
// 41.5", e4m3 per-row 31.5, int4 g128 asymmetric 20, fp6_e3m2 25.5, fp4_e2m1
// 18.6 dB. For int8 the exact expectation follows from uniform rounding
// noise: step = amax / 127.5, so SQNR = 10 log10(12 * 127.5^2 * var / E[amax^2]);
// rows of 3072 Gaussians have E[amax^2] = 14.07 (measured on this weight),
// giving 41.42 dB ([-127, 127] with step amax / 127: 41.38 dB). fp5_e2m2 is
// not in the issue; 24.8 dB is this implementation's value (between fp4 and
// fp6, as its 2 mantissa bits but 2 exponent bits put it). Band +-0.25 dB: the
// estimate over 9.4M samples moves by ~0.01 dB between seeds, while a wrong
// formula (scale off by 2x, truncation, wrong grouping) moves it by >= 1 dB;
// the bit-exact tests above pin the formulas themselves.
test("SQNR of quantize -> dequantize on a 3072x3072 Gaussian weight", { skip: process.env.VRAMLAB_CPU ? "checked once, at the best CPU level" : false }, (t) => {
  const N = 3072, K = 3072, n = N * K;
  const w = new native.Storage(n * 4), deq = new native.Storage(n * 4);
  const q = new native.Storage(n), scale = new native.Storage((n / 32) * 4), zero = new native.Storage((n / 32) * 4);
  using([w, deq, q, scale, zero], () => {
    native.randomFill(w, n, 1234, 0, 0, 1);
    const x = readF32(w, n);
    const cases: { s: Scheme; group: number; expect: number }[] = [
      { s: SCHEMES[0]!, group: K, expect: 41.42 },
      { s: SCHEMES[1]!, group: K, expect: 41.38 },
      { s: SCHEMES[5]!, group: K, expect: 31.5 },
      { s: SCHEMES[3]!, group: 128, expect: 20.0 },
      { s: SCHEMES[6]!, group: K, expect: 25.5 },
      { s: SCHEMES[7]!, group: K, expect: 24.8 },
      { s: SCHEMES[8]!, group: K, expect: 18.6 },
    ];
    const report: string[] = [];
    for (const { s, group, expect } of cases) {
      const z = s.mode === "asymmetric" ? zero : null;
      quantize(w, "float32", N, K, group, q, s.qdtype, scale, z, s.mode, s.qmin, s.qmax);
      dequantize(q, s.qdtype, scale, z, N, K, group, K / group, deq, "float32");
      const db = sqnrDb(x, readF32(deq, n));
      report.push(`${s.name} group ${group}: ${db.toFixed(2)} dB`);
      assert.ok(Math.abs(db - expect) <= 0.25, `${s.name} group ${group}: SQNR ${db.toFixed(3)} dB, expected ${expect} +- 0.25`);
    }
    t.diagnostic(report.join("; "));
  });
});

reportCpuLevel();
alsoTestOtherCpuLevels(import.meta.url);
