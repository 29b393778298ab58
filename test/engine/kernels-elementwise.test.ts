// binary, unary, scalarOp and modulate (engine/kernels/elementwise.ts)
// against float64 references (test/reference/float64-ops.ts).
//
// Tolerances:
// - binary, scalarOp, modulate, and unary relu/neg/sqrt: exact. One float32
//   operation on float32 values is correctly rounded, and a double result
//   rounded with Math.fround is the same float (double rounding is harmless
//   for + - * / sqrt since 53 >= 2*24 + 2), so the expected value is
//   roundTo(outDtype, fround(a op b)) bit for bit; modulate chains three such
//   steps with the PyTorch intermediate roundings.
// - unary transcendental ops, in units of u = 2^-24 |exact| (half an ulp):
//   exp, sin, cos, rsqrt 4u (measured <= 1.5u on all paths); silu 8u (2.9u);
//   gelu_tanh 8u * (1 + |t|) with t = sqrt(2/pi)(x + 0.044715 x^3), because
//   the float32 rounding of t is amplified by exp(-2t) (measured 5.3u);
//   gelu (erf) 4 * 2^-24 * (|exact| + |x|), as 1 + erf(x/sqrt 2) cancels for
//   x < 0 (measured 0.95). silu / gelu_tanh may flush results below 1e-36 to
//   zero (exp(-x) overflows first, as in PyTorch), hence 1e-36 absolute, and
//   float32 subnormal results may be one step (2^-149) off.
//   A float16/bfloat16 output adds its own rounding: half an ulp (2^-11 /
//   2^-8 relative) plus half a subnormal step.
// - exp, silu and gelu_tanh are moreover exact against a float32 emulation
//   of the kernels' operations (exp is SLEEF's expf_u10, PyTorch's vectorised
//   exp; every CPU level performs the same FMAs, so all give identical bits).
// Every check runs for float32/float16/bfloat16 inputs and outputs, on sizes
// that are odd, that straddle the 1024-element staging block, and that are
// larger than one thread's chunk, and again at VRAMLAB_CPU=avx2 / portable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { native } from "../../engine/native-binding.js";
import { binary, modulate, scalarOp, unary, type BinaryOp, type UnaryOp } from "../../engine/kernels/elementwise.js";
import {
  FLOAT_DTYPES, Rng, alsoTestOtherCpuLevels, assertClose, assertSame, binaryRef, contiguousStrides, forEachIndex,
  geluTanhF32, geluTanhInner, halfUlp, offsetOf, readValues, reportCpuLevel, roundTo, siluF32, sleefExpF32, storageOf,
  subnormalHalfStep, unaryRef, withStorages, type FloatDType,
} from "../reference/float64-ops.js";

reportCpuLevel();
const BINARY_OPS: BinaryOp[] = ["add", "sub", "mul", "div"];
const U = 2 ** -24;

/** binary through strided views; expected = roundTo(outD, fround(a op b)) at JS-computed offsets. */
function checkBinary(op: BinaryOp, shape: number[], a: { d: FloatDType; size: number; offset: number; strides: number[] },
  b: { d: FloatDType; size: number; offset: number; strides: number[] }, outD: FloatDType, seed: number): void {
  const rng = new Rng(seed);
  const av = rng.values(a.d, a.size, 2), bv = rng.values(b.d, b.size, 2);
  const n = shape.reduce((x, y) => x * y, 1);
  const expected = new Float64Array(n);
  forEachIndex(shape, (idx, lin) => {
    expected[lin] = roundTo(outD, binaryRef(op, av[offsetOf(idx, a.strides, a.offset)], bv[offsetOf(idx, b.strides, b.offset)]));
  });
  const sa = storageOf(a.d, av), sb = storageOf(b.d, bv), out = storageOf(outD, new Float64Array(n + 3).fill(7));
  withStorages([sa, sb, out], () => {
    binary(op, out, outD, sa, a.d, a.offset, a.strides, sb, b.d, b.offset, b.strides, shape);
    assertSame(readValues(out, outD, n), expected, `${op} ${a.d}/${b.d}->${outD} [${shape}]`);
    assertSame(readValues(out, outD, 3, n), [7, 7, 7], "elements past the output stay untouched");
  });
}

test("binary on contiguous tensors: every op and every dtype combination (exact)", () => {
  for (const op of BINARY_OPS)
    for (const ad of FLOAT_DTYPES)
      for (const bd of FLOAT_DTYPES)
        for (const outD of FLOAT_DTYPES) {
          const n = 1031;
          checkBinary(op, [n], { d: ad, size: n, offset: 0, strides: [1] }, { d: bd, size: n, offset: 0, strides: [1] }, outD, n);
        }
});

test("binary broadcasting like PyTorch gating gate.unsqueeze(1) * x and chunked modulation rows", () => {
  const [B, L, D] = [2, 37, 1100];  // D straddles the 1024-element staging block
  for (const d of FLOAT_DTYPES) {
    // gate [B, D] as [B, 1, D] -> strides [D, 0, 1]; x [B, L, D] contiguous
    checkBinary("mul", [B, L, D], { d, size: B * D, offset: 0, strides: [D, 0, 1] },
      { d, size: B * L * D, offset: 0, strides: contiguousStrides([B, L, D]) }, d, 1);
    // x + shift[:, None] with shift chunk 2 of a [B, 6D] tensor (offset 2D, row stride 6D)
    checkBinary("add", [B, L, D], { d, size: B * L * D, offset: 0, strides: contiguousStrides([B, L, D]) },
      { d, size: B * 6 * D, offset: 2 * D, strides: [6 * D, 0, 1] }, d, 2);
  }
  // a column vector [R, 1] against a row vector [1, C], a full scalar broadcast, and a transposed operand
  checkBinary("sub", [33, 47], { d: "float32", size: 33, offset: 0, strides: [1, 0] }, { d: "bfloat16", size: 47, offset: 0, strides: [0, 1] }, "float16", 3);
  checkBinary("div", [5, 6, 7], { d: "float16", size: 210, offset: 0, strides: [42, 7, 1] }, { d: "float32", size: 4, offset: 3, strides: [0, 0, 0] }, "float32", 4);
  checkBinary("add", [40, 30], { d: "bfloat16", size: 1200, offset: 0, strides: [1, 40] }, { d: "float32", size: 1200, offset: 0, strides: [30, 1] }, "bfloat16", 5);
  // rank 8 with size-1 dims
  const shape = [2, 1, 3, 1, 2, 3, 1, 5];
  const st = contiguousStrides(shape);
  checkBinary("mul", shape, { d: "float32", size: 180, offset: 0, strides: st }, { d: "float16", size: 90, offset: 0, strides: [45, 0, 15, 0, 0, 5, 0, 1] }, "float32", 6);
});

test("binary larger than one thread's chunk, contiguous and broadcast", () => {
  const [B, L, D] = [3, 100, 701];
  checkBinary("add", [B * L * D], { d: "float32", size: B * L * D, offset: 0, strides: [1] }, { d: "float32", size: B * L * D, offset: 0, strides: [1] }, "float32", 7);
  checkBinary("mul", [B, L, D], { d: "bfloat16", size: B * D, offset: 0, strides: [D, 0, 1] }, { d: "bfloat16", size: B * L * D, offset: 0, strides: [L * D, D, 1] }, "bfloat16", 8);
});

test("binary special values: inf, NaN, signed zero, division by zero", () => {
  const av = [Infinity, -Infinity, NaN, 0, -0, 1, -1, 3e38];
  const bv = [Infinity, 1, 2, 0, 0, 0, -0, 3e38];
  for (const op of BINARY_OPS) {
    const sa = storageOf("float32", av), sb = storageOf("float32", bv), out = new native.Storage(32);
    withStorages([sa, sb, out], () => {
      binary(op, out, "float32", sa, "float32", 0, [1], sb, "float32", 0, [1], [8]);
      const got = readValues(out, "float32", 8);
      av.forEach((a, i) => {
        const e = Math.fround(binaryRef(op, a, bv[i]));
        assert.ok(Object.is(got[i], e) || (Number.isNaN(e) && Number.isNaN(got[i])), `${op}(${a}, ${bv[i]}) = ${got[i]}, expected ${e}`);
      });
    });
  }
});

/** |y - r| bound for unary op at input x with exact result r (see the header). */
function unaryTolerance(op: UnaryOp, x: number, r: number, outD: FloatDType): number {
  const a = Math.abs(r);
  let t: number;
  switch (op) {
    case "relu": case "neg": case "sqrt": t = 0; break;
    case "exp": case "sin": case "cos": case "rsqrt": t = 4 * U * a; break;
    case "silu": t = 8 * U * a + 1e-36; break;
    case "gelu_tanh": t = 8 * U * a * (1 + Math.abs(geluTanhInner(x))) + 1e-36; break;
    case "gelu": t = 4 * U * (a + Math.abs(x)); break;
  }
  if (t > 0) t += 2 ** -149;  // float32 subnormal results carry up to one step of error
  return outD === "float32" ? t : t + halfUlp(outD) * a * (1 + 4 * U) + subnormalHalfStep(outD);
}

/** exp (SLEEF's expf_u10, as PyTorch), silu and gelu_tanh are specified down to the float32 operation. */
const FLOAT32_EMULATION: Partial<Record<UnaryOp, (x: number) => number>> = { exp: sleefExpF32, silu: siluF32, gelu_tanh: geluTanhF32 };

function unaryInputs(op: UnaryOp, d: FloatDType, n: number, rng: Rng): Float64Array {
  const x = rng.values(d, n, 3);
  const specials: number[] = op === "exp" ? [0, -0, 88.5, -87.5, -100, -104, 89, -Infinity, Infinity, NaN]
    : op === "sqrt" || op === "rsqrt" ? [0, 1e-30, 4, Infinity, NaN]
    : [0, -0, 40, -40, 1e-20, -1e-20, -90, Infinity, -Infinity, NaN];
  for (let i = 0; i < n; i++) {
    if (op === "sqrt" || op === "rsqrt") x[i] = Math.abs(x[i]);
    if (op === "exp") x[i] = roundTo(d, x[i] * 8);  // spread over [-30, 30]
  }
  specials.forEach((v, i) => { if (i < n) x[i] = roundTo(d, v); });
  return x;
}

test("unary ops against float64 within the stated tolerances, every dtype pair", () => {
  const ops: UnaryOp[] = ["gelu_tanh", "gelu", "silu", "relu", "neg", "exp", "sqrt", "rsqrt", "sin", "cos"];
  for (const op of ops)
    for (const xd of FLOAT_DTYPES)
      for (const outD of FLOAT_DTYPES)
        for (const n of [1, 1030, 20001]) {
          if (n === 20001 && xd !== outD) continue;  // the big size once per dtype
          const x = unaryInputs(op, xd, n, new Rng(n + 17));
          // results beyond the output dtype's range must be exactly +-inf
          const exact = Array.from(x, (v) => {
            const r = unaryRef(op, v);
            return Number.isFinite(roundTo(outD, r)) ? r : roundTo(outD, r);
          });
          const sx = storageOf(xd, x), out = new native.Storage(n * 4);
          withStorages([sx, out], () => {
            unary(op, out, outD, sx, xd, n);
            const got = readValues(out, outD, n);
            if (op === "relu" || op === "neg" || op === "sqrt") {
              assertSame(got, exact.map((r) => roundTo(outD, r)), `${op} ${xd}->${outD}`);
            } else {
              const emulated = FLOAT32_EMULATION[op];
              if (emulated) assertSame(got, Array.from(x, (v) => roundTo(outD, emulated(v))), `${op} ${xd}->${outD} n=${n} vs float32 emulation`);
              assertClose(got, exact, (i) => unaryTolerance(op, x[i], exact[i], outD), `${op} ${xd}->${outD} n=${n}`);
            }
          });
        }
});

test("unary in place (out is x) and relu keeps NaN", () => {
  const x = [-2, -0.5, 0, 0.5, NaN, 3];
  const s = storageOf("float32", x);
  withStorages([s], () => {
    unary("relu", s, "float32", s, "float32", 6);
    assertSame(readValues(s, "float32", 6), [0, 0, 0, 0.5, NaN, 3], "relu in place");
    unary("exp", s, "float32", s, "float32", 6);
    assertClose(readValues(s, "float32", 6), [1, 1, 1, Math.exp(0.5), NaN, Math.exp(3)], (i) => 4 * U * Math.exp([0, 0, 0, 0.5, 0, 3][i]), "exp in place");
  });
});

test("scalarOp: the scalar is rounded to float32 first; both operand orders (exact)", () => {
  for (const op of BINARY_OPS)
    for (const xd of FLOAT_DTYPES)
      for (const outD of FLOAT_DTYPES)
        for (const scalarFirst of [false, true]) {
          const n = 2049;
          const s = 0.1;  // not a float32: fround(0.1) != 0.1, so using the double would show
          const x = new Rng(n).values(xd, n, 2);
          const sf = Math.fround(s);
          const expected = Array.from(x, (v) => roundTo(outD, scalarFirst ? binaryRef(op, sf, v) : binaryRef(op, v, sf)));
          const sx = storageOf(xd, x), out = new native.Storage(n * 4);
          withStorages([sx, out], () => {
            scalarOp(op, out, outD, sx, xd, s, n, scalarFirst);
            assertSame(readValues(out, outD, n), expected, `scalar ${op} ${xd}->${outD} first=${scalarFirst}`);
          });
        }
  // the float32 rounding of the scalar matters: x * 0.1 differs from x * fround(0.1) for some x
  const xs = new Rng(9).values("float32", 2049, 2);
  assert.ok(xs.some((v) => Math.fround(v * 0.1) !== Math.fround(v * Math.fround(0.1))), "test data distinguishes the two");
});

/** modulate emulated with the PyTorch roundings: t = R_mod(1 + s), y = R_step(x t), out = R_out(R_step(y + h)). */
function modulateExpected(x: Float64Array, mod: Float64Array, xd: FloatDType, md: FloatDType, outD: FloatDType,
  B: number, T: number, D: number, scaleOff: number, shiftOff: number, modStride: number): Float64Array {
  const step: FloatDType = xd === md ? xd : "float32";
  const out = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let d = 0; d < D; d++) {
        const i = (b * T + t) * D + d;
        const tt = roundTo(md, 1 + mod[scaleOff + b * modStride + d]);
        const y = roundTo(step, x[i] * tt);
        out[i] = roundTo(outD, roundTo(step, y + mod[shiftOff + b * modStride + d]));
      }
  return out;
}

test("modulate: x * (1 + scale[:, None]) + shift[:, None] with PyTorch's three roundings (exact), all dtype combinations", () => {
  const [B, T, D] = [2, 5, 1100];
  for (const xd of FLOAT_DTYPES)
    for (const md of FLOAT_DTYPES)
      for (const outD of FLOAT_DTYPES) {
        const rng = new Rng(31);
        const x = rng.values(xd, B * T * D, 2);
        const mod = rng.values(md, B * 6 * D, 0.5);  // a [B, 6D] AdaLN output; scale = chunk 1, shift = chunk 0
        const expected = modulateExpected(x, mod, xd, md, outD, B, T, D, D, 0, 6 * D);
        const sx = storageOf(xd, x), sm = storageOf(md, mod), out = new native.Storage(B * T * D * 4);
        withStorages([sx, sm, out], () => {
          modulate(out, outD, sx, xd, sm, sm, md, B, T, D, D, 0, 6 * D);
          assertSame(readValues(out, outD, B * T * D), expected, `modulate x=${xd} mod=${md} out=${outD}`);
        });
      }
});

test("modulate is not fused into FMA and matches on a size larger than one thread's chunk", () => {
  const [B, T, D] = [2, 300, 320];
  const rng = new Rng(41);
  const x = rng.values("float32", B * T * D, 3);
  const scale = rng.values("float32", B * D, 0.7), shift = rng.values("float32", B * D, 0.7);
  const expected = modulateExpected(x, Float64Array.from([...scale, ...shift]), "float32", "float32", "float32", B, T, D, 0, B * D, D);
  // a fused x * t + shift (one rounding) differs from the two-rounding result on this data
  let fusedDiffers = 0;
  for (let i = 0; i < B * T * D; i++) {
    const b = Math.floor(i / (T * D)), d = i % D;
    const t = Math.fround(1 + scale[b * D + d]);
    if (Math.fround(x[i] * t + shift[b * D + d]) !== expected[i]) fusedDiffers++;
  }
  assert.ok(fusedDiffers > 100, "the data tells fused and unfused apart");
  const sx = storageOf("float32", x), ss = storageOf("float32", scale), sh = storageOf("float32", shift);
  withStorages([sx, ss, sh], () => {
    modulate(sx, "float32", sx, "float32", ss, sh, "float32", B, T, D, 0, 0, D);  // in place
    assertSame(readValues(sx, "float32", B * T * D), expected, "modulate in place, float32");
  });
});

test("bad arguments give JS errors, never a crash", () => {
  const a = storageOf("float32", new Float64Array(12));
  const b = storageOf("float32", new Float64Array(12));
  withStorages([a, b], () => {
    assert.throws(() => binary("pow" as BinaryOp, a, "float32", a, "float32", 0, [1], b, "float32", 0, [1], [12]), /unknown binary op/);
    assert.throws(() => binary("add", a, "int8", a, "float32", 0, [1], b, "float32", 0, [1], [12]), TypeError);
    assert.throws(() => binary("add", a, "float32", a, "float32", 0, [1], b, "float32", 1, [1], [12]), RangeError);
    assert.throws(() => binary("add", a, "float32", a, "float32", 0, [1], b, "float32", 0, [1], [13]), RangeError);
    assert.throws(() => binary("add", a, "float32", a, "float32", 0, [1, 1], b, "float32", 0, [1], [12]), TypeError);
    assert.throws(() => binary("add", a, "float32", a, "float32", 0, [-1], b, "float32", 0, [1], [12]), RangeError);
    assert.throws(() => binary("add", a, "float32", a, "float32", 0, new Array(9).fill(0), b, "float32", 0, new Array(9).fill(0), new Array(9).fill(1)), /rank 9/);
    assert.throws(() => unary("tanh" as UnaryOp, a, "float32", b, "float32", 12), /unknown unary op/);
    assert.throws(() => unary("exp", a, "float32", b, "bfloat16", 25), RangeError);
    assert.throws(() => unary("exp", a, "float32", b, "float32", -1), RangeError);
    assert.throws(() => unary("exp", a, "float32", b, "float32", 1.5), TypeError);
    assert.throws(() => scalarOp("mul", a, "float32", b, "float32", 2, 13, false), RangeError);
    assert.throws(() => modulate(a, "float32", b, "float32", a, b, "float32", 2, 1, 6, 0, 1, 6), RangeError);  // shift row 1 overruns
    assert.throws(() => modulate(a, "float32", b, "float32", a, b, "float32", 2, 2, 6, 0, 0, 0), RangeError);  // x too small
    // empty inputs are fine
    binary("add", a, "float32", a, "float32", 0, [1], b, "float32", 0, [1], [0]);
    unary("exp", a, "float32", b, "float32", 0);
  });
  const freed = storageOf("float32", [1]);
  freed.free();
  const ok = storageOf("float32", [1]);
  withStorages([ok], () => {
    assert.throws(() => unary("neg", ok, "float32", freed, "float32", 1), /disposed/);
  });
});

alsoTestOtherCpuLevels(import.meta.url);
