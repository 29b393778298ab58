// bench/quant: per scheme, the `small` Flux on cpu (model bytes, peak memory,
// forward time and output SQNR against the unquantized model, all in one run)
// and `flux-dev` on meta (model memory, the model_memory column of published
// diffusion benchmarks).
import * as vl from "../engine/index.js";
import { describeCpu, gitCommit, isoDate, median, printTable, writeResults } from "./bench-util.js";

const schemes = ["none", ...vl.quant.SCHEME_NAMES] as const;
type Row = { scheme: string; modelBytes: number; peakBytes: number; forwardMs: number; speedup: number; sqnrDb: number };
const runs = Number(process.env.VRAMLAB_BENCH_RUNS ?? 3);
const grid: [number, number] = [16, 16];

const rows: Row[] = [];
let reference: Float32Array | null = null;
let baseMs = 0;
for (const scheme of schemes) {
  const model = await vl.models.flux("small", { seed: 0 });
  if (scheme !== "none") vl.quantize(model, scheme);
  const inputs = vl.models.fluxInputs(model, { grid, textLength: 64, seed: 1 });
  vl.resetPeakMemory("cpu");
  const times: number[] = [];
  let out: Float32Array | null = null;
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    const y = await model.forward(inputs);
    if (i > 0) times.push(performance.now() - t0); // the first run warms caches and packing
    out ??= y.toFloat32Array();
    y.dispose();
  }
  const ms = median(times);
  if (scheme === "none") {
    reference = out;
    baseMs = ms;
  }
  rows.push({ scheme, modelBytes: model.numBytes(), peakBytes: vl.memory("cpu").peak, forwardMs: ms, speedup: baseMs / ms, sqnrDb: vl.sqnrDb(reference!, out!) });
  vl.models.disposeInputs(inputs);
  model.dispose();
}

// tiny: every Linear quantized (minElements 0), output SQNR against the float32 model
const tiny: { scheme: string; sqnrDb: number }[] = [];
{
  const base = await vl.models.flux("tiny", { seed: 0 });
  const inputs = vl.models.fluxInputs(base, { grid: [6, 4], textLength: 7, seed: 1 });
  const ref = await base.forward(inputs);
  for (const scheme of vl.quant.SCHEME_NAMES) {
    const model = await vl.models.flux("tiny", { seed: 0 });
    vl.quantize(model, { scheme, minElements: 0, ...(scheme === "int4wo" ? { groupSize: 32 } : {}) });
    const y = await model.forward(inputs);
    tiny.push({ scheme, sqnrDb: vl.sqnrDb(ref, y) });
    y.dispose();
    model.dispose();
  }
  ref.dispose();
  vl.models.disposeInputs(inputs);
  base.dispose();
}

const meta: { scheme: string; modelBytes: number }[] = [];
for (const scheme of schemes) {
  const model = await vl.models.flux("flux-dev", { device: "meta", dtype: "bfloat16" });
  if (scheme !== "none") vl.quantize(model, scheme);
  meta.push({ scheme, modelBytes: model.numBytes() });
  model.dispose();
}

const path = writeResults("quant", {
  bench: "quant",
  date: isoDate(),
  commit: gitCommit(),
  device: describeCpu(),
  small: { preset: "small", tokens: grid[0] * grid[1] + 64, runs, rows },
  tiny: { preset: "tiny", note: "every Linear quantized; int4wo with group size 32 (64-wide layers)", rows: tiny },
  fluxDevMeta: { dtype: "bfloat16", rows: meta },
});
const gib = (n: number) => (n / 2 ** 30).toFixed(2);
const mib = (n: number) => (n / 2 ** 20).toFixed(1);
console.log(`flux-dev on meta (bf16 base), model memory:`);
printTable(["scheme", "model GiB", "vs bf16"], meta.map((r) => [r.scheme, gib(r.modelBytes), (r.modelBytes / meta[0]!.modelBytes).toFixed(3)]));
console.log(`\ntiny flux, every Linear quantized, output SQNR vs float32:`);
printTable(["scheme", "SQNR dB"], tiny.map((r) => [r.scheme, r.sqnrDb.toFixed(1)]));
console.log(`\nwrote ${path}\n`);
console.log(`small flux on cpu, ${grid[0] * grid[1] + 64} tokens, median of ${runs} forwards:`);
printTable(["scheme", "model MiB", "peak MiB", "forward ms", "speed vs none", "output SQNR dB"],
  rows.map((r) => [r.scheme, mib(r.modelBytes), mib(r.peakBytes), r.forwardMs.toFixed(0), `${r.speedup.toFixed(2)}x`, Number.isFinite(r.sqnrDb) ? r.sqnrDb.toFixed(1) : "exact"]));
