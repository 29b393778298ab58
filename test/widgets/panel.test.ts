// The engine control panel in-process (no kernel: widgets are plain models,
// observers run as a frontend update would run them). The tiny Flux
// transformer on simulated devices: setting a control re-hooks or rebuilds
// the model, re-profiles and redraws; numbers move the way the settings
// say; memory returns exactly to where it was; a budget that does not fit,
// an invalid combination and a plan that finds nothing leave the previous
// model, controls and figures; a newer change aborts a running profile; the
// record button hands { config, report } to onRecord.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as vl from "../../engine/index.js";
import { panel, parseBytes, changeKind, setDefaultPanelRecorder, DEFAULT_CONFIG, type Panel, type PanelRun } from "../../widgets/panel.js";

const DEV = "sim:h100-sxm";
type Flux = vl.models.FluxTransformer2DModel;
type Inputs = vl.models.FluxInputs;

const factory = (c: { device: "cpu" | "meta"; dtype: vl.DType }) => vl.models.flux("tiny", { device: c.device, dtype: c.dtype, seed: 0 });
const inputs = (m: Flux) => vl.models.fluxInputs(m, { height: 128, width: 128, textLength: 8 });

/** a Linear weight of the tiny model (64 x 64) */
const probe = (m: vl.Module) => m.child("transformer_blocks").child("0").child("attn").child("to_q");

function hookNames(m: vl.Module): Set<string> {
  const names = new Set<string>();
  for (const [, mod] of m.namedModules()) for (const n of mod.hooks.names()) names.add(n);
  return names;
}

/** Bytes exactly; modelled times to 1e-9 relative (they are sums of span ends measured from a moving origin). */
function assertSameSummary(a: vl.ReportSummary, b: vl.ReportSummary): void {
  assert.deepEqual([a.modelMemory, a.inferenceMemory, a.h2dBytes], [b.modelMemory, b.inferenceMemory, b.h2dBytes]);
  for (const k of ["timeMs", "h2dSeconds"] as const) assert.ok(Math.abs(a[k] - b[k]) <= 1e-9 * Math.abs(b[k]), `${k}: ${a[k]} vs ${b[k]}`);
}

function memoryNow(): { cpu: number; sim: number; pinned: number } {
  return { cpu: vl.memory("cpu").allocated, sim: vl.memory(DEV).allocated, pinned: vl.hostMemory("cpu").pinned };
}

describe("panel config helpers", () => {
  it("parses budgets in decimal and binary units and rejects what is not a size", () => {
    assert.equal(parseBytes("12 GB"), 12e9);
    assert.equal(parseBytes("1.5GiB"), 1.5 * 2 ** 30);
    assert.equal(parseBytes("512 mib"), 512 * 2 ** 20);
    assert.equal(parseBytes("900000"), 900000);
    assert.equal(parseBytes(""), null);
    assert.equal(parseBytes("none"), null);
    assert.throws(() => parseBytes("lots"), /VRAM budget "lots" is not a size.*12 GB/);
    assert.throws(() => parseBytes("12 parsecs"), /is not a size/);
    assert.throws(() => parseBytes("0 GB"), /positive/);
  });

  it("classifies changes: build settings rebuild, placement and added casting re-hook, the budget re-profiles", () => {
    const a = { ...DEFAULT_CONFIG };
    assert.equal(changeKind(a, { ...a, scheme: "int8wo" }).kind, "rebuild");
    assert.equal(changeKind(a, { ...a, computeDtype: "float32" }).kind, "rebuild");
    assert.equal(changeKind(a, { ...a, device: "sim:h200:meta" }).kind, "rebuild", "weights move from cpu to meta");
    assert.equal(changeKind(a, { ...a, device: "sim:h200" }).kind, "rehook", "same host: only the placement changes");
    assert.equal(changeKind(a, { ...a, offloadType: "block_level" }).kind, "rehook");
    assert.equal(changeKind(a, { ...a, storageDtype: "float8_e4m3fn" }).kind, "rehook", "casting added");
    assert.equal(changeKind({ ...a, storageDtype: "float8_e4m3fn" }, { ...a, storageDtype: "float8_e5m2" }).kind, "rebuild", "casting replaced: the rounded weights cannot come back");
    assert.equal(changeKind(a, { ...a, budgetBytes: 1e9 }).kind, "reprofile");
    assert.equal(changeKind(a, { ...a, numBlocksPerGroup: 3 }).kind, "none", "blocks per group means nothing without block_level");
  });
});

describe("panel on the tiny Flux model", () => {
  let p: Panel<Flux, Inputs>;
  let baseline: ReturnType<typeof memoryNow>;
  let afterFirst: ReturnType<typeof memoryNow>;
  const records: PanelRun[] = [];

  before(async () => {
    baseline = memoryNow();
    p = await panel<Flux, Inputs>(factory, inputs, {
      quantize: { minElements: 0 },
      initial: { device: DEV, computeDtype: "bfloat16" },
      onRecord: (run) => {
        records.push(run);
        return `run-${records.length}`;
      },
    });
    afterFirst = memoryNow();
  });

  after(async () => {
    await p?.dispose();
  });

  it("builds, profiles and draws on creation", () => {
    const first = p.outcomes[0]!;
    assert.equal(first.status, "ok");
    assert.equal(first.action, "rebuild");
    assert.ok(p.model instanceof vl.models.FluxTransformer2DModel);
    assert.equal(p.report!.info.device, DEV);
    assert.equal(p.report!.summary.modelMemory, p.model!.numBytes(), "resident: every weight byte is on the device");
    for (const name of ["memory", "time", "timeline", "memoryOverTime"] as const) {
      assert.match(p.figureViews[name].value, new RegExp(`^<div class="vramlab-panel-figure" data-figure="${name}" data-run="1"><svg xmlns="http://www.w3.org/2000/svg"`));
    }
    // the bars carry the report's per-layer numbers
    const cols = p.report!.figures().layers;
    assert.deepEqual(p.figures!.memory.data[0]!.y, cols.bytes);
    assert.deepEqual(p.figures!.time.data[0]!.y, cols.timeMs);
    assert.match(p.status.value, /data-status="ok" data-run="1".*model memory/);
    assert.equal(p.progress.value, p.progress.max);
    assert.equal(p.progress.get("bar_style"), "success");
    // the displayed object is the root widget
    const bundle = (p as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")]!();
    assert.deepEqual(bundle["application/vnd.jupyter.widget-view+json"], { model_id: p.widget.modelId, version_major: 2, version_minor: 1 });
  });

  it("a scheme change rebuilds the model: int8wo about halves bf16 model memory", async () => {
    const bf16 = p.report!;
    const oldModel = p.model!;
    p.controls.scheme.value = "int8wo";
    const o = (await p.settled())!;
    assert.equal(o.status, "ok", o.message);
    assert.equal(o.action, "rebuild");
    assert.notEqual(p.model, oldModel, "a new model");
    assert.ok(oldModel.namedTensors().next().value![1].isDisposed, "the old model was freed");
    const w = probe(p.model!).weight("weight");
    assert.ok(vl.isTensorSubclass(w));
    assert.equal(w.metadata()["scheme"], "int8wo");
    const ratio = p.report!.summary.modelMemory / bf16.summary.modelMemory;
    // int8 payload (1 byte vs 2) plus one bf16/fp32 scale per row and the unquantized norms and biases
    assert.ok(ratio > 0.45 && ratio < 0.6, `int8wo / bf16 model memory = ${ratio.toFixed(3)}`);
    assert.equal(p.report!.summary.modelMemory, p.model!.numBytes());
    assert.match(p.figureViews.memory.value, /data-run="2"/);
    assert.notEqual(p.figureViews.memory.value, "", "redrawn");
    assert.match(p.status.value, /rebuilt: scheme none → int8wo/);
  });

  it("an offload change only re-hooks the same model; offloading moves every weight byte once per step", async () => {
    const resident = p.report!;
    const model = p.model!;
    const o = (await p.set({ offloadType: "block_level", numBlocksPerGroup: 1, useStream: true, prefetchDepth: 1 }))!;
    assert.equal(o.status, "ok", o.message);
    assert.equal(o.action, "rehook");
    assert.equal(p.model, model, "same model object");
    const hooks = hookNames(model);
    assert.ok(hooks.has("group_offloading") && hooks.has("group_offloading_root"), [...hooks].join(", "));
    const s = p.report!.summary;
    assert.equal(s.modelMemory, 0, "nothing rests on the device");
    assert.equal(s.h2dBytes - resident.summary.h2dBytes, resident.summary.modelMemory, "host→device traffic grows by exactly the weights");
    assert.ok(s.inferenceMemory < resident.summary.inferenceMemory);
    assert.equal(p.controls.numBlocksPerGroup.max, 2, "the slider goes up to the longest block list (2 double-stream blocks)");
    assert.equal(p.controls.numBlocksPerGroup.get("disabled"), false);
    assert.equal(p.controls.prefetchDepth.get("disabled"), false);
  });

  it("adding fp8 storage re-hooks; going back to no quantization rebuilds with the casting applied", async () => {
    const model = p.model!;
    const added = (await p.set({ storageDtype: "float8_e4m3fn" }))!;
    assert.equal(added.status, "ok", added.message);
    assert.equal(added.action, "rehook");
    assert.equal(p.model, model);
    assert.ok(hookNames(model).has("layerwise_casting"));
    const rebuilt = (await p.set({ scheme: "none" }))!;
    assert.equal(rebuilt.action, "rebuild");
    const fresh = p.model!;
    assert.notEqual(fresh, model);
    assert.ok(hookNames(fresh).has("layerwise_casting") && hookNames(fresh).has("group_offloading"));
    assert.equal((probe(fresh).weight("weight") as vl.Tensor).dtype, "float8_e4m3fn");
    const bf16 = p.outcomes[0]!.report!.summary;
    assert.ok(fresh.numBytes() < bf16.modelMemory, "fp8 storage is smaller than bf16");
    assert.equal(p.report!.summary.h2dBytes - bf16.h2dBytes, fresh.numBytes(), "offloaded fp8 weights cross the link once per step, as stored");
  });

  it("a budget that cannot fit shows a message and keeps the previous model, report, figures and controls", async () => {
    const report = p.report;
    const model = p.model;
    const figure = p.figureViews.timeline.value;
    const config = p.config!;
    const o = (await p.set({ budget: "40 KiB", offloadType: "leaf_level" }))!;
    assert.equal(o.status, "failed");
    assert.match(o.message, /out of memory under the 40\.0 KiB budget/);
    assert.match(p.status.value, /data-status="error".*out of memory under the 40\.0 KiB budget.*Press &quot;plan&quot;.*kept the previous settings/s);
    assert.equal(p.report, report);
    assert.equal(p.model, model);
    assert.equal(p.figureViews.timeline.value, figure);
    assert.equal(p.controls.offloadType.value, config.offloadType, "controls back to the last good settings");
    assert.equal(p.controls.budget.value, "40 KiB", "the budget text stays, for plan");
    assert.equal((vl.getDevice(DEV) as vl.SimDevice).memoryLimitOverride, null, "the memory limit is lifted after the run");
    assert.ok(hookNames(model!).has("group_offloading"), "the previous offloading is back on");
    // and the model still runs: without the budget the settings are the last good ones, and profiling them again gives the same numbers
    assert.equal((await p.set({ budget: "" }))!.status, "unchanged");
    const again = (await p.refresh())!;
    assert.equal(again.status, "ok", again.message);
    assertSameSummary(p.report!.summary, report!.summary);
  });

  it("an invalid combination and an unreadable budget are messages; nothing is touched", async () => {
    const report = p.report;
    const offload = (await p.set({ device: "cpu" }))!;
    assert.equal(offload.status, "failed");
    assert.match(offload.message, /block_level moves weights between the host and an accelerator, but cpu is the host/);
    assert.equal(p.controls.device.value, DEV);
    const text = (await p.set({ budget: "a lot" }))!;
    assert.equal(text.status, "failed");
    assert.match(p.status.value, /VRAM budget &quot;a lot&quot; is not a size/);
    assert.equal(p.controls.budget.value, "", "an unreadable budget goes back to the last good text");
    assert.equal(p.report, report);
  });

  it("plan: nothing fits a tiny budget (message, state kept); a feasible budget sets the offload controls and profiles the plan", async () => {
    const report = p.report;
    p.controls.budget.value = "64 KiB";
    await p.settled(); // fails: out of memory under 64 KiB
    const none = (await p.plan())!;
    assert.equal(none.job, "plan");
    assert.equal(none.status, "failed");
    assert.match(p.notice.value, /nothing fits 64\.0 KiB on sim:h100-sxm/);
    assert.equal(p.report, report);
    const ok = await p.refresh();
    assert.equal(ok!.status, "failed", "still out of memory under 64 KiB");

    p.controls.budget.value = "600 KiB";
    await p.settled();
    const runsBefore = p.outcomes.length;
    const planned = (await p.plan())!;
    const [planRun, profileRun] = p.outcomes.slice(runsBefore);
    assert.equal(planRun!.job, "plan");
    assert.equal(planRun!.status, "ok", planRun!.message);
    assert.equal(profileRun!.status, "ok", profileRun!.message);
    assert.equal(planned, profileRun);
    const best = planRun!.plan!.best!;
    assert.equal(p.controls.offloadType.value, best.setting.offloadType);
    assert.equal(p.config!.budgetBytes, 600 * 1024);
    assert.ok(p.report!.info.inferenceReserved <= 600 * 1024, "the planned setting fits when profiled under the limit");
    assert.equal(p.report!.summary.inferenceMemory, best.peakBytes, "the profile reproduces the plan's modelled peak");
    await p.set({ budget: "" });
  });

  it("record hands { config, report } of the last good run to onRecord", async () => {
    const before = records.length;
    const result = await p.record();
    assert.equal(result, `run-${before + 1}`);
    const run = records.at(-1)!;
    assert.deepEqual(run.config, p.config);
    assert.equal(run.report, p.report);
    assert.match(run.label, /storage float8_e4m3fn/);
    assert.match(p.notice.value, /recorded: .*run-\d/);
    // the button does the same
    const clicked = new Promise<PanelRun>((resolve) => {
      const n = records.length;
      const t = setInterval(() => {
        if (records.length > n) {
          clearInterval(t);
          resolve(records.at(-1)!);
        }
      }, 5);
    });
    await p.controls.record.click();
    assert.equal((await clicked).report, p.report);
  });

  it("a newer change aborts the running profile instead of queueing it", async () => {
    const runs = p.outcomes.length;
    const started = new Promise<void>((resolve) => {
      const off = p.progress.observe("description", () => {
        if (/forward/.test(p.progress.get<string>("description"))) {
          off();
          resolve();
        }
      });
    });
    const target = p.config!.offloadType === "leaf_level" ? "block_level" : "leaf_level";
    p.controls.offloadType.value = target;
    await started; // the first run is inside a forward now
    p.controls.prefetchDepth.value = 2;
    p.controls.useStream.value = false; // a third change while the second is pending: still one run
    const last = (await p.settled())!;
    const fresh = p.outcomes.slice(runs);
    assert.deepEqual(fresh.map((o) => o.status), ["cancelled", "ok"], fresh.map((o) => `${o.status}: ${o.message}`).join("\n"));
    assert.match(fresh[0]!.error!.message, /forward stopped|superseded/);
    assert.equal(last.config!.useStream, false);
    assert.equal(p.config!.offloadType, target);
    assert.equal(p.config!.useStream, false);
    assert.equal(p.report!.info.device, DEV);
  });

  it("five changes and back leak nothing: cpu, device and pinned memory as after the first run, and zero after dispose", async () => {
    const first = p.outcomes[0]!.config!;
    const steps: Parameters<Panel["set"]>[0][] = [
      { scheme: "fp8wo" },
      { offloadType: "block_level", useStream: true, numBlocksPerGroup: 2 },
      { computeDtype: "float32" },
      { storageDtype: "bfloat16", offloadType: "model_cpu_offload" },
      { device: "sim:h200:meta", offloadType: "sequential_cpu_offload" },
    ];
    for (const s of steps) {
      const o = (await p.set(s))!;
      assert.equal(o.status, "ok", `${JSON.stringify(s)}: ${o.message}`);
    }
    const back = (await p.set({ scheme: first.scheme, storageDtype: first.storageDtype, computeDtype: first.computeDtype, offloadType: first.offloadType, device: first.device, budget: "" }))!;
    assert.equal(back.status, "ok", back.message);
    assert.deepEqual(memoryNow(), afterFirst);
    assert.equal(vl.memory("sim:h200:meta").allocated, 0, "the meta run's device is empty again (model back on cpu)");
    await p.dispose();
    assert.deepEqual(memoryNow(), baseline);
    assert.ok(p.widget.closed && p.controls.scheme.closed);
  });
});

describe("panel edge cases", () => {
  it("fixed input tensors: the device is theirs, they are not freed, and a failing first build is a message", async () => {
    const m0 = await vl.models.flux("tiny", { dtype: "bfloat16" });
    const x = vl.models.fluxInputs(m0, { device: DEV });
    m0.dispose();
    let calls = 0;
    const p = await panel<Flux, Inputs>(async (c) => {
      calls++;
      if (calls === 1) throw new Error("factory broke");
      return vl.models.flux("tiny", { device: c.device, dtype: c.dtype });
    }, x);
    assert.equal(p.outcomes[0]!.status, "failed");
    assert.match(p.status.value, /factory broke.*no earlier run/s);
    assert.deepEqual(p.controls.device.options.map((o) => o.value), [DEV]);
    assert.equal(p.controls.device.disabled, true);
    const o = (await p.refresh())!;
    assert.equal(o.status, "ok", o.message);
    assert.equal(p.inputs, x);
    await p.dispose();
    assert.equal(x.hiddenStates.isDisposed, false, "given inputs stay the caller's");
    vl.models.disposeInputs(x);
  });

  it("a factory that hands back the same (freed) model is told to make a new one; the failed restore is reported too", async () => {
    const cached = await vl.models.flux("tiny", { dtype: "bfloat16" });
    const p = await panel<Flux, Inputs>(() => cached, inputs, { initial: { device: DEV } });
    assert.equal(p.outcomes[0]!.status, "ok");
    const o = (await p.set({ scheme: "int8wo" }))!;
    assert.equal(o.status, "failed");
    assert.match(o.message, /the factory must make a new one on each call/);
    assert.match(p.status.value, /restoring the previous settings failed too/);
    assert.equal(p.controls.scheme.value, "none", "controls back to the last good settings");
    await p.dispose();
    assert.equal(vl.memory(DEV).allocated, 0);
  });

  it("record: the default recorder stores the run as an experiment; without a recorder it says so; a replaced default serves panels without onRecord; a failing hook is a message", async () => {
    const p = await panel<Flux, Inputs>(factory, inputs, { initial: { device: DEV } });
    const storeFile = join(mkdtempSync(join(tmpdir(), "vramlab-panel-record-")), "experiments.jsonl");
    const storeBefore = vl.experiments.open(storeFile);
    const id = await p.record();
    assert.equal(typeof id, "string");
    const stored = storeBefore.get(id as string);
    assert.equal(stored.name, "panel");
    assert.deepEqual(stored.config, JSON.parse(JSON.stringify(p.config)));
    assert.equal(stored.metrics.modelMemory, p.report!.summary.modelMemory);
    assert.equal(stored.environment.device, DEV);
    const storedDefault = setDefaultPanelRecorder(null);
    assert.equal(await p.record(), undefined);
    assert.match(p.notice.value, /recording needs a recorder/);
    setDefaultPanelRecorder(storedDefault);
    const seen: PanelRun[] = [];
    const previous = setDefaultPanelRecorder((run) => {
      seen.push(run);
      return "stored";
    });
    try {
      assert.equal(await p.record(), "stored");
      assert.equal(seen[0]!.report, p.report);
      assert.deepEqual(seen[0]!.config, p.config);
      setDefaultPanelRecorder(() => {
        throw new Error("store is read-only");
      });
      await assert.rejects(p.record(), /store is read-only/);
      assert.match(p.notice.value, /data-status="error".*recording failed: store is read-only/);
      await p.controls.record.click(); // the button's failure stays in the panel (no unhandled rejection)
    } finally {
      setDefaultPanelRecorder(previous);
    }
    await p.dispose();
  });
});
