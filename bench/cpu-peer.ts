// CPU peer benchmark: a whole Flux forward in vramlab (cpu) and in
// onnxruntime-node running the model vramlab exports (vl.exportOnnx), same
// thread count, fp32 / int8dq / int4wo, all in one run.
// Run: `node dist/bench/cpu-peer.js` (after `npm run build`). VRAMLAB_BENCH_RUNS sets the timed runs (default 5);
// VRAMLAB_BENCH_CASES=small (comma-separated case names) runs only those cases.
//
// onnxruntime runs the exported graph with graph optimizations on (it fuses
// the int8dq chain DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul into
// DynamicQuantizeMatMul / MatMulIntegerToFloat, RMSNorm into
// SimplifiedLayerNormalization, SiLU into QuickGelu, q@k^T*scale into
// FusedMatMul) and as bench/cpu-gemm configures it: intraOpNumThreads = our
// threads, one inter-op thread, once with thread-pool spinning off and once on
// (its default; vramlab's pool spins 200 us by default): the faster is the peer. The graphs:
//   fp32    MatMul with the Linear weights as initializers (prepacked at load)
//   int8dq  onnxruntime's dynamic quantization (per-tensor asymmetric uint8 activations); vramlab's
//           int8dq is per-token symmetric: the same int8 GEMM work, slightly different rounding
//   int4wo  com.microsoft MatMulNBits, 4 bits, group 128, float zero points, accuracy_level 0
//           (float32 activations, as vramlab's int4wo)
// ratio = onnxruntime ms / vramlab ms (> 1: vramlab is faster). Forwards are
// timed interleaved (bench-util timeInterleaved) so outside load hits both.
// vramlab prepacks its Linear weights for the GEMM (model.enableWeightPrepacking(),
// as onnxruntime prepacks its MatMul initializers at session load); the panels'
// memory is reported (prepackedMiB). VRAMLAB_BENCH_PREPACK=0 turns that off.
import { loadavg } from "node:os";
import * as ort from "onnxruntime-node";
import * as vl from "../engine/index.js";
import type { OnnxFeed } from "../engine/index.js";
import { describeCpu, gitCommit, isoDate, median, printTable, timeInterleaved, writeResults } from "./bench-util.js";

type SchemeLabel = "fp32" | "int8dq" | "int4wo";
const SCHEMES: SchemeLabel[] = ["fp32", "int8dq", "int4wo"];

interface Case {
  name: string;
  config: Parameters<typeof vl.models.flux>[0];
  grid: [number, number];
  textLength: number;
}

const CASES: Case[] = [
  // bench/quant's shape: 256x256 pixels (16x16 tokens) and 64 text tokens
  { name: "small", config: "small", grid: [16, 16], textLength: 64 },
  // twice as wide (24 heads x 64 = dim 1536), 382M parameters: 1.5 GB of fp32 weights, the largest
  // that stays under protobuf's 2 GB model limit with room, on this 2-core / 24 GB machine
  { name: "small-wide (dim 1536)", config: { preset: "small", numAttentionHeads: 24 }, grid: [16, 16], textLength: 64 },
];

const runs = Number(process.env.VRAMLAB_BENCH_RUNS ?? 5);
const caseFilter = process.env.VRAMLAB_BENCH_CASES?.split(",").map((s) => s.trim()).filter(Boolean);
const selectedCases = caseFilter ? CASES.filter((c) => caseFilter.some((f) => c.name === f || c.name.startsWith(`${f} `))) : CASES;
if (selectedCases.length === 0) throw new Error(`VRAMLAB_BENCH_CASES=${process.env.VRAMLAB_BENCH_CASES} names no case; the cases are: ${CASES.map((c) => c.name).join(", ")}`);
const prepack = process.env.VRAMLAB_BENCH_PREPACK !== "0";
const PAUSE_MS = 50;
const threads = vl.getNumThreads();
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

function ortFeeds(feeds: Record<string, OnnxFeed>): Record<string, ort.Tensor> {
  // an OnnxFeed pairs its type with the matching typed array; the casts only pick ort's overload
  return Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor(f.type as "float32", f.data as Float32Array, f.dims)]));
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

interface Row {
  case: string;
  scheme: SchemeLabel;
  parameters: number;
  tokens: number;
  modelMiB: number;
  onnxMiB: number;
  exportS: number;
  sessionS: number;
  vramlabMs: number;
  /** the faster of onnxruntime with thread-pool spinning off and on */
  ortMs: number;
  ortNoSpinMs: number;
  ortSpinMs: number;
  vramlabMinMs: number;
  ortMinMs: number;
  /** MiB of prepacked Linear weight panels vramlab held while timed (0 without prepacking; quantized layers have none) */
  prepackedMiB: number;
  /** onnxruntime ms / vramlab ms */
  ratio: number;
  /**
   * median over the timed rounds of (onnxruntime ms / vramlab ms) within the round: the two ran back to
   * back, so load that drifts over the run cancels out; steadier than `ratio` on a shared machine
   */
  pairedRatio: number;
  /** our fp32 ms / our ms for this scheme (same case) */
  speedupVsOurFp32: number | null;
  /** relative L2 of onnxruntime's output against vramlab's, same scheme */
  relL2VsVramlab: number;
}

async function main(): Promise<void> {
  const device = describeCpu();
  const loadAtStart = loadavg()[0]!;
  console.log(`cpu-peer: ${device.cpuModel}, ${threads} threads, ${device.cpuLevel}, onnxruntime-node ${ort.env.versions.node ?? "?"}, ${runs} timed runs, vramlab weight prepacking ${prepack ? "on" : "off"}`);
  const rows: Row[] = [];
  for (const c of selectedCases) {
    let fp32Ms: number | null = null;
    for (const scheme of SCHEMES) {
      const model = await vl.models.flux(c.config, { seed: 0 });
      if (scheme !== "fp32") vl.quantize(model, scheme);
      const inputs = vl.models.fluxInputs(model, { grid: c.grid, textLength: c.textLength, seed: 1 });
      let t0 = performance.now();
      let ex: vl.OnnxExport | null = await vl.exportOnnx(model, inputs);
      const exportS = (performance.now() - t0) / 1000;
      const onnxBytes = ex.model.byteLength;
      t0 = performance.now();
      // onnxruntime twice: spinning off and on (its default); the faster of the two is the peer
      const sessionOptions = (spin: boolean): ort.InferenceSession.SessionOptions => ({
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
        extra: { session: { intra_op: { allow_spinning: spin ? "1" : "0" } } },
      });
      const session = await ort.InferenceSession.create(ex.model, sessionOptions(false));
      const sessionS = (performance.now() - t0) / 1000;
      const spinningSession = await ort.InferenceSession.create(ex.model, sessionOptions(true));
      const feeds = ortFeeds(ex.feeds);
      ex = null; // the serialized model is onnxruntime's now; free our copy before timing
      if (prepack) model.enableWeightPrepacking(); // after the export: its tracing swaps the weights
      const ours = await model.forward(inputs);
      const oursValues = ours.toFloat32Array();
      ours.dispose();
      const theirs = (await session.run(feeds))["output"]!.data as Float32Array;
      const t = await timeInterleaved({
        vramlab: async () => (await model.forward(inputs)).dispose(),
        ort: () => session.run(feeds),
        ortSpin: () => spinningSession.run(feeds),
      }, { warmup: 1, runs, pauseMs: PAUSE_MS });
      const peer = t.ortSpin.medianMs < t.ort.medianMs ? t.ortSpin : t.ort;
      if (scheme === "fp32") fp32Ms = t.vramlab.medianMs;
      const row: Row = {
        case: c.name, scheme, parameters: model.numParameters(), tokens: c.grid[0] * c.grid[1] + c.textLength,
        modelMiB: round(model.numBytes() / 2 ** 20), onnxMiB: round(onnxBytes / 2 ** 20),
        exportS: round(exportS, 2), sessionS: round(sessionS, 2),
        vramlabMs: round(t.vramlab.medianMs), ortMs: round(peer.medianMs),
        ortNoSpinMs: round(t.ort.medianMs), ortSpinMs: round(t.ortSpin.medianMs),
        vramlabMinMs: round(t.vramlab.minMs), ortMinMs: round(peer.minMs),
        prepackedMiB: round(model.prepackedBytes / 2 ** 20),
        ratio: round(peer.medianMs / t.vramlab.medianMs, 3),
        pairedRatio: round(median(peer.runsMs.map((ms, i) => ms / t.vramlab.runsMs[i]!)), 3),
        speedupVsOurFp32: fp32Ms === null ? null : round(fp32Ms / t.vramlab.medianMs, 3),
        relL2VsVramlab: Number(relL2(theirs, oursValues).toExponential(2)),
      };
      rows.push(row);
      console.log(`  ${c.name} ${scheme}: vramlab ${row.vramlabMs} ms, onnxruntime ${row.ortMs} ms (ratio ${row.ratio}), export ${row.exportS} s, session ${row.sessionS} s, rel L2 ${row.relL2VsVramlab}, prepacked ${row.prepackedMiB} MiB`);
      await session.release();
      await spinningSession.release();
      vl.models.disposeInputs(inputs);
      model.dispose();
    }
  }

  // a thread count other than the machine's default is its own result file
  const path = writeResults(process.env.VRAMLAB_NUM_THREADS ? `cpu-peer-${threads}thread` : "cpu-peer", {
    benchmark: "cpu-peer",
    date: isoDate(),
    commit: gitCommit(),
    device,
    onnxruntime: { version: ort.env.versions.node ?? null, intraOpNumThreads: threads, interOpNumThreads: 1, allowSpinning: "both (ortMs is the faster)", graphOptimizationLevel: "all" },
    runs,
    // VRAMLAB_THREAD_SPIN: microseconds the thread pool spins before sleeping (200 by default)
    vramlab: { weightPrepacking: prepack, threadSpinUs: Number(process.env.VRAMLAB_THREAD_SPIN || 200) },
    // 1-minute load average of the machine before and after: on a shared machine the ratios move with it
    loadAverage: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) },
    notes: "Whole Flux forward (batch 1), median wall time of interleaved runs after one warm-up. vramlab runs with model.enableWeightPrepacking() (Linear weights packed once for the GEMM, like onnxruntime's prepacked initializers; prepackedMiB is the memory that costs) unless vramlab.weightPrepacking is false. onnxruntime runs twice, thread-pool spinning off and on (ortNoSpinMs, ortSpinMs); ortMs is the faster. ratio = onnxruntime ms / vramlab ms (> 1: vramlab faster); pairedRatio = the median over rounds of that ratio within a round (steadier under drifting load). speedupVsOurFp32 = vramlab fp32 ms / vramlab ms for the scheme. relL2VsVramlab: onnxruntime's output against vramlab's for the same scheme (int8dq differs by design: onnxruntime quantizes activations per tensor, asymmetric uint8; vramlab per token, symmetric int8).",
    rows,
  });
  console.log(`\nwrote ${path}\n`);
  printTable(
    ["case", "scheme", "params", "tokens", "vramlab ms", "ort ms", "ort no-spin / spin", "ratio (ort/ours)", "paired ratio", "vs our fp32", "rel L2", "onnx MiB", "prepacked MiB", "export s"],
    rows.map((r) => [r.case, r.scheme, `${round(r.parameters / 1e6)}M`, r.tokens, r.vramlabMs, r.ortMs, `${r.ortNoSpinMs} / ${r.ortSpinMs}`, r.ratio, r.pairedRatio, r.speedupVsOurFp32, r.relL2VsVramlab, r.onnxMiB, r.prepackedMiB, r.exportS]),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
