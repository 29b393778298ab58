import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

test("randn is reproducible for a seed, whatever the thread count, and different across seeds", () => {
  const threads = vl.getNumThreads();
  const a = vl.randn([1001], { seed: 42 });
  vl.setNumThreads(1);
  const b = vl.randn([1001], { seed: 42 });
  vl.setNumThreads(threads);
  const c = vl.randn([1001], { seed: 43 });
  assert.deepEqual(a.toFloat32Array(), b.toFloat32Array());
  assert.notDeepEqual(a.toFloat32Array(), c.toFloat32Array());
  // a prefix of a longer draw equals the shorter draw: element i depends only on (seed, i)
  const long = vl.randn([5000], { seed: 42 });
  assert.deepEqual(long.toFloat32Array().subarray(0, 1001), a.toFloat32Array());
  for (const t of [a, b, c, long]) t.dispose();
});

test("randn and rand have the requested moments and range", () => {
  const n = 400_000;
  const x = vl.randn([n], { seed: 7, mean: 2, std: 3 }).toFloat32Array();
  let s = 0, s2 = 0;
  for (const v of x) { s += v; s2 += v * v; }
  const mean = s / n, std = Math.sqrt(s2 / n - mean * mean);
  // standard errors: 3/sqrt(n) = 0.0047 for the mean, ~0.0034 for the std; allow 5 of them
  assert.ok(Math.abs(mean - 2) < 0.025, `mean ${mean}`);
  assert.ok(Math.abs(std - 3) < 0.02, `std ${std}`);
  const u = vl.rand([n], { seed: 8, low: -1, high: 1 }).toFloat32Array();
  let lo = Infinity, hi = -Infinity, us = 0;
  for (const v of u) { lo = Math.min(lo, v); hi = Math.max(hi, v); us += v; }
  assert.ok(lo >= -1 && hi < 1 && lo < -0.999 && hi > 0.999, `range [${lo}, ${hi})`);
  assert.ok(Math.abs(us / n) < 0.01);
});

test("randn in bf16 is the float32 draw rounded once", () => {
  const f = vl.randn([777], { seed: 9 });
  const b = vl.randn([777], { seed: 9, dtype: "bfloat16" });
  const fb = f.to({ dtype: "bfloat16" });
  assert.deepEqual(b.toFloat32Array(), fb.toFloat32Array());
  for (const t of [f, b, fb]) t.dispose();
  assert.throws(() => vl.randn([2], { seed: -1 }), /seed must be a non-negative integer/);
});
