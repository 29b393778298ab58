// sdpa and rope (engine/kernels/attention.ts) against float64 references
// (test/reference/float64-ops.ts).
//
// Tolerances:
// - sdpa, float32 output: relative L2 error <= 1e-5 against attention
//   computed in double from the same (already rounded) inputs, over the whole
//   output and for every (batch, head). The kernel works in float32 (dot
//   products, exp, sums): measured errors are around 1e-7; 1e-5 leaves room
//   for long key sequences (lk = 1000) without hiding a wrong softmax, which
//   would be off by O(1). float16/bfloat16 outputs are additionally allowed
//   half an ulp of that dtype per element. lk = 1 must reproduce v exactly.
//   The "extreme logits" case uses small-integer q and k and a power-of-two
//   scale, so every score is exact in float32 even at |score| ~ 1e3..1e4 and
//   the 1e-5 bound still applies; a softmax without the max shift overflows.
// - rope: exact against a float32 emulation of diffusers' three roundings
//   (x*cos, rotated*sin, their sum) followed by the output dtype's rounding;
//   the test data is checked to tell this apart from a fused multiply-add.
// The file runs again at VRAMLAB_CPU=avx2 and portable (the GEMM, exp and
// conversion paths differ per level).
import { test } from "node:test";
import assert from "node:assert/strict";
import { native } from "../../engine/native-binding.js";
import { rope, sdpa } from "../../engine/kernels/attention.js";
import {
  FLOAT_DTYPES, Rng, alsoTestOtherCpuLevels, assertClose, assertSame, attentionRef, halfUlp, readValues, relativeL2,
  reportCpuLevel, ropeRef, roundTo, storageOf, subnormalHalfStep, withStorages, type FloatDType,
} from "../reference/float64-ops.js";

reportCpuLevel();

interface SdpaCase { B: number; H: number; Lq: number; Lk: number; D: number; scale?: number; dtype: FloatDType; outD: FloatDType }

function runSdpa(c: SdpaCase, q: Float64Array, k: Float64Array, v: Float64Array): Float64Array {
  const sq = storageOf(c.dtype, q), sk = storageOf(c.dtype, k), sv = storageOf(c.dtype, v);
  const out = new native.Storage(c.B * c.H * c.Lq * c.D * 4);
  return withStorages([sq, sk, sv, out], () => {
    sdpa(out, c.outD, sq, sk, sv, c.dtype, c.B, c.H, c.Lq, c.Lk, c.D, c.scale ?? 1 / Math.sqrt(c.D));
    return readValues(out, c.outD, c.B * c.H * c.Lq * c.D);
  });
}

function checkSdpa(c: SdpaCase, data?: { q: Float64Array; k: Float64Array; v: Float64Array }): number {
  const rng = new Rng(c.B * 1000 + c.H * 100 + c.Lq + c.Lk + c.D);
  const bh = c.B * c.H;
  const q = data?.q ?? rng.values(c.dtype, bh * c.Lq * c.D, 1);
  const k = data?.k ?? rng.values(c.dtype, bh * c.Lk * c.D, 1);
  const v = data?.v ?? rng.values(c.dtype, bh * c.Lk * c.D, 1);
  const scale = c.scale ?? 1 / Math.sqrt(c.D);
  const expected = attentionRef(q, k, v, bh, c.Lq, c.Lk, c.D, scale);
  const got = runSdpa(c, q, k, v);
  const what = `sdpa B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} D${c.D} ${c.dtype}->${c.outD}`;
  if (c.outD === "float32") {
    const err = relativeL2(got, expected);
    assert.ok(err <= 1e-5, `${what}: relative L2 error ${err}`);
    const per = c.Lq * c.D;
    for (let h = 0; h < bh; h++) {
      const eh = relativeL2(got.subarray(h * per, (h + 1) * per), expected.subarray(h * per, (h + 1) * per));
      assert.ok(eh <= 1e-5, `${what}: head ${h} relative L2 error ${eh}`);
    }
    return err;
  }
  const scaleAbs = Math.max(...expected.map(Math.abs));
  assertClose(got, expected, (i) => halfUlp(c.outD) * Math.abs(expected[i]) * 1.001 + subnormalHalfStep(c.outD) + 1e-5 * scaleAbs, what);
  return relativeL2(got, expected);
}

test("sdpa float32: odd shapes, several query tiles and key blocks, long key sequences", () => {
  const cases: Omit<SdpaCase, "dtype" | "outD">[] = [
    { B: 1, H: 1, Lq: 1, Lk: 2, D: 8 },
    { B: 2, H: 3, Lq: 5, Lk: 7, D: 16 },
    { B: 1, H: 2, Lq: 130, Lk: 700, D: 64 },   // 3 query tiles of 64, 2 key blocks of 350
    { B: 1, H: 1, Lq: 70, Lk: 1000, D: 40 },   // long lk, headDim not a multiple of 16
    { B: 2, H: 2, Lq: 3, Lk: 513, D: 128 },    // Flux's headDim
    { B: 1, H: 1, Lq: 9, Lk: 11, D: 1 },
  ];
  for (const c of cases) checkSdpa({ ...c, dtype: "float32", outD: "float32" });
  checkSdpa({ B: 1, H: 1, Lq: 4, Lk: 6, D: 8, scale: -0.7, dtype: "float32", outD: "float32" });  // any scale, even negative
});

test("sdpa with float16 / bfloat16 inputs and outputs", () => {
  for (const dtype of FLOAT_DTYPES)
    for (const outD of FLOAT_DTYPES)
      checkSdpa({ B: 1, H: 2, Lq: 67, Lk: 260, D: 32, dtype, outD });
});

test("sdpa with extreme logits stays finite and accurate (scores exact in float32)", () => {
  const [B, H, Lq, Lk, D] = [1, 2, 70, 600, 64];
  const rng = new Rng(99);
  const ints = (n: number, lo: number, hi: number) => Float64Array.from({ length: n }, () => rng.int(lo, hi));
  const q = ints(B * H * Lq * D, -20, 20);
  const k = ints(B * H * Lk * D, -20, 20);
  // later keys get a growing bias, so the running max jumps in every key block (online rescaling)
  for (let h = 0; h < B * H; h++) for (let j = 0; j < Lk; j++) k[(h * Lk + j) * D] += Math.floor(j / 8);
  const v = rng.values("float32", B * H * Lk * D, 1);
  checkSdpa({ B, H, Lq, Lk, D, scale: 0.25, dtype: "float32", outD: "float32" }, { q, k, v });
  // scores around +-1e4: exp without the max shift would overflow / underflow everywhere
  const q2 = Float64Array.from(q, (x) => x * 8);
  checkSdpa({ B, H, Lq, Lk, D, scale: 0.25, dtype: "float32", outD: "float32" }, { q: q2, k, v });
  const q3 = Float64Array.from(q, (x) => -x * 8);
  checkSdpa({ B, H, Lq, Lk, D, scale: 0.25, dtype: "float32", outD: "float32" }, { q: q3, k, v });
});

test("sdpa with one key returns v exactly", () => {
  const c: SdpaCase = { B: 2, H: 3, Lq: 70, Lk: 1, D: 24, dtype: "float32", outD: "float32" };
  const rng = new Rng(3);
  const q = rng.values("float32", 6 * 70 * 24, 5), k = rng.values("float32", 6 * 24, 5), v = rng.values("float32", 6 * 24, 1);
  const got = runSdpa(c, q, k, v);
  const expected = new Float64Array(6 * 70 * 24);
  for (let h = 0; h < 6; h++) for (let i = 0; i < 70; i++) expected.set(v.subarray(h * 24, (h + 1) * 24), (h * 70 + i) * 24);
  assertSame(got, expected, "lk = 1");
});

/** diffusers' rope in float32 with its three roundings, then the output dtype's. */
function ropeEmulated(x: Float64Array, cos: Float64Array, sin: Float64Array, rows: number, seq: number, d: number, outD: FloatDType): Float64Array {
  const f = Math.fround;
  const out = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const t = (r % seq) * d, o = r * d;
    for (let i = 0; i < d; i += 2) {
      const re = x[o + i], im = x[o + i + 1];
      out[o + i] = roundTo(outD, f(f(re * cos[t + i]) + f(-im * sin[t + i])));
      out[o + i + 1] = roundTo(outD, f(f(im * cos[t + i + 1]) + f(re * sin[t + i + 1])));
    }
  }
  return out;
}
/** Flux-style tables: angle = position * theta^(-2i/d), each value repeated for the pair (2i, 2i+1). */
function ropeTables(seq: number, d: number): { cos: Float64Array; sin: Float64Array } {
  const cos = new Float64Array(seq * d), sin = new Float64Array(seq * d);
  for (let s = 0; s < seq; s++)
    for (let i = 0; i < d; i += 2) {
      const angle = (s + 0.5) * 10000 ** (-i / d);
      cos[s * d + i] = cos[s * d + i + 1] = Math.fround(Math.cos(angle));
      sin[s * d + i] = sin[s * d + i + 1] = Math.fround(Math.sin(angle));
    }
  return { cos, sin };
}

test("rope: exact float32 roundings of x*cos + rotate(x)*sin, every dtype pair and odd shapes", () => {
  for (const [B, H, S, D] of [[1, 1, 1, 2], [2, 3, 17, 64], [1, 24, 130, 128]])
    for (const xd of FLOAT_DTYPES)
      for (const outD of FLOAT_DTYPES) {
        if (H === 24 && xd !== outD) continue;  // the large shape once per dtype
        const rows = B * H * S;
        const x = new Rng(rows + D).values(xd, rows * D, 2);
        const { cos, sin } = ropeTables(S, D);
        const expected = ropeEmulated(x, cos, sin, rows, S, D, outD);
        const sx = storageOf(xd, x), sc = storageOf("float32", cos), ss = storageOf("float32", sin);
        const out = new native.Storage(rows * D * 4);
        withStorages([sx, sc, ss, out], () => {
          rope(out, outD, sx, xd, sc, ss, B, H, S, D);
          const got = readValues(out, outD, rows * D);
          assertSame(got, expected, `rope [${B},${H},${S},${D}] ${xd}->${outD}`);
          // and close to the float64 rotation (sanity of the formula itself)
          const exact = ropeRef(x, cos, sin, rows, S, D);
          assertClose(got, exact, (i) => 4 * 2 ** -24 * (Math.abs(x[i]) + Math.abs(x[i ^ 1])) + halfUlp(outD) * Math.abs(exact[i]) * 1.001 + subnormalHalfStep(outD), "rope vs float64");
        });
      }
});

test("rope is not fused into FMA, and works in place", () => {
  const [B, H, S, D] = [1, 4, 50, 64];
  const rows = B * H * S;
  const x = new Rng(5).values("float32", rows * D, 3);
  const { cos, sin } = ropeTables(S, D);
  const expected = ropeEmulated(x, cos, sin, rows, S, D, "float32");
  let fusedDiffers = 0;
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < D; i += 2) {
      const o = r * D + i, t = (r % S) * D + i;
      if (Math.fround(x[o] * cos[t] + Math.fround(-x[o + 1] * sin[t])) !== expected[o]) fusedDiffers++;
    }
  assert.ok(fusedDiffers > 50, "the data tells fused and unfused apart");
  const sx = storageOf("float32", x), sc = storageOf("float32", cos), ss = storageOf("float32", sin);
  withStorages([sx, sc, ss], () => {
    rope(sx, "float32", sx, "float32", sc, ss, B, H, S, D);
    assertSame(readValues(sx, "float32", rows * D), expected, "rope in place");
  });
});

/** [B, X, Y, D] -> [B, Y, X, D] (head-major <-> token-major). */
function swapMiddle(x: Float64Array, B: number, X: number, Y: number, D: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < X; i++)
      for (let j = 0; j < Y; j++) out.set(x.subarray(((b * X + i) * Y + j) * D, ((b * X + i) * Y + j + 1) * D), ((b * Y + j) * X + i) * D);
  return out;
}

test("token-major (BLHD) sdpa and rope equal the head-major kernels on transposed data, bit for bit", () => {
  // several query tiles and key blocks, B and H > 1, Lq != Lk, every input dtype
  for (const [B, H, Lq, Lk, D] of [[2, 3, 70, 300, 16], [1, 4, 130, 130, 64], [1, 1, 5, 9, 8]] as const)
    for (const dtype of FLOAT_DTYPES) {
      const rng = new Rng(B + H + Lq + Lk + D);
      const q = rng.values(dtype, B * H * Lq * D), k = rng.values(dtype, B * H * Lk * D), v = rng.values(dtype, B * H * Lk * D);
      const headMajor = runSdpa({ B, H, Lq, Lk, D, dtype, outD: dtype }, q, k, v);
      const tq = storageOf(dtype, swapMiddle(q, B, H, Lq, D)), tk = storageOf(dtype, swapMiddle(k, B, H, Lk, D));
      const tv = storageOf(dtype, swapMiddle(v, B, H, Lk, D)), out = new native.Storage(B * H * Lq * D * 4);
      withStorages([tq, tk, tv, out], () => {
        sdpa(out, dtype, tq, tk, tv, dtype, B, H, Lq, Lk, D, 1 / Math.sqrt(D), "BLHD");
        const got = swapMiddle(readValues(out, dtype, B * H * Lq * D), B, Lq, H, D);
        assertSame(got, headMajor, `sdpa BLHD B${B} H${H} Lq${Lq} Lk${Lk} D${D} ${dtype}`);
      });
      // rope: the table row is the token index, whichever dimension holds it
      const x = rng.values(dtype, B * H * Lq * D, 2);
      const { cos, sin } = ropeTables(Lq, D);
      const expected = ropeEmulated(x, cos, sin, B * H * Lq, Lq, D, dtype);
      const sx = storageOf(dtype, swapMiddle(x, B, H, Lq, D)), sc = storageOf("float32", cos), ss = storageOf("float32", sin);
      const ro = new native.Storage(B * H * Lq * D * 4);
      withStorages([sx, sc, ss, ro], () => {
        rope(ro, dtype, sx, dtype, sc, ss, B, H, Lq, D, "BLHD");
        assertSame(swapMiddle(readValues(ro, dtype, B * H * Lq * D), B, Lq, H, D), expected, `rope BLHD [${B},${Lq},${H},${D}] ${dtype}`);
      });
    }
});

test("bad arguments give JS errors, never a crash", () => {
  const s = storageOf("float32", new Float64Array(64));
  const o = storageOf("float32", new Float64Array(64));
  withStorages([s, o], () => {
    assert.throws(() => sdpa(o, "float32", s, s, s, "float32", 1, 1, 2, 0, 4, 0.5), /lk must be >= 1/);
    assert.throws(() => sdpa(o, "float32", s, s, s, "float32", 1, 1, 4, 17, 4, 0.5), RangeError);  // k too small
    assert.throws(() => sdpa(o, "float32", s, s, s, "float32", 1, 1, 4, 4, 4, NaN), RangeError);
    assert.throws(() => sdpa(o, "float32", s, s, s, "int8", 1, 1, 4, 4, 4, 0.5), TypeError);
    assert.throws(() => sdpa(o, "float32", s, s, s, "float32", 2 ** 40, 2 ** 40, 1, 1, 1, 0.5), RangeError);  // size overflow
    assert.throws(() => sdpa(s, "float32", o, s, o, "float32", 1, 1, 4, 4, 4, 0.5), /must not share/);  // out is k
    assert.throws(() => rope(o, "float32", s, "float32", s, s, 1, 1, 4, 3), /even/);
    assert.throws(() => rope(o, "float32", s, "float32", s, s, 1, 2, 4, 16), RangeError);  // x too small
    sdpa(o, "float32", s, s, s, "float32", 1, 1, 0, 0, 4, 0.5);  // no queries: nothing to do
    // out may be q (each query tile is read before it is written)
    const rng = new Rng(2);
    const q = rng.values("float32", 2 * 70 * 8), kv = rng.values("float32", 2 * 9 * 8);
    const expected = attentionRef(q, kv, kv, 2, 70, 9, 8, 0.3);
    const sq = storageOf("float32", q), skv = storageOf("float32", kv);
    withStorages([sq, skv], () => {
      sdpa(sq, "float32", sq, skv, skv, "float32", 1, 2, 70, 9, 8, 0.3);
      assert.ok(relativeL2(readValues(sq, "float32", q.length), expected) <= 1e-5, "sdpa in place over q");
    });
  });
});

alsoTestOtherCpuLevels(import.meta.url);
