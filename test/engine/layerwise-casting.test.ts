import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

/** The same model without hooks: the chosen Linear weights rounded through storageDtype once. */
async function roundedTwin(seed: number, layers: string[], storage: vl.DType, scheme?: vl.SchemeName): Promise<vl.models.FluxTransformer2DModel> {
  const twin = await vl.models.flux("tiny", { seed });
  if (scheme) vl.quantize(twin, { scheme, minElements: 0 });
  const set = new Set(layers);
  for (const [path, m] of twin.namedModules()) {
    if (!set.has(path)) continue;
    for (const [, w, slot, , local] of m.namedWeights("", false)) {
      if (slot !== "parameter" || vl.isTensorSubclass(w)) continue;
      const down = vl.cast(w, storage);
      const up = vl.cast(down, w.dtype);
      m.setTensor(local, up);
      w.dispose();
      down.dispose();
    }
  }
  return twin;
}

test("fp8 storage: weights rest in float8 and the output equals the unhooked model with fp8-rounded weights, bit for bit", async () => {
  const model = await vl.models.flux("tiny", { seed: 2 });
  const inputs = vl.models.fluxInputs(model, { grid: [4, 6], textLength: 5, seed: 3 });
  const bytesBefore = model.numBytes();
  const summary = model.enableLayerwiseCasting({ storageDtype: "float8_e4m3fn", computeDtype: "float32" });
  // diffusers' defaults plus Flux's own: norms (AdaLN linears included), pos_embed and the final proj_out stay
  assert.ok(summary.layers.includes("transformer_blocks.0.attn.to_q"));
  assert.ok(summary.layers.includes("single_transformer_blocks.1.proj_out"), "only ^proj_out$ is skipped");
  assert.ok(summary.skipped.some((s) => s.path === "proj_out"));
  assert.ok(summary.skipped.some((s) => s.path === "transformer_blocks.0.norm1"));
  assert.ok(!summary.layers.some((p) => /norm/.test(p)));
  const toQ = model.transformerBlocks.at(0).child("attn").child("to_q");
  assert.equal(toQ.tensor("weight").dtype, "float8_e4m3fn");
  let castElements = 0;
  for (const path of summary.layers) {
    const m = [...model.namedModules()].find(([p]) => p === path)![1];
    for (const [, t] of m.namedTensors("", false)) { assert.equal(t.dtype, "float8_e4m3fn", path); castElements += t.numel; }
  }
  assert.equal(bytesBefore - model.numBytes(), 3 * castElements, "4-byte weights now take 1 byte");

  // innermost probes sit inside the casting hooks: they see the layer while it runs
  let upcastSeen = 0;
  const leaves = [...model.namedModules()].filter(([, m]) => m.isLeaf && m.optionalWeight("weight")?.shape.length === 2).map(([, m]) => m);
  for (const m of leaves) {
    m.hooks.register("probe", {
      preForward: () => {
        const upcast = leaves.filter((l) => l.hooks.has(vl.LAYERWISE_CASTING_HOOK) && l.tensor("weight").dtype === "float32");
        upcastSeen = Math.max(upcastSeen, upcast.length);
      },
    }, { position: "innermost" });
  }
  const out = await model.forward(inputs);
  assert.equal(upcastSeen, 1, "exactly one leaf holds compute-dtype weights at a time");
  assert.equal(toQ.tensor("weight").dtype, "float8_e4m3fn", "back to storage after forward");

  const twin = await roundedTwin(2, summary.layers, "float8_e4m3fn");
  const ref = await twin.forward(inputs);
  assert.deepEqual(out.toFloat32Array(), ref.toFloat32Array());
  for (const t of [out, ref]) t.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
  twin.dispose();
});

test("casting composes with quantization through the flatten protocol", async () => {
  const model = await vl.models.flux("tiny", { seed: 4 });
  vl.quantize(model, { scheme: "int8wo", minElements: 0 });
  const summary = vl.applyLayerwiseCasting(model, { storageDtype: "float8_e4m3fn", computeDtype: "float32" });
  const toQ = model.transformerBlocks.at(0).child("attn").child("to_q");
  assert.ok(vl.isTensorSubclass(toQ.weight("weight")), "the quantized payload is left as it is");
  assert.equal(toQ.tensor("bias").dtype, "float8_e4m3fn", "plain float parameters of the layer are stored in fp8");
  const inputs = vl.models.fluxInputs(model, { grid: [2, 3], textLength: 4, seed: 1 });
  const out = await model.forward(inputs);
  const twin = await roundedTwin(4, summary.layers, "float8_e4m3fn", "int8wo");
  const ref = await twin.forward(inputs);
  assert.deepEqual(out.toFloat32Array(), ref.toFloat32Array());
  for (const t of [out, ref]) t.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
  twin.dispose();
});

test("an error inside a layer leaves its weights in storage dtype; overflow warns with the layer name; removal restores", async () => {
  const model = await vl.models.flux("tiny", { seed: 5 });
  const toK = model.transformerBlocks.at(1).child("attn").child("to_k");
  const big = vl.full([64, 64], 1000);
  toK.setTensor("weight", big)!.dispose();
  let failNext = true;
  toK.hooks.register("fails-inside", { preForward: () => { if (failNext) { failNext = false; throw new Error("boom"); } } });
  const warnings: string[] = [];
  model.enableLayerwiseCasting({ storageDtype: "float8_e4m3fn", onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /transformer_blocks\.1\.attn\.to_k\.weight has \|w\| up to 1000.*beyond float8_e4m3fn's largest value 448/);
  const inputs = vl.models.fluxInputs(model, { grid: [2, 2], textLength: 3, seed: 1 });
  await assert.rejects(model.forward(inputs), /boom/);
  assert.equal(toK.tensor("weight").dtype, "float8_e4m3fn", "restored by onError");
  const out = await model.forward(inputs);
  out.dispose();
  assert.throws(() => model.enableLayerwiseCasting({ storageDtype: "float8_e4m3fn" }), /already applied/);
  assert.ok(vl.removeLayerwiseCasting(model) > 10);
  assert.equal(toK.tensor("weight").dtype, "float32");
  assert.throws(() => model.enableLayerwiseCasting({ storageDtype: "int8" }), /stores weights in a float dtype; int8 is not one/);
  vl.models.disposeInputs(inputs);
  model.dispose();
});
