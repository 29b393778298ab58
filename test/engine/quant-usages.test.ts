// TransformerEngine #2929: a quantized weight reused across training and
// inference steps must never lose a usage or serve a stale view.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

const { QuantizedParameter, quantizedLinearForward, quantizedLinearBackward } = vl.quant;
const [M, N, K] = [6, 32, 64];

function fresh(values: vl.Tensor, scheme: vl.SchemeName, columnwise: boolean): vl.QTensor {
  if (!columnwise) return vl.quantizeTensor(values, scheme);
  const t = vl.ops.transpose(values, 0, 1);
  try {
    return vl.quantizeTensor(t, scheme);
  } finally {
    t.dispose();
  }
}

for (const created of ["with a master weight", "created quantized"] as const) {
  for (const sequence of [["train", "infer", "train", "infer"], ["infer", "train", "infer", "train"]] as const) {
    test(`${sequence.join(" -> ")}, ${created}: every step equals a freshly quantized reference`, () => {
      const scheme: vl.SchemeName = "fp8wo";
      const w0 = vl.randn([N, K], { seed: 1, std: 0.2 });
      const x = vl.randn([M, K], { seed: 2 });
      const dy = vl.randn([M, N], { seed: 3 });
      const p = created === "created quantized"
        ? QuantizedParameter.createQuantized(w0, { scheme })
        : QuantizedParameter.fromMaster(w0, { scheme });
      let trained = false;
      for (const [i, step] of sequence.entries()) {
        if (step === "train") p.addUsages("rowwise", "columnwise");
        else p.addUsages("rowwise"); // an inference step asks for less; usages are never dropped
        if (trained) assert.deepEqual(p.usages, ["columnwise", "rowwise"], `step ${i}: columnwise kept`);
        const current = p.values();
        const y = quantizedLinearForward(x, p);
        const qRef = fresh(current, scheme, false);
        const yRef = vl.ops.linear(x, qRef);
        assert.deepEqual(y.toFloat32Array(), yRef.toFloat32Array(), `step ${i} (${step}): forward`);
        if (step === "train") {
          const { dx, dW } = quantizedLinearBackward(dy, x, p);
          const cRef = fresh(current, scheme, true);
          const dxRef = vl.ops.linear(dy, cRef);
          assert.deepEqual(dx.toFloat32Array(), dxRef.toFloat32Array(), `step ${i}: dgrad reads a current columnwise view`);
          const stepTaken = vl.ops.mulScalar(dW, 0.05);
          const updated = vl.ops.sub(current, stepTaken);
          const before = p.version;
          p.update(updated);
          assert.equal(p.version, before + 1);
          trained = true;
          for (const t of [dx, dW, dxRef, stepTaken, updated]) t.dispose();
          cRef.dispose();
        }
        for (const t of [current, y, yRef]) t.dispose();
        qRef.dispose();
      }
      p.dispose();
      for (const t of [w0, x, dy]) t.dispose();
    });
  }
}

test("a recipe change re-quantizes from the master, or fails clearly without one", () => {
  const w = vl.randn([N, K], { seed: 4 });
  const withMaster = QuantizedParameter.fromMaster(w, { scheme: "fp8wo" }, ["rowwise", "columnwise"]);
  withMaster.setRecipe({ scheme: "int4wo", groupSize: 32 });
  const q = withMaster.view("columnwise");
  assert.equal(q.scheme.name, "int4wo");
  // the columnwise view of [N, K] = [32, 64] is [64, 32]: group size 32 fits its rows
  const wt = vl.ops.transpose(w, 0, 1);
  const ref = vl.quantizeTensor(wt, "int4wo", { groupSize: 32 });
  const [got, want] = [q.dequantize(), ref.dequantize()];
  assert.deepEqual(got.toFloat32Array(), want.toFloat32Array());
  for (const t of [wt, got, want]) t.dispose();
  ref.dispose();
  const createdQ = QuantizedParameter.createQuantized(w, { scheme: "fp8wo" });
  createdQ.setRecipe({ scheme: "fp8wo" }); // same layout: nothing to do
  assert.throws(() => createdQ.setRecipe({ scheme: "int8wo" }), /created quantized and has no high-precision master/);
  assert.throws(() => createdQ.view("columnwise"), /no columnwise usage; add it with addUsages/);
  assert.throws(() => createdQ.addUsages("sideways" as vl.quant.Usage), /unknown usage "sideways"/);
  withMaster.dispose();
  createdQ.dispose();
  w.dispose();
});
