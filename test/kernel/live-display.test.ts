// A LiveFigure shown in the kernel is published under its own display_id
// and republished in place (update_display_data) as it changes, at most
// every LIVE_UPDATE_INTERVAL_MS, with the last change always delivered.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { display, isLiveDisplayable, LIVE_UPDATE_INTERVAL_MS } from "../../kernel/display.js";
import { setKernelRuntime, type DisplayPublication, type KernelRuntime } from "../../kernel/runtime.js";
import { LiveFigure } from "../../widgets/figures/live-figure.js";
import { Figure, PLOTLY_MIME } from "../../widgets/figures/figure.js";

function recordingRuntime(): { published: DisplayPublication[] } {
  const published: DisplayPublication[] = [];
  const rt = {
    display: (p: DisplayPublication) => published.push(p),
    clearOutput: () => {},
    input: async () => "",
    signal: new AbortController().signal,
    comms: { publish: () => {} },
    commRegistry: null,
    onInterrupt: () => () => {},
  } satisfies KernelRuntime;
  setKernelRuntime(rt);
  return { published };
}
afterEach(() => setKernelRuntime(undefined));

const ys = (p: DisplayPublication) => ((p.data[PLOTLY_MIME] as { data: { y: number[] }[] }).data[0]?.y ?? []);

test("a live figure is shown under its display_id and updated in place, throttled, the last change always delivered", async () => {
  const { published } = recordingRuntime();
  const fig = LiveFigure.lines({ title: "loss", series: ["loss"] });
  assert.ok(isLiveDisplayable(fig));
  assert.ok(!isLiveDisplayable(new Figure([], {})), "a plain figure is not live");
  display(fig);
  assert.equal(published.length, 1);
  assert.equal(published[0]!.displayId, fig.displayId);
  assert.notEqual(published[0]!.update, true);

  fig.appendPoint("loss", 0, 1); // first change: published at once
  assert.equal(published.length, 2);
  assert.equal(published[1]!.update, true);
  assert.equal(published[1]!.displayId, fig.displayId);
  assert.deepEqual(ys(published[1]!), [1]);
  for (let i = 1; i < 50; i++) fig.appendPoint("loss", i, 1 / (i + 1)); // a burst: one trailing update
  assert.equal(published.length, 2, "changes within the interval wait for the trailing update");
  await new Promise((r) => setTimeout(r, LIVE_UPDATE_INTERVAL_MS + 50));
  assert.equal(published.length, 3);
  assert.equal(ys(published[2]!).length, 50, "the trailing update carries every point");
  assert.ok(String(published[2]!.data["image/svg+xml"]).startsWith("<svg"), "updates keep the SVG fallback");

  display(fig); // shown again: same id, no second subscription
  fig.appendPoint("loss", 50, 0.01);
  await new Promise((r) => setTimeout(r, LIVE_UPDATE_INTERVAL_MS + 50));
  const updates = published.slice(4).filter((p) => p.update);
  assert.equal(updates.length, 1, "one update per change, however often the figure was shown");
});

test("a live timeline follows a run on a simulated GPU: the shown figure grows while the forward runs", async () => {
  const vl = await import("../../engine/index.js");
  const { published } = recordingRuntime();
  const DEV = "sim:h100-sxm";
  const model = await vl.models.flux("tiny", { seed: 0 });
  const inputs = vl.models.fluxInputs(model, { height: 128, width: 128, textLength: 8, device: DEV });
  await model.to(DEV);
  const fig = LiveFigure.timeline({ title: "live" });
  display(fig);
  const stop = fig.follow(DEV);
  const out = await model.forward(inputs);
  stop();
  await new Promise((r) => setTimeout(r, LIVE_UPDATE_INTERVAL_MS + 50));
  const spans = fig.data.reduce((a, t) => a + t.x.length, 0);
  assert.ok(spans > 20, `the forward's kernels became spans (${spans})`);
  const updates = published.filter((p) => p.update && p.displayId === fig.displayId);
  assert.ok(updates.length >= 1, "the shown figure was updated in place");
  const last = updates.at(-1)!.data[PLOTLY_MIME] as { data: { x: unknown[] }[] };
  assert.equal(last.data.reduce((a, t) => a + t.x.length, 0), spans, "the last update shows every span");
  const lanes = new Set(fig.data.flatMap((t) => t.y as string[]));
  assert.ok(lanes.size >= 1);
  out.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
});
