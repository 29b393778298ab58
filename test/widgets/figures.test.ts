// Figures built from a real profiler Report (3 Linear blocks + a head on
// sim:h100-sxm, block offloading with streams, so the timeline has copy and
// compute spans) and from bench/quant's results: plotly traces carry the
// report's values exactly, the SVG is well-formed XML (a strict little parser
// below) with one rect per bar or span at coordinates proportional to the
// values, text is escaped, the HTML calls Plotly.newPlot, and the MIME bundle
// has exactly the four keys. SVG coordinates are printed to 0.01 px, so
// proportionality is checked to 0.02 px per coordinate (stated per check).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as vl from "../../engine/index.js";
import { Figure, LiveFigure, PLOTLY_MIME, memoryBars, memoryOverTime, schemeComparison, streamTimeline, timeBars, type BarTrace, type SchemeRow } from "../../widgets/index.js";
import { LinearStack } from "../linear-stack.js";

const DEV = "sim:h100-sxm";
const M = 64;
const D = 256;
const OUT = 16;
const PX = 0.02; // two roundings to 0.01 px

async function offloadedReport(): Promise<vl.Report> {
  const model = new LinearStack({ device: "cpu", width: D, blocks: 3, out: OUT });
  model.enableGroupOffload({ onloadDevice: DEV, offloadType: "block_level", useStream: true });
  const x = vl.randn([M, D], { seed: 1, device: DEV });
  const r = await vl.profile(model, x, { steps: 2 });
  x.dispose();
  model.dispose();
  return r;
}

// ---- a strict XML reader: elements, double-quoted attributes, text; "<" and bare "&" rejected ----
interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
function checkText(s: string, where: string): string {
  assert.ok(!s.includes("<"), `raw "<" in ${where}`);
  assert.ok(!s.replace(ENTITY, "").includes("&"), `bare "&" in ${where}: ${s}`);
  return s.replace(ENTITY, (e) => ({ "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'" })[e] ?? "?");
}
function parseXml(src: string): XmlElement {
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack = [root];
  let i = 0;
  while (i < src.length) {
    const top = stack[stack.length - 1]!;
    if (src[i] !== "<") {
      const j = src.indexOf("<", i) === -1 ? src.length : src.indexOf("<", i);
      const text = checkText(src.slice(i, j), `text of <${top.name}>`);
      if (top === root) assert.equal(text.trim(), "", "text outside the root element");
      top.text += text;
      i = j;
      continue;
    }
    const end = src.indexOf(">", i);
    assert.ok(end > 0, "unclosed tag");
    const tag = src.slice(i + 1, end);
    i = end + 1;
    if (tag.startsWith("/")) {
      const el = stack.pop()!;
      assert.equal(tag.slice(1), el.name, "closing tag matches the open one");
      continue;
    }
    const selfClosing = tag.endsWith("/");
    const m = /^([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*\/?$/.exec(tag);
    assert.ok(m, `malformed tag <${tag}>`);
    const attrs: Record<string, string> = {};
    for (const a of m[2]!.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
      assert.ok(!(a[1]! in attrs), `attribute ${a[1]} twice`);
      attrs[a[1]!] = checkText(a[2]!, `attribute ${a[1]}`);
    }
    const el: XmlElement = { name: m[1]!, attrs, children: [], text: "" };
    assert.ok(top !== root || root.children.length === 0, "one root element");
    top.children.push(el);
    if (!selfClosing) stack.push(el);
  }
  assert.equal(stack.length, 1, "every element closed");
  assert.equal(root.children.length, 1);
  return root.children[0]!;
}
function all(el: XmlElement, pred: (e: XmlElement) => boolean, out: XmlElement[] = []): XmlElement[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}
function bars(svg: string, trace?: number): { x: number; y: number; w: number; h: number; index: number; trace: number; title: string }[] {
  const root = parseXml(svg);
  assert.equal(root.name, "svg");
  assert.equal(root.attrs.xmlns, "http://www.w3.org/2000/svg");
  return all(root, (e) => e.name === "rect" && e.attrs.class === "vl-bar")
    .map((e) => ({ x: +e.attrs.x!, y: +e.attrs.y!, w: +e.attrs.width!, h: +e.attrs.height!, index: +e.attrs["data-index"]!, trace: +e.attrs["data-trace"]!, title: e.children[0]?.text ?? "" }))
    .filter((b) => trace === undefined || b.trace === trace);
}

/** Pixel lengths are one scale times the values (to PX per bar): the fit uses the largest value. */
function assertProportional(lengths: number[], values: number[], what: string): void {
  const k = values.reduce((best, v, i) => (Math.abs(v) > Math.abs(values[best]!) ? i : best), 0);
  const scale = lengths[k]! / values[k]!;
  assert.ok(scale > 0, `${what}: positive scale`);
  values.forEach((v, i) => assert.ok(Math.abs(lengths[i]! - scale * v) <= PX, `${what} #${i}: ${lengths[i]} px vs ${scale * v}`));
}

function bundleOf(f: Figure): Record<string, unknown> {
  return (f as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")]!();
}

test("per-layer memory and time bars carry the report's values; the SVG has one bar per value, heights proportional", async () => {
  const r = await offloadedReport();
  const rows = r.stepLayers().filter((l) => l.depth === 0);
  assert.deepEqual(rows.map((l) => l.name), ["blocks.0", "blocks.1", "blocks.2", "head"]);

  const mem = memoryBars(r);
  const json = mem.toPlotlyJSON();
  assert.deepEqual(json.data.map((t) => t.name), ["weights", "peak above entry", "host→device"]);
  assert.deepEqual(json.data.map((t) => t.type), ["bar", "bar", "bar"]);
  for (const t of json.data) assert.deepEqual(t.x, rows.map((l) => l.name));
  assert.deepEqual(json.data[0]!.y, rows.map((l) => l.bytes));
  assert.deepEqual(json.data[1]!.y, rows.map((l) => l.peakIncrease));
  assert.deepEqual(json.data[2]!.y, rows.map((l) => l.h2dBytes));
  assert.equal(json.layout.barmode, "group");
  const memSvg = mem.toSVG();
  const memBars = bars(memSvg);
  assert.equal(memBars.length, 3 * rows.length, "one rect per bar");
  // heights share one bytes-per-pixel scale across traces; bars stand on the same baseline
  const memValues = memBars.map((b) => (json.data[b.trace]!.y as number[])[b.index]!);
  assertProportional(memBars.map((b) => b.h), memValues, "memory bar height");
  const baseline = memBars[0]!.y + memBars[0]!.h;
  for (const b of memBars) assert.ok(Math.abs(b.y + b.h - baseline) <= PX, "common baseline");
  // grouped: within a layer the three bars sit side by side, left to right in trace order
  for (let i = 0; i < rows.length; i++) {
    const g = memBars.filter((b) => b.index === i).sort((a, b) => a.trace - b.trace);
    assert.ok(g[0]!.x < g[1]!.x && g[1]!.x < g[2]!.x);
    assert.ok(Math.abs(g[0]!.x + g[0]!.w - g[1]!.x) <= PX, "adjacent within the group");
  }
  assert.match(memSvg, />blocks\.0</);
  assert.match(memSvg, /MiB|KiB/, "byte ticks in binary units");

  const time = timeBars(r);
  const tj = time.toPlotlyJSON();
  assert.deepEqual(tj.data[0]!.y, rows.map((l) => l.timeMs));
  assert.deepEqual(tj.data[1]!.y, rows.map((l) => l.computeMs));
  assert.match(tj.layout.yaxis!.title!.text, /modelled ms on sim:h100-sxm/);
  const timeBarsSvg = bars(time.toSVG());
  assert.equal(timeBarsSvg.length, 2 * rows.length);
  assertProportional(timeBarsSvg.map((b) => b.h), timeBarsSvg.map((b) => (tj.data[b.trace]!.y as number[])[b.index]!), "time bar height");

  // the same figures from the plain columns
  assert.deepEqual(memoryBars(r.figures()).toPlotlyJSON(), json);
});

test("stream timeline: compute and copy spans on their streams, one rect per span, x and width linear in ms", async () => {
  const r = await offloadedReport();
  const fig = streamTimeline(r);
  const json = fig.toPlotlyJSON();
  const traces = json.data as BarTrace[];
  assert.deepEqual(traces.map((t) => t.name).sort(), ["compute", "copy host→device"]);
  assert.equal(json.layout.barmode, "overlay");
  const total = traces.reduce((a, t) => a + t.x.length, 0);
  assert.equal(total, r.timeline.length, "every span drawn");
  for (const t of traces) {
    assert.equal(t.orientation, "h");
    const resource = t.name === "compute" ? "compute" : "h2d";
    const spans = r.timeline.filter((s) => s.resource === resource);
    assert.deepEqual(t.base, spans.map((s) => s.startMs), `${t.name} starts`);
    assert.deepEqual(t.x, spans.map((s) => s.endMs - s.startMs), `${t.name} durations`);
    assert.deepEqual(t.y, spans.map((s) => s.stream), `${t.name} lanes`);
  }
  const copyLanes = new Set(r.timeline.filter((s) => s.streamKind === "copy").map((s) => s.stream));
  const computeLanes = new Set(r.timeline.filter((s) => s.streamKind === "compute").map((s) => s.stream));
  assert.ok(copyLanes.size > 0 && computeLanes.size > 0);

  const rects = bars(fig.toSVG());
  assert.equal(rects.length, r.timeline.length, "one rect per span");
  // x = x0 + scale * startMs and width = scale * duration, with one scale for every span
  const withValues = rects.map((b) => {
    const t = traces[b.trace]!;
    return { ...b, start: t.base![b.index]!, dur: t.x[b.index] as number, lane: t.y[b.index] as string };
  });
  assertProportional(withValues.map((b) => b.w), withValues.map((b) => b.dur), "span width");
  const a = withValues.reduce((p, q) => (q.start > p.start ? q : p));
  const z = withValues.reduce((p, q) => (q.start < p.start ? q : p));
  const scale = (a.x - z.x) / (a.start - z.start);
  for (const b of withValues) assert.ok(Math.abs(b.x - (z.x + scale * (b.start - z.start))) <= 2 * PX, "span start linear in ms");
  // spans on one lane share a row; different lanes get different rows
  const rowOf = new Map<string, number>();
  for (const b of withValues) {
    if (!rowOf.has(b.lane)) rowOf.set(b.lane, b.y);
    assert.equal(b.y, rowOf.get(b.lane));
  }
  assert.equal(new Set(rowOf.values()).size, rowOf.size);
  assert.ok(withValues.every((b) => b.title.includes("ms")), "hover text as <title>");
});

test("memory over time is a step line through every event; scheme comparison draws bench/quant rows in three panels", async () => {
  const r = await offloadedReport();
  const fig = memoryOverTime(r);
  const json = fig.toPlotlyJSON();
  assert.equal(json.data.length, 1);
  assert.deepEqual(json.data[0]!.x, r.memory.map((p) => p.timeMs));
  assert.deepEqual(json.data[0]!.y, r.memory.map((p) => p.allocated));
  const svg = parseXml(fig.toSVG());
  const paths = all(svg, (e) => e.name === "path" && e.attrs.class === "vl-line");
  assert.equal(paths.length, 1);
  assert.equal((paths[0]!.attrs.d!.match(/[MH]/g) ?? []).length, r.memory.length, "one vertex per event");

  const bench = JSON.parse(readFileSync(new URL("../../../bench/results/quant-2026-11-22.json", import.meta.url), "utf8")) as { small: { rows: SchemeRow[] } };
  const rows = bench.small.rows;
  const cmp = schemeComparison(rows);
  const cj = cmp.toPlotlyJSON();
  assert.deepEqual(cj.data.map((t) => t.y), [rows.map((q) => q.modelBytes), rows.map((q) => q.peakBytes), rows.map((q) => q.forwardMs), rows.map((q) => q.sqnrDb)]);
  assert.equal(rows[0]!.sqnrDb, null, "the reference has no SQNR");
  const cs = cmp.toSVG();
  const root = parseXml(cs);
  assert.equal(all(root, (e) => e.name === "g" && e.attrs.class === "vl-panel").length, 3);
  const cb = bars(cs);
  assert.equal(cb.length, 4 * rows.length - 1, "every value but the reference's SQNR");
  for (const [trace, values] of [[2, rows.map((q) => q.forwardMs)], [3, rows.slice(1).map((q) => q.sqnrDb!)]] as const) {
    const b = cb.filter((x) => x.trace === trace);
    assertProportional(b.map((x) => x.h), values as number[], `trace ${trace} height`);
  }
  // panels do not overlap
  const right = (t: number) => Math.max(...cb.filter((x) => x.trace === t).map((x) => x.x + x.w));
  const left = (t: number) => Math.min(...cb.filter((x) => x.trace === t).map((x) => x.x));
  assert.ok(right(1) < left(2) && right(2) < left(3));
});

test("escaping, HTML and the MIME bundle", async () => {
  const r = await offloadedReport();
  const cols = r.figures();
  cols.layers.name[0] = `blocks.<&>"0'</script>`;
  const fig = memoryBars(cols);
  const svg = fig.toSVG();
  parseXml(svg); // throws on a raw "<" or "&"
  assert.ok(svg.includes("blocks.&lt;&amp;&gt;&quot;0&apos;&lt;/script&gt;"));
  assert.ok(!svg.includes("<&>"));

  const html = fig.toHTML({ divId: "fig-under-test" });
  assert.match(html, /<div id="fig-under-test" class="vramlab-figure"/);
  assert.match(html, /Plotly\.newPlot\(el, fig\.data, fig\.layout/);
  assert.equal(html.match(/<\/script>/g)!.length, 1, "the layer name cannot close the script early");
  const embedded = /var fig = (.*);\n/.exec(html)![1]!;
  assert.deepEqual(JSON.parse(embedded), fig.toPlotlyJSON(), "the script's JSON is the plotly figure");

  const inlined = fig.toHTML({ inlinePlotly: true });
  assert.ok(inlined.length > 1_000_000, "plotly.js is inlined");
  assert.ok(inlined.indexOf("newPlot") < inlined.indexOf("Plotly.newPlot(el"), "the library comes before the call");

  const bundle = bundleOf(fig);
  assert.deepEqual(Object.keys(bundle).sort(), [PLOTLY_MIME, "image/svg+xml", "text/html", "text/plain"].sort());
  assert.deepEqual(bundle[PLOTLY_MIME], fig.toPlotlyJSON());
  assert.equal(bundle["image/svg+xml"], svg);
  assert.match(bundle["text/plain"] as string, /^Figure "Per-layer memory \(sim:h100-sxm\)": 3 traces \(bars\), 12 points$/);
  assert.ok(!(bundle["text/html"] as string).includes("plotly.js v"), "the notebook bundle does not inline plotly.js");
  // where scripts are stripped (GitHub) or plotly.js is absent, the HTML still shows the SVG
  assert.ok((bundle["text/html"] as string).includes(`class="vramlab-figure" style="width:720px;height:420px">${svg}</div>`), "the div holds the SVG fallback");
});

test("a live figure re-renders as points and spans arrive; batches announce once; maxPoints keeps the newest", () => {
  const live = LiveFigure.lines({ title: "steps", xTitle: "step", yTitle: "ms", maxPoints: 3 });
  const seen: number[] = [];
  const off = live.onUpdate((f) => seen.push(bars(f.toSVG()).length + parseXml(f.toSVG()).children.length));
  live.appendPoint("step ms", 0, 10);
  live.appendPoint("step ms", 1, 12);
  assert.equal(seen.length, 2);
  assert.equal(live.version, 2);
  live.batch(() => {
    for (let s = 2; s < 6; s++) live.appendPoint("step ms", s, 10 + s);
    live.appendPoint("mean", 5, 12);
  });
  assert.equal(seen.length, 3, "one update for the batch");
  assert.deepEqual(live.data[0]!.x, [3, 4, 5], "the newest three");
  assert.deepEqual(live.data.map((t) => t.name), ["step ms", "mean"]);
  const markers = all(parseXml(live.toSVG()), (e) => e.name === "circle");
  assert.equal(markers.length, 4);
  off();
  live.appendPoint("mean", 6, 12);
  assert.equal(seen.length, 3, "unsubscribed");

  const tl = LiveFigure.timeline({ title: "run" });
  let updates = 0;
  tl.onUpdate(() => updates++);
  tl.appendSpans([{ lane: "compute", group: "compute", startMs: 0, endMs: 2 }, { lane: "copy", group: "copy host→device", startMs: 1, endMs: 4 }]);
  tl.appendSpans([{ lane: "compute", group: "compute", startMs: 2, endMs: 3 }]);
  assert.equal(updates, 2);
  const rects = bars(tl.toSVG());
  assert.equal(rects.length, 3);
  assertProportional(rects.map((b) => b.w), rects.map((b) => (tl.data[b.trace] as BarTrace).x[b.index] as number), "live span width");
  assert.deepEqual(rects.map((b) => (tl.data[b.trace] as BarTrace).x[b.index]).sort(), [1, 2, 3]);
  assert.throws(() => tl.appendSpans([{ lane: "x", group: "g", startMs: 3, endMs: 1 }]), /ends \(1\) before it starts \(3\)/);
  assert.match(bundleOf(tl)["text/plain"] as string, /^LiveFigure "run": 2 traces \(spans\), 3 points, update 2$/);
  assert.ok(tl.displayId.startsWith("vramlab-live-"));
});
