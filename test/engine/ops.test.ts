// The Tensor-level op layer: shapes, broadcasting, layout ops and error
// messages, checked against float64 JS arithmetic on the same values.
// On the device under test (VRAMLAB_TEST_DEVICE, see test/device-under-test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";
import { TEST_DEVICE, testTensor } from "../device-under-test.js";

function values(shape: number[], seed: number): Float32Array {
  const r = new vl.Random(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => r.normal());
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]!; }
  return s;
}

function* indices(shape: readonly number[]): Generator<number[]> {
  const idx = shape.map(() => 0);
  const n = shape.reduce((a, b) => a * b, 1);
  for (let k = 0; k < n; k++) {
    yield [...idx];
    for (let d = shape.length - 1; d >= 0; d--) { if (++idx[d]! < shape[d]!) break; idx[d] = 0; }
  }
}

test("linear matches a float64 reference (relative error < 1e-5)", () => {
  const [M, K, N] = [5, 37, 11];
  const xv = values([M, K], 1), wv = values([N, K], 2), bv = values([N], 3);
  const x = testTensor(xv, { shape: [M, K] }), w = testTensor(wv, { shape: [N, K] }), b = testTensor(bv);
  const y = vl.ops.linear(x, w, b).toFloat32Array();
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let acc = bv[n]!, mag = Math.abs(bv[n]!);
    for (let k = 0; k < K; k++) { acc += xv[m * K + k]! * wv[n * K + k]!; mag += Math.abs(xv[m * K + k]! * wv[n * K + k]!); }
    assert.ok(Math.abs(y[m * N + n]! - acc) <= 1e-5 * mag, `(${m},${n}) ${y[m * N + n]} vs ${acc}`);
  }
  assert.throws(() => vl.ops.linear(x, vl.zeros([N, K + 1], { device: TEST_DEVICE })), /has 37 features but weight \[11, 38\] expects 38/);
  for (const t of [x, w, b]) t.dispose();
});

test("binary ops broadcast like PyTorch", () => {
  const cases: [number[], number[]][] = [[[2, 3, 4], [4]], [[2, 1, 4], [3, 1]], [[1], [2, 3]], [[2, 3, 4], [2, 1, 4]]];
  for (const [sa, sb] of cases) {
    const av = values(sa, 4), bv = values(sb, 5);
    const a = testTensor(av, { shape: sa }), b = testTensor(bv, { shape: sb });
    const out = vl.ops.mul(a, b);
    const n = Math.max(sa.length, sb.length);
    const shape = Array.from({ length: n }, (_, i) => Math.max(sa[i - n + sa.length] ?? 1, sb[i - n + sb.length] ?? 1));
    assert.deepEqual(out.shape, shape);
    const got = out.toFloat32Array();
    let k = 0;
    for (const idx of indices(shape)) {
      const pick = (s: number[], v: Float32Array) => {
        const st = strides(s);
        let off = 0;
        s.forEach((d, i) => { off += (d === 1 ? 0 : idx[i + n - s.length]!) * st[i]!; });
        return v[off]!;
      };
      assert.equal(got[k++], Math.fround(pick(sa, av) * pick(sb, bv)));
    }
    for (const t of [a, b, out]) t.dispose();
  }
  const a = vl.zeros([2, 3]), b = vl.zeros([4]);
  assert.throws(() => vl.ops.add(a, b), /\[2, 3\] and \[4\] cannot be broadcast together/);
  a.dispose(); b.dispose();
});

test("permute, slice, chunk and cat move the right elements", () => {
  const shape = [2, 3, 4, 5];
  const xv = values(shape, 6);
  const x = testTensor(xv, { shape });
  const p = vl.ops.permute(x, [2, 0, 3, 1]);
  assert.deepEqual(p.shape, [4, 2, 5, 3]);
  const pv = p.toFloat32Array();
  const xs = strides(shape);
  let k = 0;
  for (const [c, a, d, b] of indices(p.shape)) assert.equal(pv[k++], xv[a! * xs[0]! + b! * xs[1]! + c! * xs[2]! + d! * xs[3]!]);

  const parts = vl.ops.chunk(x, 2, 2);
  assert.deepEqual(parts.map((t) => t.shape), [[2, 3, 2, 5], [2, 3, 2, 5]]);
  const back = vl.ops.cat(parts, 2);
  assert.deepEqual(back.toFloat32Array(), xv);
  const s = vl.ops.slice(x, 1, 1, 3);
  k = 0;
  const sv = s.toFloat32Array();
  for (const [a, b, c, d] of indices(s.shape)) assert.equal(sv[k++], xv[a! * xs[0]! + (b! + 1) * xs[1]! + c! * xs[2]! + d! * xs[3]!]);
  assert.throws(() => vl.ops.slice(x, 1, 2, 9), /outside dimension 1 of size 3/);
  assert.throws(() => vl.ops.chunk(x, 3, 3), /does not split into 3 equal chunks/);
  for (const t of [x, p, back, s, ...parts]) t.dispose();
});

test("attention ops in token-major layout (BLHD) equal head-major ones around transposes, bit for bit", () => {
  const [B, L, H, D] = [2, 70, 3, 16];
  const [q, k, v] = [7, 8, 9].map((seed) => testTensor(values([B, L, H, D], seed), { shape: [B, L, H, D] }));
  const tables = [10, 11].map((seed) => testTensor(values([L, D], seed), { shape: [L, D] }));
  const [qh, kh, vh] = [q!, k!, v!].map((t) => vl.ops.transpose(t, 1, 2));
  const expectedAttention = vl.ops.transpose(vl.ops.scaledDotProductAttention(qh!, kh!, vh!, 0.3), 1, 2);
  const attention = vl.ops.scaledDotProductAttention(q!, k!, v!, { scale: 0.3, layout: "BLHD" });
  assert.deepEqual(attention.shape, [B, L, H, D]);
  assert.deepEqual(attention.toFloat32Array(), expectedAttention.toFloat32Array());
  const expectedRope = vl.ops.transpose(vl.ops.applyRotaryEmbedding(qh!, tables[0]!, tables[1]!), 1, 2);
  const rope = vl.ops.applyRotaryEmbedding(q!, tables[0]!, tables[1]!, "BLHD");
  assert.deepEqual(rope.toFloat32Array(), expectedRope.toFloat32Array());
  // a wrong layout or a head-major shape in token-major layout says what was expected
  assert.throws(() => vl.ops.scaledDotProductAttention(q!, k!, v!, { layout: "BHDL" as never }), /layout must be "BHLD" or "BLHD"/);
  const shortKeys = vl.ops.slice(k!, 1, 0, 10);
  assert.throws(() => vl.ops.scaledDotProductAttention(q!, shortKeys, v!, { layout: "BLHD" }), /do not match as \[batch, seq, heads, headDim\]/);
  assert.throws(() => vl.ops.applyRotaryEmbedding(qh!, tables[0]!, tables[1]!, "BLHD"), /cos must be float32 \[3, 16\]/);
  for (const t of [q, k, v, qh, kh, vh, expectedAttention, attention, expectedRope, rope, shortKeys, ...tables]) t!.dispose();
});

test("modulate and gatedResidual round like PyTorch's separate ops", () => {
  const [B, L, D] = [2, 3, 8];
  const xv = values([B, L, D], 7), mv = values([B, 6 * D], 8), yv = values([B, L, D], 9);
  const x = testTensor(xv, { shape: [B, L, D] }), mod = testTensor(mv, { shape: [B, 6 * D] }), y = testTensor(yv, { shape: [B, L, D] });
  const m = vl.ops.modulate(x, mod, 6, 1, 0).toFloat32Array();
  const g = vl.ops.gatedResidual(x, y, mod, 6, 2).toFloat32Array();
  for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) for (let d = 0; d < D; d++) {
    const i = (b * L + l) * D + d;
    const shift = mv[b * 6 * D + d]!, scale = mv[b * 6 * D + D + d]!, gate = mv[b * 6 * D + 2 * D + d]!;
    const f = Math.fround;
    assert.equal(m[i], f(f(xv[i]! * f(1 + scale)) + shift));
    assert.equal(g[i], f(xv[i]! + f(gate * yv[i]!)));
  }
  for (const t of [x, mod, y]) t.dispose();
});

test("ops reject non-float inputs with a message that says what to do", () => {
  const i = testTensor([1, 2, 3], { dtype: "int32" });
  assert.throws(() => vl.ops.silu(i), /has dtype int32; this op computes on float32, float16 or bfloat16 \(cast it/);
  i.dispose();
});

test("clamp bounds values, keeps NaN, and float16 Flux blocks clip like diffusers", async () => {
  const x = testTensor([-1e6, -2, 0.5, 3, 1e6, NaN]);
  const c = vl.ops.clamp(x, -2.5, 2.5).toFloat32Array();
  assert.deepEqual([...c.subarray(0, 5)], [-2.5, -2, 0.5, 2.5, 2.5]);
  assert.ok(Number.isNaN(c[5]));
  x.dispose();
  const h = testTensor([70000, -70000, 1], { dtype: "float16" }); // overflow to +-inf in float16
  const hc = vl.ops.clamp(h, -65504, 65504).toFloat32Array();
  assert.deepEqual([...hc], [65504, -65504, 1]);
  h.dispose();
});
