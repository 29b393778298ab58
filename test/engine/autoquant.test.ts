import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as vl from "../../engine/index.js";

test("autoquant picks per layer within the SQNR budget, saves a plan, and a saved plan reapplies without timing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-aq-"));
  try {
    const model = await vl.models.flux("tiny", { seed: 5 });
    const inputs = vl.models.fluxInputs(model, { grid: [8, 8], textLength: 8, seed: 2 });
    const planPath = join(dir, "plan.json");
    const result = await vl.autoquant(model, inputs, { minElements: 0, minSqnrDb: 25, repeats: 3, savePlan: planPath, candidates: ["int8wo", "int8dq", "fp8wo", "int4wo"], groupSize: 32 });
    assert.ok(result.decisions.length > 20, "every Linear was considered");
    for (const d of result.decisions) {
      const chosen = d.candidates.find((c) => c.scheme === d.chosen)!;
      assert.ok(chosen.sqnrDb >= 25, `${d.path}: ${d.chosen} at ${chosen.sqnrDb} dB is within the budget`);
      const faster = d.candidates.filter((c) => c.sqnrDb >= 25 && c.ms < chosen.ms);
      assert.deepEqual(faster, [], `${d.path}: nothing within budget was faster than ${d.chosen}`);
    }
    const saved = JSON.parse(readFileSync(planPath, "utf8"));
    assert.equal(saved.version, 1);
    assert.equal(saved.device, "cpu");
    assert.deepEqual(saved.layers, result.plan.layers);

    const out = await model.forward(inputs);
    const fresh = await vl.models.flux("tiny", { seed: 5 });
    const reapplied = await vl.autoquant(fresh, inputs, { plan: planPath });
    assert.deepEqual(reapplied.decisions, [], "no timing when a plan is given");
    assert.deepEqual(reapplied.summary.layers.map((l) => [l.path, l.scheme]), result.summary.layers.map((l) => [l.path, l.scheme]));
    const out2 = await fresh.forward(inputs);
    assert.deepEqual(out2.toFloat32Array(), out.toFloat32Array(), "same plan, same weights: same output");

    const strict = await vl.models.flux("tiny", { seed: 5 });
    const none = await vl.autoquant(strict, inputs, { minElements: 0, minSqnrDb: 200, repeats: 1 });
    assert.ok(none.decisions.every((d) => d.chosen === "none"), "an impossible budget keeps every layer in float");
    assert.equal(none.summary.layers.length, 0);
    for (const t of [out, out2]) t.dispose();
    vl.models.disposeInputs(inputs);
    for (const m of [model, fresh, strict]) m.dispose();
    await assert.rejects(vl.autoquant(fresh, inputs, { plan: join(dir, "missing.json") }), /cannot read the plan/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
