// vl.profile and its Report: the summary against arithmetic done here on a
// stack of Linear layers (resident and offloaded), per-layer rows, the stream
// timeline with copies overlapping compute, memory over time, and the JSON,
// CSV, figure and notebook exports. Byte counts are integers and compared
// exactly; modelled times are sums of float64 durations and compared to
// 1e-9 relative (summation order differs, nothing else).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";
import { parseCSVRecords } from "../../engine/profile/report.js";
import { LinearStack } from "../linear-stack.js";

const DEV = "sim:h100-sxm";
const M = 64; // rows of the input
const D = 256; // width of each block
const OUT = 16;
const BLOCKS = 3;
const REL = 1e-9;

const LINEAR_BYTES = (D * D + D) * 4;
const HEAD_BYTES = (OUT * D + OUT) * 4;
const WEIGHT_BYTES = BLOCKS * LINEAR_BYTES + HEAD_BYTES;
const ACT = M * D * 4;

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= REL * Math.abs(expected), `${what}: ${actual} vs ${expected}`);
}

test("resident on sim: model memory, inference memory and step time from hand arithmetic; rows cover the step", async () => {
  const dev = vl.getDevice(DEV) as vl.SimDevice;
  const model = new LinearStack({ device: DEV, width: D, blocks: BLOCKS, out: OUT });
  const x = vl.randn([M, D], { seed: 1, device: DEV, owner: "input" });
  const r = await vl.profile(model, x, { steps: 2, warmup: 1 });

  assert.equal(r.info.timeSource, "modelled");
  assert.equal(r.summary.modelMemory, WEIGHT_BYTES, "every weight is on the device");
  assert.equal(model.numBytes(), WEIGHT_BYTES);
  assert.equal(r.info.baselineMemory, WEIGHT_BYTES + ACT, "weights + the input");
  // during blocks.1 the input, blocks.0's output and blocks.1's output are alive at once
  assert.equal(r.summary.inferenceMemory, WEIGHT_BYTES + ACT + 2 * ACT);
  assert.equal(r.summary.h2dBytes, 0);
  assert.equal(r.summary.h2dSeconds, 0);

  // one stream, no host syncs: the step is the sum of its four GEMMs as the cost model times them
  const cost = dev.costModel;
  const gemm = (n: number) => cost.kernel({ op: "matmul", category: "gemm", flops: 2 * M * n * D, bytes: 4 * (M * D + n * D + M * n + n), rate: "fp32", gemm: { m: M, n, k: D } }).durationMs;
  const expected = BLOCKS * gemm(D) + gemm(OUT);
  close(r.summary.timeMs, expected, "step time");
  for (const t of r.info.stepTimesMs) close(t, expected, "every step");
  assert.equal(r.info.flops, 2 * M * D * (BLOCKS * D + OUT));

  // rows: one per call and step, in call order, with the time each added to the stream
  assert.equal(r.layers.length, 2 * (BLOCKS + 1));
  const last = r.stepLayers();
  assert.deepEqual(last.map((l) => l.name), ["blocks.0", "blocks.1", "blocks.2", "head"]);
  assert.deepEqual(last.map((l) => l.className), ["Linear", "Linear", "Linear", "Linear"]);
  assert.deepEqual(last.map((l) => l.bytes), [LINEAR_BYTES, LINEAR_BYTES, LINEAR_BYTES, HEAD_BYTES]);
  assert.deepEqual(last.map((l) => l.storageDtype), ["float32", "float32", "float32", "float32"]);
  close(last.reduce((a, l) => a + l.timeMs, 0), r.summary.timeMs, "rows add up to the step");
  for (const l of last) close(l.timeMs, l.computeMs, `${l.name}: no stall when everything is resident`);
  assert.deepEqual(last.map((l) => l.peakIncrease), [ACT, ACT, ACT, M * OUT * 4]);
  assert.equal(Math.max(...last.map((l) => l.peak)), r.summary.inferenceMemory);

  // memory over time: allocations and frees of the measured steps, ending where they started
  assert.ok(r.memory.length > 0);
  assert.ok(r.memory.every((p, i) => i === 0 || p.timeMs >= r.memory[i - 1]!.timeMs), "time never goes back");
  assert.equal(r.memory.reduce((a, p) => a + p.change, 0), 0, "each step frees what it made (outputs disposed)");
  assert.equal(Math.max(...r.memory.map((p) => p.allocated)), r.summary.inferenceMemory);
  assert.equal(vl.memory(dev).allocated, WEIGHT_BYTES + ACT, "profiling leaves nothing behind");
  for (const [, m] of model.namedModules()) assert.ok(!m.hooks.has(vl.PROFILER_HOOK), "hooks removed");
  x.dispose();
  model.dispose();
});

test("block offloading on sim: h2d bytes are the offloaded weights, link time is launches + bytes / rate, copies overlap compute only with streams", async () => {
  const dev = vl.getDevice(DEV) as vl.SimDevice;
  const leaves = 2 * (BLOCKS + 1); // a weight and a bias per Linear
  const results: Record<string, vl.Report> = {};
  for (const useStream of [false, true]) {
    const model = new LinearStack({ device: "cpu", width: D, blocks: BLOCKS, out: OUT });
    model.enableGroupOffload({ onloadDevice: DEV, offloadDevice: "cpu", offloadType: "block_level", numBlocksPerGroup: 1, useStream, prefetchDepth: 1 });
    const x = vl.randn([M, D], { seed: 1, device: DEV });
    const r = (results[String(useStream)] = await vl.profile(model, x, { steps: 2, warmup: 1 }));
    assert.equal(r.summary.modelMemory, 0, "nothing resident at rest");
    assert.equal(r.summary.h2dBytes, WEIGHT_BYTES, "each weight crosses the link once per step");
    assert.equal(r.info.h2dCount, leaves);
    // pinned copies with streams (50 GB/s), pageable without (25 GB/s); 4 us per copy
    const rate = useStream ? dev.profile.hostLinkPinned.value : dev.profile.hostLinkPageable.value;
    close(r.summary.h2dSeconds, leaves * dev.profile.launchOverhead.value + WEIGHT_BYTES / rate, `link time, stream=${useStream}`);
    // the head is not in a block list: it is onloaded by the root for the whole forward, outside every row
    const rows = r.stepLayers();
    assert.equal(rows.reduce((a, l) => a + l.h2dBytes, 0), BLOCKS * LINEAR_BYTES);
    if (useStream) {
      // blocks.0 onloads itself and prefetches blocks.1; blocks.2 has nothing left to prefetch
      assert.deepEqual(rows.map((l) => l.h2dBytes), [2 * LINEAR_BYTES, LINEAR_BYTES, 0, 0]);
      assert.ok(r.info.overlapMs > 0, "a prefetch ran while a kernel ran");
      const copies = r.timeline.filter((s) => s.streamKind === "copy" && s.resource === "h2d");
      const kernels = r.timeline.filter((s) => s.resource === "compute");
      assert.ok(copies.length > 0);
      assert.ok(copies.some((c) => kernels.some((k) => k.startMs < c.endMs && c.startMs < k.endMs)), "a copy span overlaps a compute span");
    } else {
      assert.deepEqual(rows.map((l) => l.h2dBytes), [LINEAR_BYTES, LINEAR_BYTES, LINEAR_BYTES, 0]);
      assert.equal(r.info.overlapMs, 0, "pageable copies wait for the whole device");
      assert.ok(r.timeline.every((s) => s.streamKind === "compute"));
      // synchronous onloads are charged to the block that waited: its time exceeds its kernels by its copies
      for (const l of rows.slice(0, BLOCKS)) close(l.timeMs - l.computeMs, l.h2dMs, `${l.name} stall`);
    }
    assert.equal(vl.memory(dev).allocated, ACT, "only the input stays on the device");
    x.dispose();
    model.dispose();
  }
  assert.ok(results["true"]!.summary.timeMs < results["false"]!.summary.timeMs, "streams hide copies");

  // keepResident: that block's bytes are model memory and no longer cross the link
  const model = new LinearStack({ device: "cpu", width: D, blocks: BLOCKS, out: OUT });
  model.enableGroupOffload({ onloadDevice: DEV, offloadType: "block_level", useStream: true, keepResident: ["blocks.1"] });
  const x = vl.randn([M, D], { seed: 1, device: DEV });
  const r = await vl.profile(model, x, { warmup: 1 });
  assert.equal(r.summary.modelMemory, LINEAR_BYTES);
  assert.equal(r.summary.h2dBytes, WEIGHT_BYTES - LINEAR_BYTES);
  x.dispose();
  model.dispose();
});

test("storage dtypes per layer: a quantized block and an fp8-stored block", async () => {
  const model = new LinearStack({ device: "cpu", width: D, blocks: BLOCKS, out: OUT });
  vl.quantize(model, { scheme: "int8wo", minElements: 0, filter: (path) => path === "blocks.0" });
  model.child("blocks").child("1").enableLayerwiseCasting({ storageDtype: "float8_e4m3fn", computeDtype: "float32" });
  await model.to(DEV);
  const x = vl.randn([M, D], { seed: 1, device: DEV });
  const r = await vl.profile(model, x);
  const rows = r.stepLayers();
  assert.equal(rows[0]!.storageDtype, "int8wo");
  assert.equal(rows[1]!.storageDtype, "float8_e4m3fn");
  assert.equal(rows[1]!.bytes, D * D + D, "one byte per element");
  assert.equal(rows[2]!.storageDtype, "float32");
  assert.equal(r.summary.modelMemory, model.numBytes());
  x.dispose();
  model.dispose();
});

test("JSON and CSV round trips; figures, text and notebook display", async () => {
  const model = new LinearStack({ device: "cpu", width: D, blocks: BLOCKS, out: OUT });
  model.enableGroupOffload({ onloadDevice: DEV, offloadType: "block_level", useStream: true });
  const x = vl.randn([M, D], { seed: 1, device: DEV });
  const r = await vl.profile(model, x, { steps: 2 });

  const back = vl.Report.fromJSON(JSON.stringify(r));
  assert.deepEqual(back.toJSON(), JSON.parse(JSON.stringify(r)));
  assert.deepEqual(back.summary, r.summary);
  assert.deepEqual(back.layers, r.layers);

  assert.deepEqual(vl.reportFromCSV(r.toCSV("layers"), "layers"), r.layers, "numbers print with round-trip precision");
  assert.deepEqual(vl.reportFromCSV(r.toCSV("timeline"), "timeline"), r.timeline);
  assert.deepEqual(vl.reportFromCSV(r.toCSV("memory"), "memory"), r.memory);
  assert.deepEqual(vl.reportFromCSV(r.toCSV("summary"), "summary"), [r.summary]);
  const csv = r.toCSV();
  assert.equal(csv.split("\n")[0], "step,index,depth,name,className,storageDtype,bytes,timeMs,wallMs,computeMs,flops,startMs,endMs,memoryBefore,memoryAfter,peak,peakIncrease,h2dBytes,h2dCount,h2dMs,d2hBytes,d2hCount,d2hMs");
  assert.equal(csv.trimEnd().split("\n").length, 1 + r.layers.length);
  assert.throws(() => vl.reportFromCSV("a,b\n1,2\n", "layers"), /expected the layers header/);

  const f = r.figures();
  assert.deepEqual(f.layers.name, ["blocks.0", "blocks.1", "blocks.2", "head"]);
  assert.equal(f.layers.timeMs.length, 4);
  assert.equal(f.timeline.startMs.length, r.timeline.length);
  assert.ok(f.timeline.streamKind.includes("copy") && f.timeline.streamKind.includes("compute"));
  assert.equal(f.memory.allocated.length, r.memory.length);
  assert.equal(f.steps.timeMs.length, 2);
  assert.equal(f.timeSource, "modelled");

  const text = r.toString();
  assert.match(text, /^module\s+class\s+storage\s+weights\s+modelled ms/);
  assert.match(text, /blocks\.2\s+Linear\s+float32/);
  assert.match(text, /model memory 0 B, inference memory [\d.]+ KiB, step [\d.]+ ms/);
  const bundle = (r as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]!();
  assert.equal(bundle["text/plain"], text);
  assert.equal((bundle["text/html"]!.match(/<tr>/g) ?? []).length, 5 + 1 + 4, "five summary rows, then a header row and one row per layer");
  assert.match(bundle["text/html"]!, /<th style="text-align:left">model memory<\/th>/);
  x.dispose();
  model.dispose();
});

test("on cpu the times are wall-clock and there are no modelled spans or transfers", async () => {
  const model = new LinearStack({ device: "cpu", width: D, blocks: BLOCKS, out: OUT });
  const x = vl.randn([M, D], { seed: 1 });
  const r = await vl.profile(model, x, { warmup: 0, layers: "all" });
  assert.equal(r.info.timeSource, "wall");
  assert.equal(r.summary.modelMemory, WEIGHT_BYTES);
  assert.equal(r.summary.h2dBytes, 0);
  assert.equal(r.timeline.length, 0);
  assert.ok(r.summary.timeMs > 0);
  // "all" includes the root and the list: depth follows the nesting of profiled calls
  const rows = r.stepLayers();
  assert.deepEqual(rows.map((l) => [l.name, l.depth]), [["", 0], ["blocks.0", 1], ["blocks.1", 1], ["blocks.2", 1], ["head", 1]]);
  assert.ok(rows[0]!.timeMs >= rows.slice(1).reduce((a, l) => a + l.timeMs, 0) * 0.999, "the root's wall time covers its children");
  x.dispose();
  model.dispose();
});

test("a forward that runs out of memory rejects the profile and leaves no hooks; the next profile works", async () => {
  const dev = vl.getDevice(DEV) as vl.SimDevice;
  const model = new LinearStack({ device: DEV, width: D, blocks: BLOCKS, out: OUT });
  const x = vl.randn([M, D], { seed: 1, device: DEV });
  dev.setMemoryLimit(vl.memory(dev).reserved + ACT + 512); // room for blocks.0's output only
  try {
    await assert.rejects(vl.profile(model, x, { warmup: 0 }), (e: unknown) => e instanceof vl.OutOfMemoryError && e.module === "blocks.1");
  } finally {
    dev.setMemoryLimit(null);
  }
  for (const [, m] of model.namedModules()) assert.ok(!m.hooks.has(vl.PROFILER_HOOK));
  const r = await vl.profile(model, x, { warmup: 0 });
  assert.equal(r.summary.inferenceMemory, WEIGHT_BYTES + 3 * ACT);
  x.dispose();
  model.dispose();
});

test("CSV fields with commas, quotes and newlines survive", () => {
  const records = parseCSVRecords('a,"b,c","say ""hi"""\n"two\nlines",x,\r\n');
  assert.deepEqual(records, [["a", "b,c", 'say "hi"'], ["two\nlines", "x", ""]]);
  assert.throws(() => parseCSVRecords('a,"open\n'), /not closed/);
});
