// `npm run demo`: the `small` Flux transformer on cpu, one forward, a
// per-block table (wall time, peak memory) and a one-line summary.
import * as vl from "../engine/index.js";

const preset = (process.env.VRAMLAB_DEMO_PRESET ?? "small") as vl.models.FluxPreset;
const size = Number(process.env.VRAMLAB_DEMO_SIZE ?? 512);

const t0 = performance.now();
const model = await vl.models.flux(preset, { seed: 0 });
const buildMs = performance.now() - t0;
const inputs = vl.models.fluxInputs(model, { height: size, width: size, textLength: 64, seed: 1 });
const tokens = inputs.hiddenStates.shape[1]! + inputs.encoderHiddenStates.shape[1]!;

const topLevel = new Set(["x_embedder", "context_embedder", "time_text_embed", "norm_out", "proj_out"]);
const profiler = new vl.ModuleProfiler(vl.getDevice("cpu")).attach(model, (path) =>
  topLevel.has(path) || /^(single_)?transformer_blocks\.\d+$/.test(path),
);

const weights = vl.memory("cpu").allocated;
vl.resetPeakMemory("cpu");
const start = performance.now();
const out = await model.forward(inputs);
const forwardMs = performance.now() - start;
const peak = vl.memory("cpu").peak;
profiler.detach();

const rows = profiler.records.map((r) => [
  r.path,
  r.className,
  r.wallMs.toFixed(1),
  vl.formatBytes(r.peakIncrease),
  vl.formatBytes(r.peak),
]);
const cpu = vl.cpuInfo();
console.log(vl.formatTable(["module", "class", "ms", "peak above entry", "peak allocated"], rows));
console.log(
  `\n${preset} flux: ${(model.numParameters() / 1e6).toFixed(1)}M parameters (${vl.formatBytes(weights)} incl. inputs), ` +
    `${tokens} tokens, output [${out.shape.join(", ")}]; forward ${forwardMs.toFixed(0)} ms on cpu ` +
    `(${cpu.level}, ${vl.getNumThreads()} threads), peak ${vl.formatBytes(peak)} (activations ${vl.formatBytes(peak - weights)}); model built in ${buildMs.toFixed(0)} ms`,
);
out.dispose();
vl.models.disposeInputs(inputs);
model.dispose();
