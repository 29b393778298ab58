// copyStrided and fill (engine/kernels/layout.ts) against JS index arithmetic.
//
// Tolerance: none. A layout copy moves values, so every check is exact: raw
// copies must reproduce the source bits, and dtype-converting copies must
// give the round-to-nearest-even value computed independently in
// test/reference/float64-ops.ts (float16/bfloat16 -> float32 is exact).
// Destinations start filled with a sentinel so writes outside the view show.
// The file also runs at VRAMLAB_CPU=avx2 and =portable (child processes),
// which switches the float16/bfloat16 conversion between AVX-512, AVX2+F16C
// and the scalar code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { native } from "../../engine/native-binding.js";
import { copyStrided, fill } from "../../engine/kernels/layout.js";
import {
  FLOAT_DTYPES, Rng, alsoTestOtherCpuLevels, assertSame, contiguousStrides, decode, elemBytes, forEachIndex,
  offsetOf, readValues, reportCpuLevel, roundTo, storageOf, withStorages, type FloatDType,
} from "../reference/float64-ops.js";

reportCpuLevel();
const SENTINEL = 12345;  // rounds to 12352 in bfloat16

/** Runs copyStrided with float storages and checks every element of dst against JS index arithmetic. */
function checkCopy(opts: {
  shape: number[]; srcD: FloatDType; dstD: FloatDType;
  srcSize: number; srcOffset: number; srcStrides: number[];
  dstSize: number; dstOffset: number; dstStrides: number[]; seed: number;
}): void {
  const rng = new Rng(opts.seed);
  const srcVals = rng.values(opts.srcD, opts.srcSize, 3);
  const expected = new Float64Array(opts.dstSize).fill(roundTo(opts.dstD, SENTINEL));
  forEachIndex(opts.shape, (idx) => {
    expected[offsetOf(idx, opts.dstStrides, opts.dstOffset)] = roundTo(opts.dstD, srcVals[offsetOf(idx, opts.srcStrides, opts.srcOffset)]);
  });
  const src = storageOf(opts.srcD, srcVals);
  const dst = storageOf(opts.dstD, new Float64Array(opts.dstSize).fill(SENTINEL));
  withStorages([src, dst], () => {
    copyStrided(dst, opts.dstD, opts.dstOffset, opts.dstStrides, src, opts.srcD, opts.srcOffset, opts.srcStrides, opts.shape);
    assertSame(readValues(dst, opts.dstD, opts.dstSize), expected, `copy ${opts.srcD}->${opts.dstD} shape [${opts.shape}]`);
  });
}

test("transpose(1, 2) of [B, L, H, D] into a contiguous [B, H, L, D], every dtype pair", () => {
  for (const [B, L, H, D] of [[2, 5, 3, 4], [1, 77, 6, 33], [2, 130, 4, 64]]) {
    const n = B * L * H * D;
    const srcStridesBLHD = contiguousStrides([B, L, H, D]);
    // the transposed view: shape [B, H, L, D] reading src with strides (sB, sH, sL, sD)
    const viewStrides = [srcStridesBLHD[0], srcStridesBLHD[2], srcStridesBLHD[1], srcStridesBLHD[3]];
    for (const srcD of FLOAT_DTYPES)
      for (const dstD of FLOAT_DTYPES)
        checkCopy({ shape: [B, H, L, D], srcD, dstD, srcSize: n, srcOffset: 0, srcStrides: viewStrides,
          dstSize: n, dstOffset: 0, dstStrides: contiguousStrides([B, H, L, D]), seed: B * 1000 + L });
  }
});

test("transposes whose inner run is strided (last two dims swapped), every dtype pair", () => {
  const [R, C] = [37, 53];
  for (const srcD of FLOAT_DTYPES)
    for (const dstD of FLOAT_DTYPES)
      checkCopy({ shape: [C, R], srcD, dstD, srcSize: R * C, srcOffset: 0, srcStrides: [1, C],
        dstSize: R * C, dstOffset: 0, dstStrides: [R, 1], seed: 7 });
});

test("concat along dims 1 and 2: one copy per input into a slice of dst", () => {
  for (const d of FLOAT_DTYPES) {
    // dim 1: [2,3,5] ++ [2,4,5] -> [2,7,5]
    const rng = new Rng(11);
    const a = rng.values(d, 30), b = rng.values(d, 40);
    const out = storageOf(d, new Float64Array(70).fill(SENTINEL));
    const sa = storageOf(d, a), sb = storageOf(d, b);
    withStorages([out, sa, sb], () => {
      copyStrided(out, d, 0, [35, 5, 1], sa, d, 0, [15, 5, 1], [2, 3, 5]);
      copyStrided(out, d, 15, [35, 5, 1], sb, d, 0, [20, 5, 1], [2, 4, 5]);
      const expected = new Float64Array(70);
      forEachIndex([2, 7, 5], ([i, j, k], lin) => {
        expected[lin] = j < 3 ? a[i * 15 + j * 5 + k] : b[i * 20 + (j - 3) * 5 + k];
      });
      assertSame(readValues(out, d, 70), expected, `concat dim 1 (${d})`);
    });
    // dim 2: [2,3,4] ++ [2,3,6] -> [2,3,10]
    const c = rng.values(d, 24), e = rng.values(d, 36);
    const out2 = storageOf(d, new Float64Array(60).fill(SENTINEL));
    const sc = storageOf(d, c), se = storageOf(d, e);
    withStorages([out2, sc, se], () => {
      copyStrided(out2, d, 0, [30, 10, 1], sc, d, 0, [12, 4, 1], [2, 3, 4]);
      copyStrided(out2, d, 4, [30, 10, 1], se, d, 0, [18, 6, 1], [2, 3, 6]);
      const expected = new Float64Array(60);
      forEachIndex([2, 3, 10], ([i, j, k], lin) => {
        expected[lin] = k < 4 ? c[i * 12 + j * 4 + k] : e[i * 18 + j * 6 + (k - 4)];
      });
      assertSame(readValues(out2, d, 60), expected, `concat dim 2 (${d})`);
    });
  }
});

test("chunk(6, dim=1) of an AdaLN [B, 6*D] modulation tensor", () => {
  const [B, D] = [3, 96];
  for (const d of FLOAT_DTYPES) {
    const rng = new Rng(5);
    const mod = rng.values(d, B * 6 * D);
    const src = storageOf(d, mod);
    withStorages([src], () => {
      for (let chunk = 0; chunk < 6; chunk++) {
        const dst = storageOf(d, new Float64Array(B * D).fill(SENTINEL));
        withStorages([dst], () => {
          copyStrided(dst, d, 0, [D, 1], src, d, chunk * D, [6 * D, 1], [B, D]);
          const expected = new Float64Array(B * D);
          forEachIndex([B, D], ([b, j], lin) => { expected[lin] = mod[b * 6 * D + chunk * D + j]; });
          assertSame(readValues(dst, d, B * D), expected, `chunk ${chunk} (${d})`);
        });
      }
    });
  }
});

test("expand (stride 0), offsets on both sides, size-1 dims and scalars", () => {
  // expand [1, 5] -> [4, 5] into the middle of a bigger buffer
  checkCopy({ shape: [4, 5], srcD: "float32", dstD: "bfloat16", srcSize: 9, srcOffset: 4, srcStrides: [0, 1],
    dstSize: 40, dstOffset: 7, dstStrides: [6, 1], seed: 3 });
  // expand along the inner dim: every element of a row is the same source value
  checkCopy({ shape: [3, 1, 7], srcD: "float16", dstD: "float16", srcSize: 3, srcOffset: 0, srcStrides: [1, 99, 0],
    dstSize: 21, dstOffset: 0, dstStrides: [7, 7, 1], seed: 4 });
  // rank 0: one element
  checkCopy({ shape: [], srcD: "bfloat16", dstD: "float32", srcSize: 4, srcOffset: 3, srcStrides: [],
    dstSize: 3, dstOffset: 2, dstStrides: [], seed: 8 });
  // rank 8 with odd sizes
  const shape = [2, 1, 3, 2, 1, 2, 3, 5];
  const n = shape.reduce((a, b) => a * b, 1);
  const permuted = contiguousStrides([5, 3, 2, 1, 2, 3, 1, 2]).reverse();
  checkCopy({ shape, srcD: "float32", dstD: "float16", srcSize: n, srcOffset: 0, srcStrides: permuted,
    dstSize: n, dstOffset: 0, dstStrides: contiguousStrides(shape), seed: 9 });
});

test("copies larger than one thread's chunk (contiguous, converted and strided)", () => {
  const [R, C] = [301, 1111];  // 334k elements
  checkCopy({ shape: [R, C], srcD: "float32", dstD: "bfloat16", srcSize: R * C, srcOffset: 0, srcStrides: [C, 1],
    dstSize: R * C, dstOffset: 0, dstStrides: [C, 1], seed: 21 });
  checkCopy({ shape: [R, C], srcD: "float16", dstD: "float16", srcSize: R * C + 5, srcOffset: 5, srcStrides: [C, 1],
    dstSize: R * C, dstOffset: 0, dstStrides: [C, 1], seed: 22 });
  checkCopy({ shape: [C, R], srcD: "bfloat16", dstD: "float32", srcSize: R * C, srcOffset: 0, srcStrides: [1, C],
    dstSize: R * C, dstOffset: 0, dstStrides: [R, 1], seed: 23 });
});

test("float16 / bfloat16 -> float32 is exact for all 65536 bit patterns (contiguous and strided)", () => {
  const bits = new Uint16Array(65536).map((_, i) => i);
  for (const d of ["float16", "bfloat16"] as const) {
    const expected = decode(d, bits.buffer, 65536);
    const src = new native.Storage(bits.byteLength);
    native.write(src, 0, bits);
    const dst = new native.Storage(65536 * 4);
    withStorages([src, dst], () => {
      copyStrided(dst, "float32", 0, [1], src, d, 0, [1], [65536]);
      assertSame(readValues(dst, "float32", 65536), expected, `${d} -> float32 (contiguous)`);
      // the same through the strided path: [256, 256] read transposed, written transposed back
      copyStrided(dst, "float32", 0, [1, 256], src, d, 0, [1, 256], [256, 256]);
      assertSame(readValues(dst, "float32", 65536), expected, `${d} -> float32 (strided)`);
    });
  }
});

test("float32 -> float16 / bfloat16 rounds to nearest even (ties, subnormals, overflow, inf, NaN)", () => {
  const rng = new Rng(77);
  const values: number[] = [0, -0, 1, -1, Infinity, -Infinity, 65504, 65519.99, 65520, -65520, 1e-8, -1e-8, 2 ** -24, 2 ** -25,
    3 * 2 ** -26, 2 ** -14, 3.4e38, -3.4e38, 1.17549435e-38, 1e-45];
  // exact ties of both formats with even and odd last kept bits
  for (const e of [-20, -14, -3, 0, 7, 15]) {
    for (const m of [0, 1, 2, 3, 511, 1023]) {
      values.push((1 + m / 1024 + 2 ** -11) * 2 ** e);       // float16 tie
      values.push(-(1 + (m % 128) / 128 + 2 ** -8) * 2 ** e); // bfloat16 tie
    }
  }
  const u = new Uint32Array(1), f = new Float32Array(u.buffer);
  for (let i = 0; i < 4000; i++) { u[0] = Math.floor(rng.uniform() * 2 ** 32); values.push(f[0]); }
  const src32 = Float32Array.from(values);
  const n = src32.length;
  for (const d of ["float16", "bfloat16"] as const) {
    const src = new native.Storage(n * 4);
    native.write(src, 0, src32);
    const dst = new native.Storage(n * 2);
    withStorages([src, dst], () => {
      copyStrided(dst, d, 0, [1], src, "float32", 0, [1], [n]);
      const expected = Array.from(src32, (v) => roundTo(d, v));
      assertSame(readValues(dst, d, n), expected, `float32 -> ${d} (contiguous)`);
      // NaN stays NaN with its sign (quiet)
      const raw = new Uint16Array(native.read(dst, 0, n * 2));
      for (let i = 0; i < n; i++) {
        if (!Number.isNaN(src32[i])) continue;
        const signBit = new Uint32Array(src32.buffer, i * 4, 1)[0] >>> 31;
        assert.equal(raw[i] >>> 15, signBit, `NaN sign at ${i}`);
        assert.ok(d === "float16" ? (raw[i] & 0x7e00) === 0x7e00 : (raw[i] & 0x7fc0) === 0x7fc0, `quiet NaN at ${i}`);
      }
    });
  }
});

test("same-dtype raw copies of 1-, 2- and 4-byte dtypes keep the bits (int8, float8, int32)", () => {
  const [R, C] = [9, 31];
  for (const [dtype, bytes] of [["int8", 1], ["uint8", 1], ["float8_e4m3fn", 1], ["float8_e5m2", 1], ["int32", 4], ["float16", 2]] as const) {
    const raw = new Uint8Array(R * C * bytes).map((_, i) => (i * 37 + 11) & 0xff);
    const src = new native.Storage(raw.length);
    native.write(src, 0, raw);
    const dst = new native.Storage(raw.length);
    withStorages([src, dst], () => {
      copyStrided(dst, dtype, 0, [R, 1], src, dtype, 0, [1, C], [C, R]);  // transpose
      const out = new Uint8Array(native.read(dst, 0, raw.length));
      forEachIndex([C, R], ([j, i], lin) => {
        for (let b = 0; b < bytes; b++)
          if (out[lin * bytes + b] !== raw[(i * C + j) * bytes + b]) assert.fail(`${dtype}: element ${lin} byte ${b}`);
      });
    });
  }
});

test("fill: float rounding, float8 encodings, integers, offsets", () => {
  const s = new native.Storage(64, true);
  withStorages([s], () => {
    fill(s, "float32", 1, 3, 0.1);
    assertSame(readValues(s, "float32", 5), [0, Math.fround(0.1), Math.fround(0.1), Math.fround(0.1), 0], "float32 fill");
    fill(s, "bfloat16", 0, 2, 1 + 2 ** -8);  // a tie: rounds to even (1.0)
    fill(s, "float16", 2, 1, 65520);          // rounds to inf
    assertSame(readValues(s, "bfloat16", 2), [1, 1], "bfloat16 fill");
    assertSame(readValues(s, "float16", 1, 2), [Infinity], "float16 fill");

    const bytes = () => new Uint8Array(native.read(s, 0, 8));
    fill(s, "float8_e4m3fn", 0, 8, 0);
    const e4m3: [number, number][] = [[1, 0x38], [-2, 0xc0], [448, 0x7e], [464, 0x7e], [480, 0x7f], [1e9, 0x7f], [2 ** -9, 0x01], [0.1, 0x1d]];
    for (const [v, code] of e4m3) { fill(s, "float8_e4m3fn", 3, 1, v); assert.equal(bytes()[3], code, `e4m3fn(${v})`); }
    const e5m2: [number, number][] = [[1, 0x3c], [-0.5, 0xb8], [57344, 0x7b], [61440, 0x7c], [1e9, 0x7c], [-Infinity, 0xfc], [2 ** -16, 0x01]];
    for (const [v, code] of e5m2) { fill(s, "float8_e5m2", 3, 1, v); assert.equal(bytes()[3], code, `e5m2(${v})`); }
    assert.equal(bytes()[2], 0, "neighbours untouched");

    fill(s, "int8", 0, 4, -3);
    assert.deepEqual([...new Int8Array(native.read(s, 0, 5))], [-3, -3, -3, -3, 0]);
    fill(s, "int32", 2, 2, -123456789);
    assert.deepEqual([...new Int32Array(native.read(s, 0, 20))].slice(2, 5), [-123456789, -123456789, 0]);
    assert.throws(() => fill(s, "int8", 0, 1, 1.5), RangeError);
    assert.throws(() => fill(s, "uint8", 0, 1, 256), RangeError);
    assert.throws(() => fill(s, "int4", 0, 1, 1), TypeError);
    assert.throws(() => fill(s, "float32", 10, 7, 1), RangeError);  // 17 floats > 64 bytes
  });
  const big = new native.Storage(200003 * 2);
  withStorages([big], () => {
    fill(big, "bfloat16", 0, 200003, -2.5);
    const v = readValues(big, "bfloat16", 200003);
    assert.ok(v.every((x) => x === -2.5), "large fill");
  });
});

test("bad arguments give JS errors, never a crash", () => {
  const a = storageOf("float32", new Float64Array(16));
  const b = storageOf("float32", new Float64Array(16));
  withStorages([a, b], () => {
    assert.throws(() => copyStrided(a, "float32", 0, [4, 1], b, "float32", 0, [4, -1], [4, 4]), /negative strides/);
    assert.throws(() => copyStrided(a, "float32", 0, [4, 1], b, "float32", 1, [4, 1], [4, 4]), RangeError);  // src overrun
    assert.throws(() => copyStrided(a, "float32", 0, [5, 1], b, "float32", 0, [4, 1], [4, 4]), RangeError);  // dst overrun
    assert.throws(() => copyStrided(a, "float32", 0, [0, 1], b, "float32", 0, [4, 1], [4, 4]), /written to one place/);
    assert.throws(() => copyStrided(a, "float32", 0, [1, 1], b, "float32", 0, [1], [4, 4]), TypeError);  // rank mismatch
    assert.throws(() => copyStrided(a, "float32", 0, new Array(9).fill(1), b, "float32", 0, new Array(9).fill(1), new Array(9).fill(1)), /rank 9/);
    assert.throws(() => copyStrided(a, "float32", 0, [1.5], b, "float32", 0, [1], [4]), /must be an integer/);
    assert.throws(() => copyStrided(a, "int8", 0, [1], b, "float32", 0, [1], [4]), /conversion/);
    assert.throws(() => copyStrided(a, "int4", 0, [1], b, "int4", 0, [1], [4]), /packed/);
    assert.throws(() => copyStrided(a, "float32", 0, [1], b, "float32", 0, [1], [-1]), RangeError);
    assert.throws(() => copyStrided(a, "float32", 0, [1], b, "float32", 0, [2 ** 52], [2 ** 20]), RangeError);  // extent overflow
    // an empty shape does nothing, even with strides that would overrun
    copyStrided(a, "float32", 0, [1000, 1], b, "float32", 0, [1000, 1], [0, 5]);
  });
  const freed = storageOf("float32", [1, 2]);
  freed.free();
  const ok = storageOf("float32", [1, 2]);
  withStorages([ok], () => {
    assert.throws(() => copyStrided(ok, "float32", 0, [1], freed, "float32", 0, [1], [2]), /disposed/);
  });
  assert.equal(elemBytes("bfloat16"), 2);
});

alsoTestOtherCpuLevels(import.meta.url);
