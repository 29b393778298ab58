import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";
import { roundTo } from "../../engine/scalar-round.js";

test("host-side roundTo agrees with the cast kernel for float32, float16 and bfloat16", () => {
  const r = new vl.Random(11);
  const values: number[] = [0, -0, 1, 65504, 65519.99, 65520, 1e-8, 5.960464477539063e-8, 2.980232238769531e-8, 3500, 3.5, 620.0000047683716, 1 / 3];
  for (let i = 0; i < 20000; i++) values.push((r.normal() * 10 ** Math.floor(r.uniform() * 12 - 6)));
  const x = vl.tensor(Float32Array.from(values));
  const f32 = x.toFloat32Array();
  for (const dtype of ["float32", "float16", "bfloat16"] as const) {
    const c = vl.cast(x, dtype);
    const kernel = c.toFloat32Array();
    for (let i = 0; i < values.length; i++) assert.equal(roundTo(dtype, f32[i]!), kernel[i], `${dtype}(${f32[i]})`);
    c.dispose();
  }
  x.dispose();
});
