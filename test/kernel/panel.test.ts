// The engine control panel in the real kernel, driven by Debian's
// jupyter_client as the frontend (test/kernel/client/panel.py): the cell
// shows the panel, a comm `update` to the quantization dropdown reaches the
// kernel, which rebuilds the model with int8wo, re-profiles (progress bar
// messages), and sends the redrawn figures and status; two updates sent back
// to back end in one run with both applied, no stale run finishing.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { runScenario } from "./kernel-client.js";

describe("engine panel through jupyter_client", () => {
  let r: Record<string, any>;
  before(async () => {
    r = (await runScenario("panel", 170_000)).results;
  });

  it("shows the panel as one widget view (the root VBox) after its first profile", () => {
    assert.equal(r.setup_reply.status, "ok", JSON.stringify(r.setup_errors));
    assert.equal(r.root_model, "VBoxModel");
    assert.deepEqual(Object.keys(r.view).sort(), ["model_id", "version_major", "version_minor"]);
    assert.match(r.first_memory_figure, /^<div class="vramlab-panel-figure" data-figure="memory" data-run="1"><svg /);
    assert.match(r.first_status, /data-status="ok" data-run="1"/);
    assert.ok(r.scheme_labels.includes("int8wo") && r.scheme_labels[0] === "none");
  });

  it("a frontend update of the scheme dropdown is echoed, rebuilds and re-profiles the model", () => {
    assert.deepEqual(r.scheme_echo, [{ index: r.scheme_labels.indexOf("int8wo") }]);
    const runs = r.after_scheme.outcomes;
    assert.deepEqual(runs.map((o: any) => [o.run, o.status, o.action, o.scheme]), [[1, "ok", "rebuild", "none"], [2, "ok", "rebuild", "int8wo"]]);
    assert.equal(r.after_scheme.config.scheme, "int8wo");
    const ratio = runs[1].modelMemory / runs[0].modelMemory;
    assert.ok(ratio > 0.45 && ratio < 0.6, `int8wo / bf16 model memory ${ratio}`);
  });

  it("sends progress bar updates during the run, ending full and green", () => {
    const p = r.progress_updates;
    assert.ok(p.some((s: any) => /run 2: (warm-up|measured) forward/.test(s.description ?? "")), JSON.stringify(p));
    const last = p[p.length - 1];
    assert.equal(last.bar_style, "success");
    assert.equal(last.value, last.max);
  });

  it("sends the redrawn figure and the new status to the frontend", () => {
    const figs = r.memory_figure_updates;
    assert.equal(figs.length, 1, "one redraw per finished run");
    assert.match(figs[0], /data-figure="memory" data-run="2"><svg /);
    assert.notEqual(figs[0], r.first_memory_figure);
    assert.equal(r.after_scheme.memoryFigureRun, "2");
    assert.ok(r.status_updates.some((v: string) => /data-run="2".*rebuilt: scheme none → int8wo/.test(v)), r.status_updates.join("\n"));
  });

  it("two back-to-back frontend updates end in one settled run with both applied", () => {
    const { outcomes, config, hooks } = r.after_burst;
    const fresh = outcomes.slice(2);
    assert.ok(fresh.length >= 1 && fresh.length <= 2, JSON.stringify(fresh));
    assert.equal(fresh[fresh.length - 1].status, "ok");
    // a run for the first update alone is either coalesced away or cancelled, never finished
    for (const o of fresh) if (o.status === "ok") assert.equal(o.useStream, false, JSON.stringify(fresh));
    assert.equal(config.offloadType, "block_level");
    assert.equal(config.useStream, false);
    assert.ok(hooks.includes("group_offloading"), hooks.join(", "));
    assert.equal(r.burst_memory_figures.length, 1, "only the settled run redrew");
  });
});
