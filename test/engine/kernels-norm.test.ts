// layerNorm, rmsNorm and softmax (engine/kernels/norm.ts) against float64
// references (test/reference/float64-ops.ts).
//
// Tolerances (U = 2^-24, half an ulp of float32), for float32 outputs:
// - layerNorm: |y - exact| <= 4U (|n w| + |b|), n the exact normalised value.
//   The kernel accumulates mean and variance in double (two-pass), so the only
//   float32 errors are the roundings of n, n*w and +b. Rows offset by 1e4 and
//   3e5 check that no cancellation creeps in (a float32 E[x^2] - E[x]^2 would
//   be off by whole units there).
// - rmsNorm: exact against a step-by-step emulation of diffusers' RMSNorm in
//   float32 (variance rounded, + eps, sqrt, 1/, x * inv, the optional
//   rounding to a half-precision weight's dtype, * weight), and within
//   6U |exact| of the float64 value for float32 weights.
// - softmax: |y - exact| <= (8 + |x - max|) U exact: the float32 subtraction
//   x - max is rounded and exp turns that into a relative error of
//   |x - max| U; the exp itself, the double-accumulated sum and the final
//   scaling add a few U.
// float16/bfloat16 outputs add half an ulp of that dtype (2^-11 / 2^-8
// relative) plus half a subnormal step. The file runs again at
// VRAMLAB_CPU=avx2 and portable (vector exp and max differ per level).
import { test } from "node:test";
import assert from "node:assert/strict";
import { native } from "../../engine/native-binding.js";
import { layerNorm, rmsNorm, softmax } from "../../engine/kernels/norm.js";
import {
  FLOAT_DTYPES, Rng, alsoTestOtherCpuLevels, assertClose, assertSame, halfUlp, layerNormRow, readValues, reportCpuLevel,
  rmsNormRow, roundTo, softmaxRow, storageOf, subnormalHalfStep, withStorages, type FloatDType,
} from "../reference/float64-ops.js";

reportCpuLevel();
const U = 2 ** -24;
const outRounding = (d: FloatDType, v: number) => (d === "float32" ? 0 : halfUlp(d) * Math.abs(v) * (1 + 8 * U) + subnormalHalfStep(d));

function checkLayerNorm(rows: number, cols: number, xd: FloatDType, pd: FloatDType, outD: FloatDType,
  withWeight: boolean, withBias: boolean, opts: { mean?: number; std?: number; eps?: number; seed?: number } = {}): void {
  const rng = new Rng(opts.seed ?? rows * 31 + cols);
  const eps = opts.eps ?? 1e-6;
  const x = rng.values(xd, rows * cols, opts.std ?? 1, opts.mean ?? 0);
  const w = withWeight ? rng.values(pd, cols, 0.5, 1) : null;
  const b = withBias ? rng.values(pd, cols, 0.5) : null;
  const expected = new Float64Array(rows * cols), tol = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const { y, normalized } = layerNormRow(x.subarray(r * cols, (r + 1) * cols), w, b, eps);
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      expected[i] = y[c];
      tol[i] = 4 * U * (Math.abs(normalized[c] * (w ? w[c] : 1)) + Math.abs(b ? b[c] : 0)) + 2 ** -149 + outRounding(outD, y[c]);
    }
  }
  const sx = storageOf(xd, x), sw = w && storageOf(pd, w), sb = b && storageOf(pd, b);
  const out = new native.Storage(rows * cols * 4 + 8);
  withStorages([sx, out, ...(sw ? [sw] : []), ...(sb ? [sb] : [])], () => {
    layerNorm(out, outD, sx, xd, sw, sb, pd, rows, cols, eps);
    assertClose(readValues(out, outD, rows * cols), expected, (i) => tol[i],
      `layerNorm ${rows}x${cols} x=${xd} p=${pd} out=${outD} w=${withWeight} b=${withBias} mean=${opts.mean ?? 0}`);
  });
}

test("layerNorm: every dtype combination, with and without weight / bias, odd and large shapes", () => {
  for (const xd of FLOAT_DTYPES)
    for (const pd of FLOAT_DTYPES)
      for (const outD of FLOAT_DTYPES)
        checkLayerNorm(3, 1037, xd, pd, outD, true, true);
  for (const [rows, cols] of [[1, 1], [4, 7], [130, 777], [2, 5000]])
    for (const [w, b] of [[false, false], [true, false], [false, true], [true, true]])
      checkLayerNorm(rows, cols, "float32", "float32", "float32", w, b);
  checkLayerNorm(64, 3072, "bfloat16", "bfloat16", "bfloat16", false, false);  // Flux's norm1 shape class
});

test("layerNorm: large mean offsets do not cancel (two-pass statistics)", () => {
  checkLayerNorm(8, 3072, "float32", "float32", "float32", true, true, { mean: 1e4, std: 1 });
  checkLayerNorm(8, 3072, "float32", "float32", "float32", false, false, { mean: 3e5, std: 3 });
  checkLayerNorm(8, 3072, "float32", "float32", "bfloat16", false, false, { mean: -2e4, std: 0.5 });
  // a constant row normalises to 0 (variance 0 + eps), a tiny-variance row is governed by eps
  checkLayerNorm(2, 100, "float32", "float32", "float32", false, false, { mean: 7, std: 0 });
  checkLayerNorm(2, 100, "float32", "float32", "float32", false, false, { mean: 1, std: 1e-3, eps: 1e-5 });
});

/** diffusers RMSNorm step by step in float32, summing squares in the kernel's 8-lane double order. */
function rmsNormEmulated(x: Float64Array, w: Float64Array | null, xd: FloatDType, wd: FloatDType, outD: FloatDType, rows: number, cols: number, eps: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const acc = new Float64Array(8);
    let c = 0;
    for (; c + 8 <= cols; c += 8) for (let k = 0; k < 8; k++) acc[k] += row[c + k] * row[c + k];
    for (; c < cols; c++) acc[0] += row[c] * row[c];
    const ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    const variance = Math.fround(ss / cols);
    const inv = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(variance + Math.fround(eps)))));
    for (let i = 0; i < cols; i++) {
      let h = Math.fround(row[i] * inv);
      if (w) {
        h = roundTo(wd, h);                  // hidden_states.to(weight.dtype) for half weights
        h = roundTo(wd, h * w[i]);           // product in the weight's dtype (float32 stays float32)
      } else {
        h = roundTo(xd, h);                  // hidden_states.to(input_dtype)
      }
      out[r * cols + i] = roundTo(outD, h);
    }
  }
  return out;
}

test("rmsNorm: diffusers' float32 steps and weight-dtype roundings exactly, all dtype combinations", () => {
  const eps = 1e-6;
  for (const [rows, cols] of [[1, 1], [5, 13], [3, 1100], [70, 640]])
    for (const xd of FLOAT_DTYPES)
      for (const wd of [...FLOAT_DTYPES, null])
        for (const outD of FLOAT_DTYPES) {
          if (rows === 70 && (xd !== outD || wd !== xd)) continue;  // the large shape once per dtype
          const rng = new Rng(rows + cols);
          const x = rng.values(xd, rows * cols, 2, 0.3);
          const w = wd ? rng.values(wd, cols, 0.3, 1) : null;
          const expected = rmsNormEmulated(x, w, xd, wd ?? "float32", outD, rows, cols, eps);
          const sx = storageOf(xd, x), sw = w && storageOf(wd!, w), out = new native.Storage(rows * cols * 4);
          withStorages([sx, out, ...(sw ? [sw] : [])], () => {
            rmsNorm(out, outD, sx, xd, sw, wd ?? "float32", rows, cols, eps);
            const got = readValues(out, outD, rows * cols);
            assertSame(got, expected, `rmsNorm ${rows}x${cols} x=${xd} w=${wd} out=${outD}`);
            if (wd !== "float16" && wd !== "bfloat16" && xd === outD) {
              const exact = new Float64Array(rows * cols);
              for (let r = 0; r < rows; r++) exact.set(rmsNormRow(x.subarray(r * cols, (r + 1) * cols), w, eps), r * cols);
              assertClose(got, exact, (i) => 6 * U * Math.abs(exact[i]) + 2 ** -149 + outRounding(outD, exact[i]), `rmsNorm vs float64 ${xd}`);
            }
          });
        }
});

function checkSoftmax(rows: number, cols: number, xd: FloatDType, outD: FloatDType, make: (rng: Rng, n: number) => Float64Array, what: string): void {
  const rng = new Rng(rows * 7 + cols);
  const x = make(rng, rows * cols);
  const expected = new Float64Array(rows * cols), tol = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const p = softmaxRow(row);
    const max = Math.max(...row);
    for (let c = 0; c < cols; c++) {
      expected[r * cols + c] = p[c];
      tol[r * cols + c] = (8 + Math.abs(row[c] - max)) * U * p[c] + 2 ** -149 + outRounding(outD, p[c]);
    }
  }
  const sx = storageOf(xd, x), out = new native.Storage(rows * cols * 4);
  withStorages([sx, out], () => {
    softmax(out, outD, sx, xd, rows, cols);
    const got = readValues(out, outD, rows * cols);
    assertClose(got, expected, (i) => tol[i], `softmax ${rows}x${cols} ${xd}->${outD} (${what})`);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += got[r * cols + c];
      assert.ok(Math.abs(s - 1) <= 1e-5 + cols * halfUlp(outD), `row ${r} sums to ${s}`);
    }
  });
}

test("softmax: every dtype pair, odd, long and many-row shapes", () => {
  const normal = (d: FloatDType) => (rng: Rng, n: number) => rng.values(d, n, 3);
  for (const xd of FLOAT_DTYPES)
    for (const outD of FLOAT_DTYPES)
      checkSoftmax(5, 1031, xd, outD, normal(xd), "normal logits");
  for (const [rows, cols] of [[1, 1], [4, 7], [33, 1000], [2, 5000], [300, 64]])
    checkSoftmax(rows, cols, "float32", "float32", normal("float32"), "normal logits");
});

test("softmax is stable: huge logits, -inf entries, constant rows", () => {
  // around 1e4 a naive exp overflows; the spread of 40 keeps many entries significant
  checkSoftmax(3, 500, "float32", "float32", (rng, n) => Float64Array.from({ length: n }, () => Math.fround(1e4 + 40 * rng.uniform())), "logits near 1e4");
  checkSoftmax(3, 500, "float32", "float32", (rng, n) => Float64Array.from({ length: n }, () => Math.fround(-1e4 - 40 * rng.uniform())), "logits near -1e4");
  checkSoftmax(2, 300, "bfloat16", "float32", (rng, n) => Float64Array.from({ length: n }, (_, i) => (i % 3 === 0 ? -Infinity : roundTo("bfloat16", rng.normal()))), "-inf masked entries");
  checkSoftmax(2, 77, "float32", "float16", (_rng, n) => new Float64Array(n).fill(123.5), "constant rows are uniform");
});

test("bad arguments give JS errors, never a crash", () => {
  const x = storageOf("float32", new Float64Array(12));
  const w = storageOf("float32", new Float64Array(3));
  withStorages([x, w], () => {
    assert.throws(() => layerNorm(x, "float32", x, "float32", w, null, "float32", 3, 4, 1e-5), RangeError);  // weight has 3 < 4
    assert.throws(() => layerNorm(x, "float32", x, "float32", null, null, "float32", 4, 4, 1e-5), RangeError);
    assert.throws(() => layerNorm(x, "float32", x, "float32", null, null, "float32", 3, 4, -1), RangeError);
    assert.throws(() => layerNorm(x, "int32", x, "float32", null, null, "float32", 3, 4, 1e-5), TypeError);
    assert.throws(() => rmsNorm(x, "float32", x, "float32", w, "float32", 2, 6, 1e-6), RangeError);
    assert.throws(() => rmsNorm(x, "float32", x, "float8_e4m3fn", null, "float32", 2, 6, 1e-6), TypeError);
    assert.throws(() => softmax(x, "float32", x, "float32", 2, 7), RangeError);
    assert.throws(() => softmax(x, "float32", x, "float32", -1, 7), RangeError);
    // in place works and empty shapes do nothing
    softmax(x, "float32", x, "float32", 3, 4);
    assertSame(readValues(x, "float32", 12), new Float64Array(12).fill(0.25), "softmax of zeros in place");
    layerNorm(x, "float32", x, "float32", null, null, "float32", 0, 4, 1e-5);
    rmsNorm(x, "float32", x, "float32", null, "float32", 3, 0, 1e-6);
  });
});

alsoTestOtherCpuLevels(import.meta.url);
