import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as vl from "../../engine/index.js";
import { openSafetensors } from "../../engine/io/safetensors.js";
import { scaleTimestep } from "../../engine/models/flux/embeddings.js";
import { torchExpF32 } from "../../engine/torch-math.js";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const fixture = join(repoRoot, "..", "shared", "fixtures", "flux-diffusers-a");

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

test("flux-dev on meta has exactly 11,901,408,320 parameters and builds instantly", async () => {
  const t0 = performance.now();
  const model = await vl.models.flux("flux-dev", { device: "meta", dtype: "bfloat16" });
  assert.equal(model.numParameters(), 11_901_408_320);
  assert.equal(vl.memory("meta").allocated, 11_901_408_320 * 2, "bf16 bytes tracked on meta");
  const inputs = vl.models.fluxInputs(model, { height: 1024, width: 1024, textLength: 512 });
  assert.equal(inputs.hiddenStates.shape[1], 4096);
  const out = await model.forward(inputs);
  assert.deepEqual(out.shape, [1, 4096, 64]);
  assert.ok(vl.memory("meta").peak > 11_901_408_320 * 2, "activations counted on top of weights");
  out.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
  assert.equal(vl.memory("meta").allocated, 0);
  assert.ok(performance.now() - t0 < 20_000);
});

test("parameter names follow diffusers' FluxTransformer2DModel", async () => {
  const model = await vl.models.flux("tiny", { device: "meta" });
  const names = new Set([...model.namedParameters()].map(([n]) => n));
  const file = openSafetensors(join(fixture, "transformer", "diffusion_pytorch_model.safetensors"));
  const fileNames = new Set(file.tensors.map((t) => t.name));
  file.close();
  assert.deepEqual([...names].filter((n) => !fileNames.has(n)), [], "no name the checkpoint lacks");
  assert.deepEqual([...fileNames].filter((n) => !names.has(n)), [], "no checkpoint tensor without a parameter");
  assert.equal(model.numParameters(), 482_768);
  model.dispose();
});

async function fixtureInputs(device = "cpu") {
  const io = openSafetensors(join(fixture, "io.safetensors"));
  const get = (name: string) => {
    const info = io.tensors.find((t) => t.name === name)!;
    const bytes = io.read(name);
    return { shape: [...info.shape], values: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), dtype: info.dtype };
  };
  const t = (name: string) => {
    const g = get(name);
    return vl.tensor(g.values, { shape: g.shape, device });
  };
  const inputs: vl.models.FluxInputs = {
    hiddenStates: t("hidden_states"),
    encoderHiddenStates: t("encoder_hidden_states"),
    pooledProjections: t("pooled_projections"),
    timestep: t("timestep"),
    guidance: t("guidance"),
    imgIds: t("img_ids"),
    txtIds: t("txt_ids"),
  };
  const f64info = io.tensors.find((x) => x.name === "output_float64")!;
  const f64bytes = io.read("output_float64");
  const expected = new Float64Array(f64bytes.buffer.slice(f64bytes.byteOffset, f64bytes.byteOffset + f64bytes.byteLength));
  io.close();
  assert.equal(f64info.dtype, "F64");
  return { inputs, expected };
}

test("loadModel on diffusers' checkpoint reproduces diffusers' float64 output within 1e-5 relative L2", async () => {
  const model = await vl.loadModel(join(fixture, "transformer"));
  assert.equal(model.numParameters(), 482_768);
  const { inputs, expected } = await fixtureInputs();
  const out = await model.forward(inputs);
  assert.deepEqual(out.shape, [1, 24, 16]);
  const err = relL2(out.toFloat32Array(), expected);
  // float32 through 4 blocks: rounding gives ~1e-7..1e-6; a wrong layout or order gives > 1e-2
  assert.ok(err < 1e-5, `relative L2 error ${err}`);
  out.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
});

test("saveModel then loadModel round-trips bit for bit (sharded too)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-save-"));
  try {
    const model = await vl.models.flux("tiny", { seed: 11 });
    await vl.saveModel(model, dir, { maxShardBytes: 400_000 });
    assert.ok(readdirSync(dir).some((f) => f.endsWith(".index.json")), "sharded with an index");
    const loaded = await vl.loadModel(dir);
    const a = new Map([...model.namedTensors()].map(([n, t]) => [n, t.toFloat32Array()]));
    for (const [n, t] of loaded.namedTensors()) assert.deepEqual(t.toFloat32Array(), a.get(n), n);
    const inputs = vl.models.fluxInputs(model, { grid: [4, 4], textLength: 5, seed: 2 });
    const y1 = await model.forward(inputs);
    const y2 = await loaded.forward(inputs);
    assert.deepEqual(y1.toFloat32Array(), y2.toFloat32Array());
    for (const t of [y1, y2]) t.dispose();
    vl.models.disposeInputs(inputs);
    model.dispose();
    loaded.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("loadModel errors say what is wrong and leave no memory behind", async () => {
  const base = vl.memory("cpu").allocated;
  await assert.rejects(vl.loadModel("/nonexistent/folder"), /does not exist/);
  await assert.rejects(vl.loadModel(fixture + "/io.safetensors"), /is a file; pass the model folder/);
  assert.equal(vl.memory("cpu").allocated, base);
});

test("tiny forward: deterministic for a seed; float16/bfloat16 close to float32", async () => {
  const model = await vl.models.flux("tiny", { seed: 4 });
  // guidance 4: 4000 is exact in bf16, so all dtypes embed the same timesteps (see the next test)
  const opts = { grid: [6, 4] as [number, number], textLength: 7, seed: 9, guidance: 4 };
  const inputs = vl.models.fluxInputs(model, opts);
  const a = await model.forward(inputs);
  const b = await model.forward(inputs);
  assert.deepEqual(a.toFloat32Array(), b.toFloat32Array());
  // per-op rounding is 2^-11 (f16) or 2^-8 (bf16) relative; through 4 blocks the output error
  // measured 1.2e-3 and 9e-3; the bounds leave 4x headroom and still catch a broken dtype path
  for (const [dtype, bound] of [["float16", 5e-3], ["bfloat16", 4e-2]] as const) {
    const m = await vl.models.flux("tiny", { seed: 4, dtype });
    const inp = vl.models.fluxInputs(m, opts);
    const c = await m.forward(inp);
    assert.equal(c.dtype, dtype);
    const err = relL2(c.toFloat32Array(), a.toFloat32Array());
    assert.ok(err < bound && err > 1e-5, `${dtype} vs float32 relative L2 ${err}`);
    c.dispose();
    vl.models.disposeInputs(inp);
    m.dispose();
  }
  for (const t of [a, b]) t.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
});

test("timesteps are scaled in the model dtype, as diffusers does (bf16 turns guidance 3.5 into 3504)", async () => {
  const bf = await vl.models.flux("tiny", { seed: 4, dtype: "bfloat16" });
  const run = async (guidance: number) => {
    const inp = vl.models.fluxInputs(bf, { grid: [2, 2], textLength: 3, seed: 1, guidance });
    const out = await bf.forward(inp);
    const v = out.toFloat32Array();
    out.dispose();
    vl.models.disposeInputs(inp);
    return v;
  };
  // bf16(3.5) * 1000 = 3500 -> bf16 3504 (spacing 16 in [2048, 4096)); float32 keeps 3500
  assert.deepEqual([...scaleTimestep(Float32Array.of(3.5, 0.62), "bfloat16")], [3504, 620]);
  assert.deepEqual([...scaleTimestep(Float32Array.of(3.5, 0.62), "float32")], [3500, 620]);
  const a = await run(3.5);
  assert.deepEqual(a, await run(3.5));
  assert.notDeepEqual(a, await run(4));
  bf.dispose();
});

test("torchExpF32 follows PyTorch's float32 exp: within 1 ulp of exact, and not always the correctly rounded value", () => {
  let differ = 0;
  for (let i = 0; i < 128; i++) {
    const x = Math.fround(Math.fround(Math.fround(-Math.log(10000)) * i) / 128);
    const got = torchExpF32(x);
    const exact = Math.exp(x);
    const ulp = 2 ** (Math.floor(Math.log2(exact)) - 23);
    assert.ok(Math.abs(got - exact) <= ulp, `exp(${x}) = ${got}, exact ${exact}`);
    if (got !== Math.fround(exact)) differ++;
  }
  // 15 of Flux's 128 timestep frequencies differ from the correctly rounded exp; using the
  // correctly rounded one moves the fixture output 1.3e-5 away from diffusers' (the test above)
  assert.equal(differ, 15);
  assert.equal(torchExpF32(0), 1);
  assert.equal(torchExpF32(-200), 0);
});
