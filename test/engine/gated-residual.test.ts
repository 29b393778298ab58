// The cpu backend's fused gated residual (one pass, no product tensor) against
// the two separate ops every other backend runs (sim:h100-sxm computes its data
// with the cpu's binary mul and add): bit for bit for every float dtype mix,
// with batch > 1 so the gate's offset and stride matter.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

const FLOATS = ["float32", "float16", "bfloat16"] as const;

function values(n: number, seed: number): Float32Array {
  const r = new vl.Random(seed);
  return Float32Array.from({ length: n }, () => r.normal() * 3);
}

test("fused gatedResidual equals mul-then-add bit for bit, every dtype mix", () => {
  const [B, L, D, chunks, gateChunk] = [2, 5, 1100, 6, 2];  // D crosses the kernel's 1024-float staging block
  const xv = values(B * L * D, 1), yv = values(B * L * D, 2), mv = values(B * chunks * D, 3);
  let compared = 0;
  for (const xd of FLOATS)
    for (const yd of FLOATS)
      for (const md of FLOATS) {
        const make = (device: string) => ({
          x: vl.tensor(xv, { shape: [B, L, D], dtype: xd, device }),
          y: vl.tensor(yv, { shape: [B, L, D], dtype: yd, device }),
          mod: vl.tensor(mv, { shape: [B, chunks * D], dtype: md, device }),
        });
        const cpu = make("cpu"), sim = make("sim:h100-sxm");
        const fused = vl.ops.gatedResidual(cpu.x, cpu.y, cpu.mod, chunks, gateChunk);
        const separate = vl.ops.gatedResidual(sim.x, sim.y, sim.mod, chunks, gateChunk);
        assert.equal(fused.dtype, separate.dtype);
        assert.deepEqual(vl.ops.readBytes(fused), vl.ops.readBytes(separate), `x ${xd}, y ${yd}, mod ${md}`);
        compared++;
        for (const t of [fused, separate, ...Object.values(cpu), ...Object.values(sim)]) t.dispose();
      }
  assert.equal(compared, 27);
});

test("fused gatedResidual checks its operands", () => {
  const x = vl.ops.zeros([1, 2, 4]), y = vl.ops.zeros([1, 3, 4]), mod = vl.ops.zeros([1, 12]);
  assert.throws(() => vl.ops.gatedResidual(x, y, mod, 3, 2), /must be the same \[batch, tokens, dim\]/);
  assert.throws(() => vl.ops.gatedResidual(x, x, vl.ops.zeros([1, 8]), 3, 2), /modulation \[1, 8\] must be \[1, 12\]/);
  for (const t of [x, y, mod]) t.dispose();
});
