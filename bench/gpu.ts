// GPU benchmark: a FLUX.1-dev-size transformer (seeded random weights, bf16),
// one 1024x1024 image (4096 tokens) with 512 text tokens, on cuda:0 in vramlab
// and in PyTorch (bench/gpu_torch.py writes the same model in torch and loads
// the same safetensors weights and inputs), all in one run:
//   bf16 resident, fp8dqrow, int8wo, bf16 + fp8 layerwise casting (storage fp8,
//   compute bf16), group offload block_level N=1 with streams, leaf_level with streams;
// plus the achieved pinned / pageable H2D bandwidth.
// Run (needs an NVIDIA GPU): `node dist/bench/gpu.js` after `npm run build`.
// Env: VRAMLAB_BENCH_PRESET (flux-dev), VRAMLAB_BENCH_SIZE (1024 pixels), VRAMLAB_BENCH_TEXT (512),
// VRAMLAB_BENCH_RUNS (3 timed forwards after 1 warm-up), VRAMLAB_BENCH_DIR (weights cache,
// default $TMPDIR/vramlab-gpu-<preset>), VRAMLAB_BENCH_VARIANTS (comma list), VRAMLAB_BENCH_PYTHON (python3),
// VRAMLAB_BENCH_TORCH=0 skips PyTorch.
// ratio = torch ms / vramlab ms (> 1: vramlab is faster). Peak = allocator peak during the timed forwards.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as vl from "../engine/index.js";
import { native } from "../engine/native-binding.js";
import type { CudaDevice } from "../engine/backends/cuda.js";
import "../engine/kernels/cuda.js";
import { writeSafetensors } from "../engine/io/safetensors.js";
import { gitCommit, isoDate, median, packageRoot, printTable, writeResults } from "./bench-util.js";

const VARIANTS = ["bf16", "fp8dqrow", "int8wo", "bf16+fp8-layerwise", "offload-block1-stream", "offload-leaf-stream"] as const;
type Variant = (typeof VARIANTS)[number];

const preset = (process.env.VRAMLAB_BENCH_PRESET ?? "flux-dev") as Parameters<typeof vl.models.flux>[0] & string;
const size = Number(process.env.VRAMLAB_BENCH_SIZE ?? 1024);
const textLength = Number(process.env.VRAMLAB_BENCH_TEXT ?? 512);
const runs = Number(process.env.VRAMLAB_BENCH_RUNS ?? 3);
const work = process.env.VRAMLAB_BENCH_DIR ?? join(tmpdir(), `vramlab-gpu-${preset}`);
const python = process.env.VRAMLAB_BENCH_PYTHON ?? "python3";
const variants = (process.env.VRAMLAB_BENCH_VARIANTS?.split(",").map((s) => s.trim()) ?? [...VARIANTS]) as Variant[];
for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`VRAMLAB_BENCH_VARIANTS: unknown variant "${v}" (${VARIANTS.join(", ")})`);
const GiB = 1024 ** 3;
const round = (x: number, d = 1) => Number(x.toFixed(d));

function requireGpu(): { name: string; smi: string } {
  const info = native.cudaInfo();
  if (!info.compiled) throw new Error("bench/gpu: this vramlab build has no CUDA kernels (nvcc was not found at build time); install the CUDA toolkit and run `npm run build:native`");
  if (!info.available) throw new Error(`bench/gpu needs an NVIDIA GPU: ${info.reason ?? "no CUDA device"}. Run it on a machine with a GPU (engine/native/src/cuda/README.md says how on the lent device).`);
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name,driver_version,memory.total,pci.bus_id", "--format=csv,noheader"], { encoding: "utf8" });
  return { name: info.devices?.[0]?.name ?? "GPU", smi: smi.status === 0 ? smi.stdout.trim().split("\n")[0]! : `nvidia-smi unavailable (${smi.error?.message ?? smi.stderr})` };
}

/** Seeded bf16 weights and inputs, written once and reused by both frameworks. */
async function prepareFiles(): Promise<{ inputsPath: string }> {
  mkdirSync(work, { recursive: true });
  if (!existsSync(join(work, "config.json"))) {
    console.log(`writing ${preset} weights (seed 1, bf16) to ${work} ...`);
    const model = await vl.models.flux(preset, { seed: 1, dtype: "bfloat16" });
    await vl.saveModel(model, work);
    model.dispose();
  }
  const inputsPath = join(work, `inputs-${size}-${textLength}.safetensors`);
  if (!existsSync(inputsPath)) {
    const meta = await vl.models.flux(preset, { device: "meta", dtype: "bfloat16" });
    const inputs = vl.models.fluxInputs(meta, { height: size, width: size, textLength, seed: 3, device: "cpu", dtype: "bfloat16" });
    const entries = Object.entries(inputs).filter(([, t]) => t).map(([name, t]) => {
      const tensor = t as vl.Tensor;
      return { name, dtype: tensor.dtype === "bfloat16" ? "BF16" : "F32", shape: tensor.shape, data: vl.readBytes(tensor) };
    });
    writeSafetensors(inputsPath, entries);
    vl.models.disposeInputs(inputs);
    meta.dispose();
  }
  return { inputsPath };
}

/** Achieved host-to-device bandwidth of one 1 GiB copy, pinned and pageable (best of 5). */
function h2dBandwidth(): { pinnedGBs: number; pageableGBs: number } {
  const c = native as Required<typeof native>;
  const bytes = GiB;
  const host = new native.Storage(bytes, true);
  const stream = c.cudaStreamCreate(0);
  const dst = new (c.CudaStorage)(bytes, false, 0, stream);
  const start = c.cudaEventCreate(true), end = c.cudaEventCreate(true);
  const measure = () => {
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      c.cudaEventRecord(start, stream);
      c.cudaCopyH2D(dst, 0, host, 0, bytes, stream, false);
      c.cudaEventRecord(end, stream);
      c.cudaEventSynchronize(end);
      best = Math.min(best, c.cudaEventElapsed(start, end));
    }
    return bytes / (best / 1000) / 1e9;
  };
  const pageableGBs = measure();
  c.cudaHostRegister(host);
  const pinnedGBs = measure();
  c.cudaHostUnregister(host);
  dst.free();
  host.free();
  return { pinnedGBs: round(pinnedGBs), pageableGBs: round(pageableGBs) };
}

interface VramlabRow {
  variant: Variant;
  medianMs: number;
  runsMs: number[];
  peakAllocatedGiB: number;
  peakReservedGiB: number;
  output?: Float32Array;
}

async function runVramlab(v: Variant): Promise<VramlabRow> {
  const dev = vl.getDevice("cuda:0") as CudaDevice;
  dev.emptyCache();
  const offload = v.startsWith("offload");
  const model = await vl.loadModel(work, { device: offload ? "cpu" : dev, dtype: "bfloat16" });
  if (v === "fp8dqrow" || v === "int8wo") vl.quantize(model, { scheme: v });
  if (v === "bf16+fp8-layerwise") model.enableLayerwiseCasting({ storageDtype: "float8_e4m3fn", computeDtype: "bfloat16" });
  if (v === "offload-block1-stream") model.enableGroupOffload({ onloadDevice: dev, offloadDevice: "cpu", offloadType: "block_level", numBlocksPerGroup: 1, useStream: true });
  if (v === "offload-leaf-stream") model.enableGroupOffload({ onloadDevice: dev, offloadDevice: "cpu", offloadType: "leaf_level", useStream: true });
  const inputs = vl.models.fluxInputs(model as vl.models.FluxTransformer2DModel, { height: size, width: size, textLength, seed: 3, device: dev, dtype: "bfloat16" });
  const times: number[] = [];
  let output: Float32Array | undefined;
  try {
    for (let r = 0; r < 1 + runs; r++) {
      if (r === 1) vl.resetPeakMemory(dev);
      dev.synchronize();
      const t0 = performance.now();
      const out = await (model as vl.models.FluxTransformer2DModel).forward(inputs);
      dev.synchronize();
      const ms = performance.now() - t0;
      if (r === 0) output = out.toFloat32Array();
      else times.push(ms);
      out.dispose();
    }
  } finally {
    vl.models.disposeInputs(inputs);
    model.dispose();
  }
  const mem = vl.memory(dev);
  return { variant: v, medianMs: round(median(times)), runsMs: times.map((t) => round(t)), peakAllocatedGiB: round(mem.peak / GiB, 2), peakReservedGiB: round(dev.allocatorStats().peakReserved / GiB, 2), output };
}

interface TorchRow {
  variant: string;
  medianMs?: number;
  runsMs?: number[];
  peakAllocatedGiB?: number;
  peakReservedGiB?: number;
  skipped?: string;
  outputFile?: string;
}

function runTorch(inputsPath: string): { rows: TorchRow[]; torch?: string; error?: string } {
  if (process.env.VRAMLAB_BENCH_TORCH === "0") return { rows: [], error: "skipped (VRAMLAB_BENCH_TORCH=0)" };
  const out = join(work, "torch-results.json");
  const script = join(packageRoot(), "bench", "gpu_torch.py");
  const r = spawnSync(python, [script, "--weights", work, "--inputs", inputsPath, "--out", out, "--runs", String(runs), "--variants", variants.join(",")], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.error) return { rows: [], error: `${python} could not start: ${r.error.message}` };
  if (r.status !== 0) return { rows: [], error: `bench/gpu_torch.py exited with ${r.status}` };
  const res = JSON.parse(readFileSync(out, "utf8")) as { rows: TorchRow[]; torch: string };
  return res;
}

function relL2(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

async function main(): Promise<void> {
  const gpu = requireGpu();
  console.log(`device: ${gpu.smi}`);
  const gemm = native.cudaGemmInfo?.();
  console.log(`cuBLASLt: ${gemm?.cublasLt ? `${gemm.path} (version ${gemm.version})` : gemm?.error}`);
  const { inputsPath } = await prepareFiles();
  const bandwidth = h2dBandwidth();
  console.log(`H2D 1 GiB: pinned ${bandwidth.pinnedGBs} GB/s, pageable ${bandwidth.pageableGBs} GB/s`);

  const ours: VramlabRow[] = [];
  for (const v of variants) {
    console.log(`vramlab ${v} ...`);
    ours.push(await runVramlab(v));
  }
  const torch = runTorch(inputsPath);
  if (torch.error) console.log(`PyTorch: ${torch.error}`);

  const bf16 = ours.find((r) => r.variant === "bf16")?.medianMs;
  const rows = ours.map((o) => {
    const t = torch.rows.find((r) => r.variant === o.variant);
    let err: number | undefined;
    if (t?.outputFile && o.output && existsSync(t.outputFile)) {
      const buf = readFileSync(t.outputFile);
      err = relL2(o.output, new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
    }
    return {
      variant: o.variant, vramlabMs: o.medianMs, torchMs: t?.medianMs ?? null, ratio: t?.medianMs ? round(t.medianMs / o.medianMs, 2) : null,
      vsBf16: bf16 ? round(o.medianMs / bf16, 2) : null,
      vramlabPeakGiB: o.peakAllocatedGiB, torchPeakGiB: t?.peakAllocatedGiB ?? null, relL2VsTorch: err === undefined ? null : Number(err.toExponential(2)),
      torchNote: t?.skipped ?? null, vramlabRunsMs: o.runsMs, torchRunsMs: t?.runsMs ?? null,
    };
  });
  // bf16 weights streamed once per offloaded forward: the checkpoint's size
  const offloadBytes = readdirSync(work).filter((f) => /^diffusion_pytorch_model.*\.safetensors$|^model.*\.safetensors$/.test(f)).reduce((a, f) => a + statSync(join(work, f)).size, 0);
  const payload = {
    bench: "gpu", date: isoDate(), commit: gitCommit(), device: gpu.smi, preset, size, textLength, runs,
    cublasLt: gemm ?? null, torch: torch.torch ?? null, torchError: torch.error ?? null, h2d: bandwidth,
    offloadStreamEfficiency: rows.filter((r) => r.variant.startsWith("offload")).map((r) => ({
      variant: r.variant, achievedGBs: round(offloadBytes / (r.vramlabMs / 1000) / 1e9), pinnedPeakGBs: bandwidth.pinnedGBs,
    })),
    rows,
  };
  const path = writeResults("gpu", payload);
  printTable(["variant", "vramlab ms", "torch ms", "torch/vramlab", "x bf16", "peak GiB", "torch peak GiB", "rel L2 vs torch", "note"],
    rows.map((r) => [r.variant, r.vramlabMs, r.torchMs, r.ratio, r.vsBf16, r.vramlabPeakGiB, r.torchPeakGiB, r.relL2VsTorch, r.torchNote]));
  console.log(`\n${gpu.smi}; H2D pinned ${bandwidth.pinnedGBs} GB/s, pageable ${bandwidth.pageableGBs} GB/s; results: ${path}`);
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
