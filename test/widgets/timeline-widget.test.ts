// TimelineWidget outside a kernel (a plain model): an anywidget model whose
// _esm is the built front-end module (it loads as an ES module and exports
// render), spans checked on the way in, appends kept and reported in the
// state a front end gets, selection validated and observed, a report's
// stream timeline carried span for span. Its drawing and the front-end
// round trip are checked in chromium (test/browser/widgets-browser.test.ts).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as vl from "../../engine/index.js";
import { TimelineWidget, timelineItems, ANYWIDGET_MODULE } from "../../widgets/timeline-widget.js";
import { ensureBrowserBundle } from "../browser/bundle.js";
import { LinearStack } from "../linear-stack.js";

// the widget carries dist/browser/timeline-widget.js, which the package build makes
before(() => ensureBrowserBundle());

const span = (lane: string, startMs: number, endMs: number, label = `${lane} ${startMs}`) => ({ lane, group: lane === "compute" ? "compute" : "copy host→device", startMs, endMs, label });

test("is an anywidget model carrying the built front-end module, which exports render", async () => {
  const w = new TimelineWidget({ title: "run" });
  const state = w.serializedState();
  assert.deepEqual([state._model_module, state._model_name, state._view_module, state._view_name], ["anywidget", "AnyModel", "anywidget", "AnyView"]);
  assert.equal(state._model_module_version, ANYWIDGET_MODULE.version);
  const built = readFileSync(new URL("../../browser/timeline-widget.js", import.meta.url), "utf8");
  assert.equal(state._esm, built);
  const mod = await import(`data:text/javascript;base64,${Buffer.from(built).toString("base64")}`);
  assert.equal(typeof mod.default.render, "function", "an anywidget front-end module: export default { render }");
  assert.equal(String(state.layout).startsWith("IPY_MODEL_"), true, "a DOM widget with its Layout");
  w.close();
});

test("checks spans, keeps appends, and reports every span in the state a new front end gets", () => {
  assert.throws(() => new TimelineWidget({ spans: [span("compute", 2, 1)] }), /startMs <= endMs, got 2–1/);
  assert.throws(() => new TimelineWidget({ spans: [{ lane: "x" } as never] }), /span\.lane and span\.group must be strings/);
  const w = new TimelineWidget({ spans: [span("compute", 0, 1)], flushIntervalMs: 0 });
  w.append([span("copy", 0, 0.5), span("compute", 1, 2)]);
  w.append(span("compute", 2, 3));
  assert.equal(w.spans.length, 4);
  assert.deepEqual((w.serializedState().spans as unknown[]).length, 4, "request_state(s) and reopened views get the appended spans");
  assert.throws(() => w.append(span("copy", 5, Number.NaN)), /finite startMs <= endMs/);
  assert.equal(w.spans.length, 4, "a bad span adds nothing");
  assert.match(String((w as unknown as { [k: symbol]: () => Record<string, string> })[Symbol.for("Jupyter.display")]()["text/plain"]), /TimelineWidget\(4 spans on 2 lanes\)/);
  w.reset([span("compute", 0, 5)]);
  assert.deepEqual(w.spans.map((s) => s.endMs), [5]);
  w.close();
});

test("selected takes a span index or null; observers see front-end-style changes", () => {
  const w = new TimelineWidget({ spans: [span("compute", 0, 1), span("compute", 1, 2, "second")] });
  const seen: unknown[] = [];
  w.observe("selected", (c) => void seen.push(c.new));
  w.selected = 1;
  assert.equal(w.selectedSpan?.label, "second");
  assert.throws(() => (w.selected = -1), /selected must be a span index/);
  assert.throws(() => (w.selected = 0.5), /selected must be a span index/);
  w.selected = null;
  assert.deepEqual(seen, [1, null]);
  w.close();
});

test("fromReport carries a profiled run's stream timeline span for span", async () => {
  const dev = "sim:h100-sxm";
  const model = new LinearStack({ device: "cpu", width: 64, blocks: 2 });
  model.enableGroupOffload({ onloadDevice: dev, offloadType: "block_level", useStream: true });
  const x = vl.randn([8, 64], { seed: 1, device: dev });
  const report = await vl.profile(model, x, { steps: 1 });
  x.dispose();
  model.dispose();
  const w = TimelineWidget.fromReport(report);
  assert.equal(w.spans.length, report.timeline.length);
  assert.deepEqual(w.spans.map((s) => [s.lane, s.startMs, s.endMs]), report.timeline.map((s) => [s.stream, s.startMs, s.endMs]));
  assert.deepEqual(timelineItems(report), [...w.spans]);
  assert.ok(new Set(w.spans.map((s) => s.group)).size >= 2, "compute and copy spans");
  assert.match(String(w.get("title")), /sim:h100-sxm/);
  w.close();
});

test("follow() shows a device's spans as they are queued, timed from the moment it started", async () => {
  const dev = "sim:h100-sxm";
  const model = new LinearStack({ device: "cpu", width: 64, blocks: 2 });
  model.enableGroupOffload({ onloadDevice: dev, offloadType: "block_level", useStream: true });
  const x = vl.randn([8, 64], { seed: 1, device: dev });
  const w = new TimelineWidget({ title: "live" });
  const seen: number[] = [];
  const timeline = vl.getDevice(dev).timeline;
  const offProbe = timeline.subscribe(() => seen.push(w.spans.length));
  const origin = timeline.hostTimeMs();
  const stop = w.follow(dev);
  const report = await vl.profile(model, x, { steps: 1 });
  stop();
  offProbe();
  // profile() may run the model before its measured step (group offloading learns its order): those spans come first
  const n = report.timeline.length;
  assert.ok(w.spans.length >= n && n > 0, `${w.spans.length} spans followed, ${n} in the report`);
  assert.ok(seen.length === w.spans.length && seen.every((k, i) => k === i), "one span arrives with each queued piece of work");
  // profile() times from its own origin: the same lanes and durations, in order
  const tail = w.spans.slice(-n);
  assert.deepEqual(tail.map((s) => [s.lane, +(s.endMs - s.startMs).toFixed(9)]), report.timeline.map((s) => [s.stream, +(s.endMs - s.startMs).toFixed(9)]));
  assert.ok(w.spans.every((s) => s.startMs >= 0) && origin >= 0, "timed from when following started");
  const before = w.spans.length;
  await vl.profile(model, x, { steps: 1 });
  assert.equal(w.spans.length, before, "nothing is added after stop()");
  x.dispose();
  model.dispose();
  w.close();
});
