// Full-size planning on dataless simulated devices: FLUX.1-dev (12B) "runs" a
// 1024x1024 step with 512 text tokens in a fraction of a second of wall time,
// and the modelled FLOPs, bytes, time and memory are checked against
// arithmetic done here independently of the engine.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

const PARAMS = 11_901_408_320;
const D = 3072; // 24 heads x 128
const IMG = 4096; // (1024 / 16)^2 image tokens
const TXT = 512;
const JOINT = IMG + TXT;

/** Linear-layer FLOPs of one step, from the architecture: 2 x tokens x in x out for every Linear. */
function linearFlops(): number {
  const embedders = 2 * IMG * 64 * D + 2 * TXT * 4096 * D + 2 * 2 * (256 * D + D * D) + 2 * (768 * D + D * D);
  // double block: q, k, v, out (4 d^2) + feed-forward (8 d^2) per stream, and two AdaLN linears d -> 6d on temb
  const double = 2 * (IMG + TXT) * 12 * D * D + 2 * 2 * 6 * D * D;
  // single block: q, k, v (3 d^2) + proj_mlp (4 d^2) + proj_out (5 d^2), and AdaLN d -> 3d
  const single = 2 * JOINT * 12 * D * D + 2 * 3 * D * D;
  const out = 2 * D * 2 * D + 2 * IMG * D * 64;
  return embedders + 19 * double + 38 * single + out;
}
/** Attention FLOPs: QK^T and PV, 2 x L^2 x 128 each, for 24 heads in 57 blocks. */
const ATTENTION_FLOPS = 57 * 24 * 4 * JOINT * JOINT * 128;

async function step(device: vl.Device, model: vl.models.FluxTransformer2DModel, batch = 1) {
  const inputs = vl.models.fluxInputs(model, { height: 1024, width: 1024, textLength: TXT, batch, device: device.name });
  const base = vl.memory(device).allocated;
  vl.resetPeakMemory(device);
  device.synchronize();
  const start = new vl.Event("step start").record(device);
  try {
    const { result, spans } = await vl.traceSpans(device, () => model.forward(inputs));
    const end = new vl.Event("step end").record(device);
    end.synchronize();
    result.dispose();
    return { ms: start.elapsedMs(end), spans, activationPeak: vl.memory(device).peak - base };
  } finally {
    vl.models.disposeInputs(inputs);
  }
}

test("flux-dev on sim:h100-sxm:meta: 74.4 TFLOP per step, 23.8 GB of bf16 weights, a modelled step time in the arithmetic's band", async () => {
  const dev = vl.getDevice("sim:h100-sxm:meta") as vl.SimDevice;
  const model = await vl.models.flux("flux-dev", { device: dev, dtype: "bfloat16" });
  assert.equal(model.numParameters(), PARAMS);
  assert.equal(model.numBytes(), 2 * PARAMS, "23.80 GB in bf16");
  assert.equal(vl.memory(dev).allocated, 2 * PARAMS);

  const { ms, spans, activationPeak } = await step(dev, model);
  const sum = (cat: string, key: "flops" | "bytes") => spans.filter((s) => s.category === cat).reduce((a, s) => a + s[key], 0);
  const gemm = sum("gemm", "flops");
  const attention = sum("attention", "flops");
  // exact integers far below 2^53 summed in float64: equal to 1e-12 relative
  assert.ok(Math.abs(gemm / linearFlops() - 1) < 1e-12, `linear FLOPs ${gemm} vs ${linearFlops()}`);
  assert.ok(Math.abs(attention / ATTENTION_FLOPS - 1) < 1e-12, `attention FLOPs ${attention} vs ${ATTENTION_FLOPS}`);
  assert.ok(Math.abs(gemm / 1e12 - 59.5) < 0.05 && Math.abs(attention / 1e12 - 14.9) < 0.05, "59.5 + 14.9 TFLOP");
  assert.ok(Math.abs((gemm + attention) / 1e12 - 74.4) < 0.05, `${(gemm + attention) / 1e12} TFLOP per step`);
  // every weight is read at least once per step
  assert.ok(sum("gemm", "bytes") > 2 * PARAMS);

  // The band: at least 74.4 TFLOP at the measured 798 TFLOP/s (93 ms); at most linears at 60% of
  // the 989 TFLOP/s peak (100 ms) + attention at 35% (43 ms) + ~75 GB of activation traffic at
  // 3.0 TB/s (25 ms) + ~2,000 kernel launches at 4 us (8 ms) = 176 ms.
  const floor = ((gemm + attention) / (989e12 * (798 / 989))) * 1e3;
  assert.ok(Math.abs(floor - 93.2) < 0.1);
  assert.ok(ms > floor && ms < 176, `modelled step ${ms.toFixed(1)} ms, expected between ${floor.toFixed(1)} and 176 ms`);
  const busy = spans.reduce((a, s) => a + (s.endMs - s.startMs), 0);
  assert.ok(Math.abs(busy - ms) < 1e-6 * ms, "one stream, no host syncs in dataless mode: the step is the sum of its kernels");
  // activations are small next to the weights: 0.32 GB at batch 1 in this engine (fused rope, tiled attention)
  assert.ok(activationPeak > 0.2e9 && activationPeak < 0.5e9, `activation peak ${activationPeak}`);
  assert.equal(vl.memory(dev).allocated, 2 * PARAMS, "the step freed everything it made");
  model.dispose();
});

test("flux-dev bf16 on sim:rtx4090:meta fits at batch 1 with ~1.1 GB to spare; an over-large batch is a clear OOM that leaves the model usable", async () => {
  const dev = vl.getDevice("sim:rtx4090:meta") as vl.SimDevice;
  // 24564 MiB less a 512 MiB context = 25.22 GB for tensors; the weights take 23.80 GB
  assert.equal(dev.capacityBytes, (24564 - 512) * 1024 * 1024);
  const model = await vl.models.flux("flux-dev", { device: dev, dtype: "bfloat16" });
  const headroom = dev.freeBytes;
  assert.ok(headroom > 1.3e9 && headroom < 1.5e9, `headroom after the weights: ${headroom}`);

  const one = await step(dev, model, 1);
  assert.ok(one.activationPeak < headroom);
  const ms1 = one.ms;

  const baseline = vl.memory(dev);
  const err = await step(dev, model, 5).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof vl.OutOfMemoryError, `batch 5 needs ~1.6 GB of activations: expected an OOM, got ${String(err)}`);
  assert.match(err.message, /^sim:rtx4090:meta out of memory\. Tried to allocate .* for .* in module [a-z_]+\.\d+\./);
  assert.ok(err.freeBytes < err.requestedBytes);
  assert.deepEqual({ ...vl.memory(dev), peak: 0, peakReserved: 0 }, { ...baseline, peak: 0, peakReserved: 0 }, "the failed step left nothing allocated");
  const again = await step(dev, model, 1);
  assert.ok(Math.abs(again.ms - ms1) < 1e-9 * ms1, "the next step is modelled exactly as before");
  model.dispose();
});

test("flux-dev bf16 does not fit an L4 (22.49 GiB): loading the weights fails with a clear OOM", async () => {
  const dev = vl.getDevice("sim:l4:meta") as vl.SimDevice;
  assert.ok(dev.capacityBytes < 2 * PARAMS);
  await assert.rejects(vl.models.flux("flux-dev", { device: dev, dtype: "bfloat16" }), (e: unknown) => {
    assert.ok(e instanceof vl.OutOfMemoryError);
    assert.match(e.message, /^sim:l4:meta out of memory\. Tried to allocate [\d.]+ MiB \(\d+ bytes\) for [\w.]+\.weight\. sim:l4:meta has a total capacity of 21\.99 GiB/);
    return true;
  });
});
