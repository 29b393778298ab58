// Quantized weights through the flatten protocol: every scheme moves whole,
// computes through its payload, saves and reloads exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as vl from "../../engine/index.js";

const SCHEMES = vl.quant.SCHEME_NAMES;

function configFor(scheme: vl.SchemeName): vl.quant.SchemeConfig {
  return scheme === "int4wo" ? { groupSize: 32 } : {};
}

test("every scheme's QTensor moves whole: no inner tensor stays behind (diffusers #12610 / #13281)", async () => {
  for (const scheme of SCHEMES) {
    const model = await vl.models.flux("tiny", { seed: 1 });
    vl.quantize(model, { scheme, minElements: 0, ...configFor(scheme) });
    const cpuBefore = vl.memory("cpu").allocated;
    const metaBefore = vl.memory("meta").allocated;
    const payload = model.numBytes();
    await model.to("meta");
    for (const [name, t] of model.namedTensors()) assert.equal(t.device.name, "meta", `${scheme}: ${name} stayed on ${t.device.name}`);
    let quantized = 0;
    for (const [name, w] of model.namedWeights()) {
      if (!vl.isTensorSubclass(w)) continue;
      quantized++;
      for (const [inner, t] of vl.flattenWeight(w)) assert.equal(t.device.name, "meta", `${scheme}: ${name}.${inner}`);
    }
    assert.ok(quantized > 0, `${scheme}: some weights are quantized`);
    assert.equal(vl.memory("meta").allocated - metaBefore, payload, `${scheme}: meta holds the whole payload`);
    assert.equal(cpuBefore - vl.memory("cpu").allocated, payload, `${scheme}: cpu released all of it`);
    model.dispose();
  }
});

test("a QTensor refuses inner tensors on two devices", () => {
  const w = vl.randn([64, 64], { seed: 2 });
  const q = vl.quantizeTensor(w, "int8wo");
  const parts = new Map(q.innerTensors());
  const movedScale = parts.get("scale")!.to("meta");
  assert.throws(() => q.rebuild(new Map([...parts, ["scale", movedScale]])), /different devices \(cpu, meta\); move the whole QTensor/);
  for (const t of [w, movedScale]) t.dispose();
  q.dispose();
});

test("weight-only schemes compute exactly what their dequantized weight computes", () => {
  const x = vl.randn([5, 128], { seed: 3 });
  const w = vl.randn([96, 128], { seed: 4, std: 0.1 });
  const b = vl.randn([96], { seed: 5, std: 0.05 });
  for (const scheme of ["int8wo", "fp8wo", "int4wo", "fp6_e3m2", "fp5_e2m2", "fp4_e2m1"] as const) {
    const q = vl.quantizeTensor(w, scheme, configFor(scheme));
    const dense = q.dequantize();
    const viaPayload = vl.ops.linear(x, q, b);
    const viaDense = vl.ops.linear(x, dense, b);
    assert.deepEqual(viaPayload.toFloat32Array(), viaDense.toFloat32Array(), scheme);
    for (const t of [dense, viaPayload, viaDense]) t.dispose();
    q.dispose();
  }
  for (const t of [x, w, b]) t.dispose();
});

test("dynamic schemes stay close to the float32 result", () => {
  const x = vl.randn([16, 256], { seed: 6 });
  const w = vl.randn([128, 256], { seed: 7, std: 1 / 16 });
  const ref = vl.ops.linear(x, w);
  // int8 x int8 with per-token/per-row scales: ~35-40 dB; fp8 e4m3 both sides: ~25-30 dB
  for (const [scheme, minDb] of [["int8dq", 33], ["fp8dq", 22], ["fp8dqrow", 24]] as const) {
    const q = vl.quantizeTensor(w, scheme);
    const y = vl.ops.linear(x, q);
    const db = vl.sqnrDb(ref, y);
    assert.ok(db > minDb && db < 60, `${scheme}: ${db.toFixed(1)} dB`);
    y.dispose();
    q.dispose();
  }
  for (const t of [x, w, ref]) t.dispose();
});

test("quantize(model) reports layers and bytes; the size rule skips small layers; plans apply", async () => {
  const model = await vl.models.flux("small", { device: "meta" });
  const before = model.numBytes();
  const summary = vl.quantize(model, "int8wo");
  assert.equal(summary.bytesBefore, before);
  assert.equal(summary.bytesAfter, model.numBytes());
  assert.ok(summary.layers.length > 50);
  // x_embedder is 768 x 64 = 49,152 elements: under the 65,536 rule
  assert.ok(summary.skipped.some((s) => s.path === "x_embedder" && /smaller than 65536/.test(s.reason)));
  for (const l of summary.layers) assert.ok(l.bytesAfter < l.bytesBefore / 3.9 && l.bytesAfter > l.bytesBefore / 4.1, `${l.path}: int8 + per-row scale is ~1/4 of fp32`);
  assert.match(String(summary), /quantized \d+ Linear layers/);
  assert.ok(vl.quantize(model, "int8wo").skipped.every((s) => /already quantized|smaller/.test(s.reason)));
  model.dispose();

  const planned = await vl.models.flux("tiny", { device: "meta" });
  const plan = { layers: { "proj_out": { scheme: "int4wo" as const, groupSize: 32 }, "context_embedder": { scheme: "fp8wo" as const } } };
  const s2 = vl.quantize(planned, plan);
  assert.deepEqual(s2.layers.map((l) => [l.path, l.scheme]), [["context_embedder", "fp8wo"], ["proj_out", "int4wo"]]);
  assert.throws(() => vl.quantize(planned, { layers: { "nope.layer": { scheme: "int8wo" } } }), /names nope\.layer, which is not a Linear layer/);
  assert.throws(() => vl.quantize(planned, { scheme: "int9" as vl.SchemeName, minElements: 0 }), /unknown quantization scheme "int9"/);
  planned.dispose();
});

test("flux-dev on meta: model memory per scheme", async () => {
  const rows: [string, number][] = [];
  for (const scheme of ["none", "int8wo", "fp8wo", "int4wo", "fp6_e3m2", "fp4_e2m1"] as const) {
    const model = await vl.models.flux("flux-dev", { device: "meta", dtype: "bfloat16" });
    if (scheme !== "none") vl.quantize(model, scheme);
    rows.push([scheme, model.numBytes()]);
    model.dispose();
  }
  const bytes = new Map(rows);
  assert.equal(bytes.get("none"), 11_901_408_320 * 2);
  // int8/fp8: one byte per weight plus a float32 scale per row: ~half of bf16
  assert.ok(bytes.get("int8wo")! / bytes.get("none")! > 0.5 && bytes.get("int8wo")! / bytes.get("none")! < 0.52);
  assert.equal(bytes.get("int8wo"), bytes.get("fp8wo"));
  assert.ok(bytes.get("int4wo")! < bytes.get("fp6_e3m2")! && bytes.get("fp4_e2m1")! < bytes.get("fp6_e3m2")!);
});

test("quantized models save and reload bit for bit; a mismatched model is a clear error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-quant-"));
  try {
    for (const scheme of ["int8dq", "int4wo", "fp5_e2m2"] as const) {
      const model = await vl.models.flux("tiny", { seed: 3 });
      vl.quantize(model, { scheme, minElements: 0, ...configFor(scheme) });
      await vl.saveModel(model, join(dir, scheme));
      const loaded = await vl.loadModel(join(dir, scheme));
      for (const [name, w] of model.namedWeights()) {
        const other = [...loaded.namedWeights()].find(([n]) => n === name)![1];
        assert.equal(vl.isTensorSubclass(other), vl.isTensorSubclass(w), name);
      }
      const inputs = vl.models.fluxInputs(model, { grid: [3, 4], textLength: 5, seed: 1 });
      const a = await model.forward(inputs);
      const b = await loaded.forward(inputs);
      assert.deepEqual(a.toFloat32Array(), b.toFloat32Array(), scheme);
      for (const t of [a, b]) t.dispose();
      vl.models.disposeInputs(inputs);
      model.dispose();
      loaded.dispose();
    }
    // the same checkpoint with a config for a model with fewer blocks
    const cfgPath = join(dir, "int8dq", "config.json");
    const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, num_single_layers: 1 }));
    const before = vl.memory("cpu").allocated;
    await assert.rejects(vl.loadModel(join(dir, "int8dq")), /quantized weight single_transformer_blocks\.1\.[a-z_.]+weight, which this model does not have/);
    assert.equal(vl.memory("cpu").allocated, before, "nothing left allocated");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
