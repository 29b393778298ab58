// vl.planOffload on a dataless simulated device: the small Flux transformer
// (100M parameters, built on meta) planned for an RTX 4090 with budgets that
// fit everything, a fraction of the weights, and nothing. The chosen setting
// is re-applied by hand and profiled under the budget as a hard limit: it
// must not run out of memory and must reproduce the predicted numbers (the
// model is deterministic: bytes exactly, times to 1e-9 relative for float64
// sums). The planner must leave the model exactly as it found it.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

const DEV = "sim:rtx4090:meta";
const REL = 1e-9;

async function setup() {
  const model = await vl.models.flux("small", { device: "meta", dtype: "bfloat16" });
  const inputs = vl.models.fluxInputs(model, { height: 512, width: 512, textLength: 64, device: DEV, dtype: "bfloat16" });
  return { model, inputs, dev: vl.getDevice(DEV) as vl.SimDevice };
}

/** What "as found" means: the same weight object in every slot, the same hooks, the same memory on host and device. */
function state(model: vl.Module) {
  return {
    weights: [...model.namedWeights()].map(([name, w]) => [name, w] as const),
    hooks: [...model.namedModules()].filter(([, m]) => m.hasHooks).map(([p, m]) => `${p}: ${m.hooks.names().join(",")}`),
    meta: vl.hostMemory("meta"),
    device: vl.memory(DEV).allocated,
    limit: (vl.getDevice(DEV) as vl.SimDevice).memoryLimitOverride,
  };
}

function assertSameState(before: ReturnType<typeof state>, after: ReturnType<typeof state>): void {
  assert.equal(after.weights.length, before.weights.length);
  after.weights.forEach(([name, w], i) => {
    assert.equal(name, before.weights[i]![0]);
    assert.ok(w === before.weights[i]![1], `${name}: the same weight object is back in its slot`);
  });
  assert.deepEqual(after.hooks, before.hooks, "the hooks the model had, and no others");
  assert.deepEqual({ ...after.meta, peakPinned: 0 }, { ...before.meta, peakPinned: 0 }, "host bytes and pinning as before");
  assert.equal(after.device, before.device, "only the inputs stay on the device");
  assert.equal(after.limit, before.limit, "the memory limit is restored");
}

test("with room for everything the planner keeps the model resident, and predicts what a resident run measures", async () => {
  const { model, inputs, dev } = await setup();
  const before = state(model);
  const plan = await vl.planOffload(model, inputs, { device: DEV, budgetBytes: dev.capacityBytes });
  assertSameState(before, state(model));
  assert.deepEqual(plan.setting, { offloadType: "none" });
  assert.ok(plan.verified);
  const fitting = plan.trials.filter((t) => t.fits);
  assert.ok(fitting.length > 1, "offload settings fit too");
  for (const t of fitting) assert.ok(t.timeMs! >= plan.predictedTimeMs! * (1 - 1e-6), `${t.label} is not faster than no offload`);

  await plan.apply(model);
  const r = await vl.profile(model, inputs, { warmup: 1 });
  assert.equal(r.summary.inferenceMemory, plan.predictedPeakBytes);
  assert.ok(Math.abs(r.summary.timeMs - plan.predictedTimeMs!) <= REL * r.summary.timeMs);
  assert.equal(r.summary.modelMemory, model.numBytes());
  await model.to("meta");
  vl.models.disposeInputs(inputs);
  model.dispose();
});

test("under 40% of the weights: the chosen setting re-run under the budget as a hard limit stays within it and matches the prediction", async () => {
  const { model, inputs, dev } = await setup();
  const budget = Math.round(0.4 * model.numBytes());
  const before = state(model);
  const seen: string[] = [];
  const plan = await vl.planOffload(model, inputs, { device: DEV, budgetBytes: budget, onTrial: (t) => seen.push(t.label) });
  assertSameState(before, state(model));
  assert.deepEqual(seen, plan.trials.map((t) => t.label), "onTrial saw every trial");

  const none = plan.trials[0]!;
  assert.equal(none.setting.offloadType, "none");
  assert.ok(!none.fits && !none.ran && /the weights alone need/.test(none.reason!), "no offload is ruled out by arithmetic");
  for (const t of plan.trials) {
    if (t.fits) assert.ok(t.peakReserved! <= budget, `${t.label} fits`);
    else if (t.ran && t.peakReserved !== null) assert.ok(t.peakReserved > budget, `${t.label} does not fit`);
  }
  assert.ok(plan.trials.some((t) => t.fits && t.residentGroups > 0), "the headroom was filled with resident groups");
  const best = plan.best!;
  assert.ok(best.setting.offloadType !== "none");
  for (const t of plan.trials) if (t.fits) assert.ok(best.timeMs! <= t.timeMs! * (1 + 1e-6), `best is at least as fast as ${t.label}`);

  // apply the plan and profile under the budget as a hard memory limit
  const summary = await plan.apply(model);
  assert.equal(summary!.groups.filter((g) => g.resident).length, best.residentGroups);
  dev.setMemoryLimit(budget);
  try {
    const r = await vl.profile(model, inputs, { warmup: 1 });
    assert.ok(r.summary.inferenceMemory <= budget && r.info.inferenceReserved <= budget);
    assert.equal(r.summary.inferenceMemory, plan.predictedPeakBytes);
    assert.ok(Math.abs(r.summary.timeMs - plan.predictedTimeMs!) <= REL * r.summary.timeMs);
    assert.equal(r.summary.h2dBytes, best.h2dBytes);
  } finally {
    dev.setMemoryLimit(null);
  }
  vl.removeGroupOffloading(model);
  vl.models.disposeInputs(inputs);
  model.dispose();
});

test("a budget nothing fits gives no setting and says so; bad arguments fail before anything runs", async () => {
  const { model, inputs, dev } = await setup();
  const before = state(model);
  const plan = await vl.planOffload(model, inputs, { device: DEV, budgetBytes: 2 * 1024 * 1024, candidates: [{ offloadType: "none" }, { offloadType: "leaf_level", prefetchDepth: 1, useStream: true }] });
  assertSameState(before, state(model));
  assert.equal(plan.best, null);
  assert.equal(plan.trials.length, 2);
  assert.match(plan.toString(), /nothing fits 2\.0 MiB on sim:rtx4090:meta/);
  await assert.rejects(plan.apply(model), /found no setting within 2\.0 MiB/);

  await assert.rejects(vl.planOffload(model, inputs, { device: "cpu", budgetBytes: 1e9 }), /not a simulated device/);
  await assert.rejects(vl.planOffload(model, inputs, { device: DEV, budgetBytes: dev.capacityBytes + 1 }), /exceeds sim:rtx4090:meta's/);
  await assert.rejects(vl.planOffload(model, inputs, { device: DEV, budgetBytes: -1 }), /positive integer/);
  model.enableGroupOffload({ onloadDevice: DEV, offloadDevice: "meta" });
  await assert.rejects(vl.planOffload(model, inputs, { device: DEV, budgetBytes: 1e9 }), /group offloading is already applied/);
  vl.removeGroupOffloading(model);
  await model.to(DEV);
  await assert.rejects(vl.planOffload(model, inputs, { device: DEV, budgetBytes: 1e9 }), /must all rest on one host device/);
  vl.models.disposeInputs(inputs);
  model.dispose();
});

test("quantized weights and fp8 storage plan through the flatten protocol and come back untouched", async () => {
  const { model, inputs, dev } = await setup();
  vl.quantize(model, { scheme: "int8wo" });
  model.enableLayerwiseCasting({ storageDtype: "float8_e4m3fn", computeDtype: "bfloat16" });
  const before = state(model);
  const budget = Math.round(0.5 * model.numBytes());
  const plan = await vl.planOffload(model, inputs, {
    device: DEV, budgetBytes: budget,
    candidates: [{ offloadType: "none" }, { offloadType: "leaf_level", prefetchDepth: 1, useStream: true }],
  });
  assertSameState(before, state(model));
  assert.ok(plan.best && plan.best.setting.offloadType === "leaf_level" && plan.verified);
  assert.ok(plan.best.residentGroups > 0 && plan.best.modelMemory! > 0, "some leaves stay resident");
  assert.ok(plan.best.peakReserved! <= budget);
  assert.ok(dev.memoryLimitOverride === null);
  vl.models.disposeInputs(inputs);
  model.dispose();
});
