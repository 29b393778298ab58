// `npm run demo`: the profiler and the VRAM-budget planner on simulated GPUs.
//
// 1. The `small` Flux transformer (100M parameters, real values computed by
//    the cpu kernels, time modelled) on sim:h100-sxm: resident in bf16, then
//    with int8 weight-only quantization, fp8 storage for the layers left in
//    bf16 (layerwise casting) and block-level offloading with prefetch on a
//    copy stream: the per-layer table and the summary.
// 2. FLUX.1-dev, dataless on sim:h100-sxm:meta (shapes, memory and modelled
//    time, no values), 1024x1024 with 512 text tokens: model memory,
//    inference memory and modelled step time for bf16, int8wo, fp8 storage,
//    and fp8 storage + offloading planned for a 12 GB budget; with the
//    arithmetic that checks the weights and the FLOPs.
import * as vl from "../engine/index.js";

const SMALL_DEVICE = "sim:h100-sxm";
const size = Number(process.env.VRAMLAB_DEMO_SIZE ?? 512);
const started = performance.now();
const GB = 1e9;
const gb = (b: number) => `${(b / GB).toFixed(2)} GB`;
const msText = (v: number) => `${v.toFixed(1)} ms`;
const section = (title: string) => console.log(`\n${"=".repeat(100)}\n${title}\n${"=".repeat(100)}`);

// ---- 1. small on sim:h100-sxm --------------------------------------------------------------

section(`1. small Flux on ${SMALL_DEVICE} (values computed on the cpu, time and memory modelled), ${size}x${size}, 64 text tokens`);
const small = await vl.models.flux("small", { seed: 0, dtype: "bfloat16" });
const smallInputs = vl.models.fluxInputs(small, { height: size, width: size, textLength: 64, seed: 1, device: SMALL_DEVICE });

await small.to(SMALL_DEVICE);
const resident = await vl.profile(small, smallInputs, { warmup: 1, steps: 1 });
await small.to("cpu");

const q = vl.quantize(small, { scheme: "int8wo" });
const cast = small.enableLayerwiseCasting({ storageDtype: "float8_e4m3fn", computeDtype: "bfloat16" });
const offload = small.enableGroupOffload({ onloadDevice: SMALL_DEVICE, offloadDevice: "cpu", offloadType: "block_level", numBlocksPerGroup: 1, useStream: true, prefetchDepth: 1 });
console.log(
  `int8wo on ${q.layers.length} Linear weights (${vl.formatBytes(q.bytesBefore)} -> ${vl.formatBytes(q.bytesAfter)}); fp8 (e4m3) storage for ${cast.layers.length} layers left in bf16 ` +
    `(${cast.skipped.length} skipped: norms, embeddings, proj_out); block-level offload, ${offload.groups.length} groups, prefetch on a copy stream\n`,
);
const report = await vl.profile(small, smallInputs, { warmup: 1, steps: 1 });
console.log(report.toString());
console.log(
  `\nvs resident bf16: model memory ${vl.formatBytes(resident.summary.modelMemory)} -> ${vl.formatBytes(report.summary.modelMemory)}, ` +
    `inference memory ${vl.formatBytes(resident.summary.inferenceMemory)} -> ${vl.formatBytes(report.summary.inferenceMemory)}, ` +
    `step ${msText(resident.summary.timeMs)} -> ${msText(report.summary.timeMs)} (modelled)`,
);
vl.removeGroupOffloading(small);
vl.models.disposeInputs(smallInputs);
small.dispose();

// ---- 2. flux-dev, dataless ----------------------------------------------------------------

const DEV = "sim:h100-sxm:meta";
const BUDGET = 12 * GB;
const TEXT = 512;
section(`2. FLUX.1-dev transformer, dataless on ${DEV}: 1024x1024 (4096 image tokens) + ${TEXT} text tokens, batch 1, bf16 compute`);

/** FLOPs of one step from the architecture alone: 2 x tokens x in x out per Linear, 4 x L^2 x headDim per head for attention. */
function fluxStepFlops(c: vl.models.FluxConfig, img: number, txt: number): { linear: number; attention: number } {
  const d = c.numAttentionHeads * c.attentionHeadDim;
  const joint = img + txt;
  const embed = 2 * img * c.inChannels * d + 2 * txt * c.jointAttentionDim * d + (c.guidanceEmbeds ? 2 : 1) * 2 * (256 * d + d * d) + 2 * (c.pooledProjectionDim * d + d * d);
  const double = 2 * joint * 12 * d * d + 2 * 2 * 6 * d * d; // qkv + out (4d^2) + MLP (8d^2) per token; two AdaLN d -> 6d on temb
  const single = 2 * joint * 12 * d * d + 2 * 3 * d * d; // qkv (3d^2) + proj_mlp (4d^2) + proj_out (5d^2); AdaLN d -> 3d
  const out = 2 * d * 2 * d + 2 * img * d * c.inChannels;
  const attention = (c.numLayers + c.numSingleLayers) * c.numAttentionHeads * 4 * joint * joint * c.attentionHeadDim;
  return { linear: embed + c.numLayers * double + c.numSingleLayers * single + out, attention };
}

async function devModel(setup: (m: vl.models.FluxTransformer2DModel) => void = () => {}) {
  const m = await vl.models.flux("flux-dev", { device: "meta", dtype: "bfloat16" });
  setup(m);
  return m;
}

const fluxInputs = (m: vl.models.FluxTransformer2DModel) => vl.models.fluxInputs(m, { height: 1024, width: 1024, textLength: TEXT, device: DEV, dtype: "bfloat16" });

interface Row {
  name: string;
  modelMemory: number;
  inferenceMemory: number;
  timeMs: number;
  h2dBytes: number;
  note: string;
}
const rows: Row[] = [];

async function profileResident(name: string, m: vl.models.FluxTransformer2DModel, note: string): Promise<vl.Report> {
  await m.to(DEV);
  const inputs = fluxInputs(m);
  const r = await vl.profile(m, inputs, { warmup: 1, steps: 1 });
  rows.push({ name, modelMemory: r.summary.modelMemory, inferenceMemory: r.summary.inferenceMemory, timeMs: r.summary.timeMs, h2dBytes: r.summary.h2dBytes, note });
  vl.models.disposeInputs(inputs);
  await m.to("meta");
  return r;
}

const bf16 = await devModel();
const params = bf16.numParameters();
const bf16Report = await profileResident("bf16", bf16, "resident");
const bf16Bytes = bf16.numBytes();
bf16.dispose();

const int8 = await devModel((m) => vl.quantize(m, { scheme: "int8wo" }));
await profileResident("int8wo", int8, "resident; GEMMs at the bf16 rate reading int8 weights");
int8.dispose();

const fp8 = await devModel((m) => m.enableLayerwiseCasting({ storageDtype: "float8_e4m3fn", computeDtype: "bfloat16" }));
await profileResident("fp8 storage", fp8, "resident; layerwise casting, AdaLN and norms stay bf16 (diffusers' skip patterns)");

const fp8Inputs = fluxInputs(fp8);
const planStart = performance.now();
const plan = await vl.planOffload(fp8, fp8Inputs, { device: DEV, budgetBytes: BUDGET });
const planSeconds = (performance.now() - planStart) / 1e3;
const best = plan.best;
if (best) {
  rows.push({ name: "fp8 storage + offload", modelMemory: best.modelMemory!, inferenceMemory: best.peakBytes!, timeMs: best.timeMs!, h2dBytes: best.h2dBytes!, note: `planned for ${gb(BUDGET)}: ${best.label}` });
}

console.log(
  vl.formatTable(
    ["setting", "model memory", "inference memory", "modelled step", "h2d/step", "how"],
    rows.map((r) => [r.name, gb(r.modelMemory), gb(r.inferenceMemory), msText(r.timeMs), gb(r.h2dBytes), r.note]),
  ),
);

section(`planner: fp8 storage + offload within ${gb(BUDGET)} (${vl.formatBytes(BUDGET)}) on ${DEV} (${plan.trials.length} settings run in ${planSeconds.toFixed(1)} s of wall time; the fastest fitting ones)`);
console.log(plan.table({ top: 8 }));
console.log(`\n${plan.toString().split("\n").pop()}`);

// ---- the arithmetic that checks the numbers ---------------------------------------------

section("arithmetic check");
const c = bf16.config;
const hand = fluxStepFlops(c, 4096, TEXT);
const spans = bf16Report.timeline;
const modelledLinear = spans.filter((s) => s.category === "gemm").reduce((a, s) => a + s.flops, 0);
const modelledAttention = spans.filter((s) => s.category === "attention").reduce((a, s) => a + s.flops, 0);
const profile = vl.getSimProfile("h100-sxm");
const sustained = profile.matmulPeak.bf16.value * profile.matmulEfficiency.value;
const T = 1e12;
const ok = (good: boolean) => (good ? "ok" : "MISMATCH");
console.log(`weights: ${params.toLocaleString("en-US")} parameters x 2 bytes (bf16) = ${gb(2 * params)}; model.numBytes() = ${bf16Bytes.toLocaleString("en-US")} bytes, bf16 model memory ${gb(rows[0]!.modelMemory)}  [${ok(bf16Bytes === 2 * params && rows[0]!.modelMemory === 2 * params)}]`);
console.log(
  `FLOPs per step from the architecture: linear layers ${(hand.linear / T).toFixed(1)} + attention ${(hand.attention / T).toFixed(1)} = ${((hand.linear + hand.attention) / T).toFixed(1)} TFLOP; ` +
    `the modelled GEMM and attention kernels: ${(modelledLinear / T).toFixed(1)} + ${(modelledAttention / T).toFixed(1)} = ${((modelledLinear + modelledAttention) / T).toFixed(1)} TFLOP  ` +
    `[${ok(modelledLinear === hand.linear && modelledAttention === hand.attention)}]`,
);
const byCategory = (cats: string[]) => spans.filter((s) => s.resource === "compute" && cats.includes(s.category)).reduce((a, s) => a + (s.endMs - s.startMs), 0);
const kernels = spans.filter((s) => s.resource === "compute").length;
const gemmMs = byCategory(["gemm"]);
const attentionMs = byCategory(["attention"]);
const otherMs = byCategory(["elementwise", "norm", "layout", "cast", "quant", "copy", "fill"]);
console.log(
  `time floor: ${((hand.linear + hand.attention) / T).toFixed(1)} TFLOP at the H100's measured ${(sustained / T).toFixed(0)} TFLOP/s bf16 = ${msText(((hand.linear + hand.attention) / sustained) * 1e3)}; ` +
    `modelled bf16 step ${msText(rows[0]!.timeMs)} = GEMMs ${msText(gemmMs)} (${((modelledLinear / (gemmMs / 1e3)) / T).toFixed(0)} TFLOP/s) + attention ${msText(attentionMs)} ` +
    `(${((modelledAttention / (attentionMs / 1e3)) / T).toFixed(0)} TFLOP/s: head dim 128 fills half a 128-wide tile in the cost model) + other kernels ${msText(otherMs)}; ${kernels} kernels, ${msText(kernels * profile.launchOverhead.value * 1e3)} of it launch cost`,
);
if (best) {
  const link = profile.hostLinkPinned.value;
  console.log(
    `offload: ${gb(best.h2dBytes!)} per step over the ${(link / GB).toFixed(0)} GB/s pinned host link = ${msText((best.h2dBytes! / link) * 1e3)} of copies, ` +
      `prefetched on the copy stream under ${msText(best.timeMs!)} of step; peak ${(best.peakReserved! / GB).toFixed(3)} GB reserved <= budget ${gb(BUDGET)}  [${ok(best.peakReserved! <= BUDGET)}]`,
  );
}
vl.models.disposeInputs(fp8Inputs);
fp8.dispose();
console.log(`\ndemo finished in ${((performance.now() - started) / 1e3).toFixed(1)} s of wall time (cpu: ${vl.cpuInfo().level}, ${vl.getNumThreads()} threads)`);
