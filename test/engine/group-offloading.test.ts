// Group offloading on the simulated accelerator: every combination of
// quantization scheme, layerwise casting, offload mode and streams gives
// the output of the same model resident without offloading, bit for bit.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";
import { TEST_ACCELERATOR } from "../device-under-test.js";

// the simulated H100, or the GPU under VRAMLAB_TEST_DEVICE=cuda
const DEV = TEST_ACCELERATOR;
type Mode = "none" | "block1" | "block2" | "leaf";
const MODES: Mode[] = ["none", "block1", "block2", "leaf"];

async function build(scheme: vl.SchemeName | "none", casting: boolean, device: string): Promise<vl.models.FluxTransformer2DModel> {
  const model = await vl.models.flux("tiny", { seed: 8 });
  if (scheme !== "none") vl.quantize(model, { scheme, minElements: 0, ...(scheme === "int4wo" ? { groupSize: 32 } : {}) });
  if (casting) model.enableLayerwiseCasting({ storageDtype: "float8_e4m3fn", computeDtype: "float32" });
  await model.to(device);
  return model;
}

function offload(model: vl.Module, mode: Mode, useStream: boolean): void {
  if (mode === "none") return;
  model.enableGroupOffload({
    onloadDevice: DEV, offloadDevice: "cpu", useStream,
    ...(mode === "leaf" ? { offloadType: "leaf_level" as const } : { offloadType: "block_level" as const, numBlocksPerGroup: mode === "block1" ? 1 : 2 }),
  });
}

function weightsOn(model: vl.Module): Set<string> {
  return new Set([...model.namedTensors()].map(([, t]) => t.device.name));
}

test("matrix: {none + every scheme} x {no casting, fp8 storage} x {no offload, block 1, block 2, leaf} x {stream, no stream} is bit-identical", async () => {
  const schemes = ["none", ...vl.quant.SCHEME_NAMES] as const;
  let combos = 0;
  for (const scheme of schemes) {
    for (const casting of [false, true]) {
      const resident = await build(scheme, casting, DEV);
      const inputs = vl.models.fluxInputs(resident, { grid: [4, 4], textLength: 5, seed: 2, device: DEV });
      const refT = await resident.forward(inputs);
      const ref = refT.toFloat32Array();
      refT.dispose();
      resident.dispose();
      for (const mode of MODES) {
        for (const useStream of mode === "none" ? [false] : [false, true]) {
          const model = await build(scheme, casting, mode === "none" ? DEV : "cpu");
          offload(model, mode, useStream);
          const hostBaseline = vl.memory("cpu").allocated;
          const devBaseline = vl.memory(DEV).allocated;
          for (let run = 0; run < 2; run++) { // the second run uses the learned order (and prefetch)
            const out = await model.forward(inputs);
            assert.deepEqual(out.toFloat32Array(), ref, `${scheme} casting=${casting} ${mode} stream=${useStream} run ${run}`);
            out.dispose();
            if (mode !== "none") {
              assert.deepEqual([...weightsOn(model)], ["cpu"], `${scheme} ${mode}: every weight back on the host`);
              assert.equal(vl.memory(DEV).allocated, devBaseline, `${scheme} ${mode}: device memory back to the resident baseline`);
              assert.equal(vl.memory("cpu").allocated, hostBaseline, `${scheme} ${mode}: one host copy per weight`);
            }
          }
          combos++;
          model.dispose();
        }
      }
      vl.models.disposeInputs(inputs);
    }
  }
  assert.equal(combos, 10 * 2 * 7);
});

test("an interrupt mid-forward leaves every group offloaded and the next forward bit-exact", async () => {
  for (const mode of ["block1", "block2", "leaf"] as const) {
    for (const useStream of [false, true]) {
      const model = await build("int8wo", false, "cpu");
      offload(model, mode, useStream);
      const inputs = vl.models.fluxInputs(model, { grid: [3, 3], textLength: 4, seed: 5, device: DEV });
      const ref = await model.forward(inputs);
      const ac = new AbortController();
      model.singleTransformerBlocks.at(0).hooks.register("interrupt", { preForward: () => ac.abort(new Error("interrupted")) });
      await assert.rejects(model.forward(inputs, { signal: ac.signal }), /interrupted/);
      model.singleTransformerBlocks.at(0).hooks.remove("interrupt");
      assert.deepEqual([...weightsOn(model)], ["cpu"], `${mode} stream=${useStream}`);
      const again = await model.forward(inputs);
      assert.deepEqual(again.toFloat32Array(), ref.toFloat32Array());
      for (const t of [ref, again]) t.dispose();
      vl.models.disposeInputs(inputs);
      model.dispose();
    }
  }
});

test("streams overlap the copies with compute in modelled time; host weights are pinned once", async () => {
  const time = async (useStream: boolean) => {
    const dev = "sim:h100-sxm:meta";
    const model = await vl.models.flux("small", { device: "meta", dtype: "bfloat16" });
    model.enableGroupOffload({ onloadDevice: dev, offloadDevice: "meta", offloadType: "block_level", numBlocksPerGroup: 1, useStream, prefetchDepth: 2 });
    const inputs = vl.models.fluxInputs(model, { height: 1024, width: 1024, textLength: 512, device: dev, dtype: "bfloat16" });
    (await model.forward(inputs)).dispose(); // learn the order
    const d = vl.getDevice(dev);
    d.synchronize();
    const t0 = d.timeline.hostTimeMs();
    (await model.forward(inputs)).dispose();
    d.synchronize();
    const ms = d.timeline.hostTimeMs() - t0;
    const pinned = vl.hostMemory("meta").pinned;
    vl.models.disposeInputs(inputs);
    model.dispose();
    return { ms, pinned };
  };
  const sync = await time(false);
  const streamed = await time(true);
  assert.ok(streamed.ms < sync.ms * 0.9, `streamed ${streamed.ms.toFixed(2)} ms vs synchronous ${sync.ms.toFixed(2)} ms`);
  assert.ok(streamed.pinned > 0 && sync.pinned === 0);
});

test("keepResident and excludeModules keep chosen weights on the device; bad options fail at apply time", async () => {
  const model = await build("none", false, "cpu");
  const summary = model.enableGroupOffload({ onloadDevice: DEV, offloadType: "block_level", keepResident: "first_last", excludeModules: ["proj_out"] });
  const resident = summary.groups.filter((g) => g.resident).map((g) => g.name);
  assert.deepEqual(resident, ["transformer_blocks.0", "single_transformer_blocks.1"]);
  assert.equal(model.transformerBlocks.at(0).child("attn").child("to_q").tensor("weight").device.name, DEV);
  assert.equal(model.child("proj_out").tensor("weight").device.name, DEV);
  assert.equal(model.transformerBlocks.at(1).child("attn").child("to_q").tensor("weight").device.name, "cpu");
  const inputs = vl.models.fluxInputs(model, { grid: [2, 2], textLength: 3, seed: 1, device: DEV });
  (await model.forward(inputs)).dispose();
  assert.equal(model.transformerBlocks.at(0).child("attn").child("to_q").tensor("weight").device.name, DEV, "resident after a forward");
  vl.models.disposeInputs(inputs);
  assert.throws(() => model.enableGroupOffload({ onloadDevice: DEV }), /already applied/);
  model.dispose();

  const other = await build("none", false, "cpu");
  assert.throws(() => other.enableGroupOffload({ onloadDevice: "cpu" }), /both cpu; offloading needs two devices/);
  assert.throws(() => other.enableGroupOffload({ onloadDevice: DEV, offloadType: "leaf_level", numBlocksPerGroup: 2 }), /numBlocksPerGroup applies to block_level only/);
  assert.throws(() => other.enableGroupOffload({ onloadDevice: DEV, keepResident: ["nope"] }), /keepResident names "nope", which is not a group/);
  assert.ok([...other.namedModules()].every(([, m]) => !m.hasHooks), "a rejected apply leaves no hooks behind");
  other.dispose();
});

test("offloadToDiskPath: weights leave host memory for files that are reused only when their fingerprints match", async () => {
  const { mkdtempSync, rmSync, readdirSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "vramlab-disk-"));
  try {
    const resident = await build("int4wo", false, DEV);
    const inputs = vl.models.fluxInputs(resident, { grid: [3, 3], textLength: 4, seed: 6, device: DEV });
    const ref = await resident.forward(inputs);
    resident.dispose();

    const hostBefore = vl.memory("cpu").allocated;
    const model = await build("int4wo", false, "cpu");
    const bytes = model.numBytes();
    const first = model.enableGroupOffload({ onloadDevice: DEV, offloadType: "block_level", offloadToDiskPath: dir });
    assert.ok(first.diskFiles.length >= 4 && first.diskFiles.every((f) => !f.reused));
    assert.equal(vl.memory("cpu").allocated - hostBefore, 0, `the ${bytes} bytes of weights are on disk, not in host memory`);
    for (let run = 0; run < 2; run++) {
      const out = await model.forward(inputs);
      assert.deepEqual(out.toFloat32Array(), ref.toFloat32Array(), `disk offload run ${run}`);
      out.dispose();
    }
    vl.removeGroupOffloading(model);
    assert.deepEqual([...weightsOn(model)], ["cpu"], "removing it reads the weights back to the host");

    const same = await build("int4wo", false, "cpu");
    assert.ok(same.enableGroupOffload({ onloadDevice: DEV, offloadToDiskPath: dir }).diskFiles.every((f) => f.reused), "identical weights reuse the cache");
    const changed = await vl.models.flux("tiny", { seed: 9 });
    vl.quantize(changed, { scheme: "int4wo", minElements: 0, groupSize: 32 });
    const again = changed.enableGroupOffload({ onloadDevice: DEV, offloadToDiskPath: dir });
    assert.ok(again.diskFiles.every((f) => !f.reused), "other weights rewrite every file");
    const out = await changed.forward(inputs);
    out.dispose();
    assert.ok(readdirSync(dir).every((f) => f.endsWith(".safetensors")));
    for (const m of [model, same, changed]) m.dispose();
    ref.dispose();
    vl.models.disposeInputs(inputs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("model-level and sequential cpu offload give the resident output and leave weights on the host", async () => {
  const resident = await build("fp8wo", true, DEV);
  const inputs = vl.models.fluxInputs(resident, { grid: [3, 2], textLength: 4, seed: 7, device: DEV });
  const ref = await resident.forward(inputs);
  resident.dispose();
  for (const kind of ["model", "sequential"] as const) {
    const model = await build("fp8wo", true, "cpu");
    if (kind === "model") assert.equal(model.enableModelCpuOffload({ onloadDevice: DEV }).bytes, model.numBytes());
    else model.enableSequentialCpuOffload({ onloadDevice: DEV });
    vl.resetPeakMemory(DEV);
    const before = vl.memory(DEV).allocated;
    const out = await model.forward(inputs);
    assert.deepEqual(out.toFloat32Array(), ref.toFloat32Array(), kind);
    const peak = vl.memory(DEV).peak - before;
    out.dispose();
    assert.deepEqual([...weightsOn(model)], ["cpu"], kind);
    if (kind === "model") assert.ok(peak >= model.numBytes(), "model offload holds the whole model during forward");
    else assert.ok(peak < model.numBytes() / 2, `sequential offload holds one leaf at a time (peak ${peak} of ${model.numBytes()})`);
    assert.throws(() => model.enableGroupOffload({ onloadDevice: DEV }), /already/);
    model.dispose();
  }
  ref.dispose();
  vl.models.disposeInputs(inputs);
});

test("running out of device memory while onloading leaves every group whole on the host; removal brings resident groups back", async () => {
  const model = await build("int4wo", false, "cpu");
  model.enableGroupOffload({ onloadDevice: "sim:l4", offloadType: "block_level", keepResident: ["transformer_blocks.0"] });
  const dev = vl.getDevice("sim:l4") as InstanceType<typeof vl.SimDevice>;
  const inputs = vl.models.fluxInputs(model, { grid: [2, 2], textLength: 3, seed: 1, device: dev });
  const ref = await model.forward(inputs);
  const before = dev.memory.stats().allocated;
  dev.setMemoryLimit(before + 20_000); // room for a few leaves, not for a block
  try {
    await assert.rejects(model.forward(inputs), /out of memory/);
  } finally {
    dev.setMemoryLimit(null);
  }
  assert.equal(dev.memory.stats().allocated, before, "nothing half-onloaded stays on the device");
  const again = await model.forward(inputs);
  assert.deepEqual(again.toFloat32Array(), ref.toFloat32Array());
  vl.removeGroupOffloading(model);
  assert.deepEqual([...weightsOn(model)], ["cpu"], "resident groups return to the host on removal");
  for (const t of [ref, again]) t.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
});
