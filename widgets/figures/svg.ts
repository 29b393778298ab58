// Draws a plotly figure (the subset vramlab's figures use) as standalone SVG:
// vertical and horizontal bars (grouped or overlaid, horizontal ones from a
// `base`, which makes timeline spans), lines (linear or step) and markers,
// side-by-side panels (xaxis2/yaxis2 with domains), numeric and category
// axes with ticks and titles, a legend and a title. No script, no external
// font or stylesheet: GitHub and nbviewer show it as an image.
import { PALETTE, niceStep, type AxisLayout, type Layout, type Trace } from "./figure.js";

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const CHAR_WIDTH = 0.6; // average glyph width per font-size unit, for layout estimates
const TICK_FONT = 11;
const MAX_LABEL_CHARS = 28;

/** Text safe inside SVG/XML content and attribute values; characters XML 1.0 forbids are dropped. */
export function escapeXml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

function textWidth(s: string, size: number): number {
  return s.length * size * CHAR_WIDTH;
}

function shorten(s: string): string {
  return s.length > MAX_LABEL_CHARS ? `${s.slice(0, MAX_LABEL_CHARS - 1)}…` : s;
}

/** A short number for a tick label: 1.5k, 250, 0.02. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${Number((v / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(4)));
}

function colorOf(trace: Trace, index: number): string {
  const c = trace.type === "scatter" ? trace.line?.color ?? trace.marker?.color : trace.marker?.color;
  return c ?? PALETTE[index % PALETTE.length]!;
}

function axisKey<L extends "x" | "y">(ref: string | undefined, letter: L): `${L}axis${string}` {
  return `${letter}axis${(ref ?? letter).slice(1)}`;
}

function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/** A numeric axis: maps data values onto [p0, p1] pixels. */
interface LinearScale {
  kind: "linear";
  lo: number;
  hi: number;
  ticks: { value: number; label: string }[];
}

/** A category axis: one band per category in order of first appearance. */
interface CategoryScale {
  kind: "category";
  categories: string[];
  reversed: boolean;
}

type Scale = LinearScale | CategoryScale;

function linearScale(values: number[], axis: AxisLayout | undefined, includeZero: boolean): LinearScale {
  let lo = includeZero ? 0 : Infinity;
  let hi = includeZero ? 0 : -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (axis?.tickvals?.length) {
    lo = Math.min(lo, ...axis.tickvals);
    hi = Math.max(hi, ...axis.tickvals);
    if (hi === lo) hi = lo + 1;
    const labels = axis.ticktext ?? axis.tickvals.map(formatTick);
    return { kind: "linear", lo, hi, ticks: axis.tickvals.map((value, i) => ({ value, label: labels[i] ?? formatTick(value) })) };
  }
  if (hi === lo) hi = lo + 1;
  const step = niceStep((hi - lo) / 5);
  lo = Math.floor(lo / step + 1e-9) * step;
  hi = Math.ceil(hi / step - 1e-9) * step;
  const ticks: { value: number; label: string }[] = [];
  for (let k = 0; lo + k * step <= hi + step * 1e-9; k++) {
    const value = Number((lo + k * step).toPrecision(12));
    ticks.push({ value, label: formatTick(value) });
  }
  return { kind: "linear", lo, hi, ticks };
}

/** Pixel position of the value `v` (linear) or the centre of category `v` on an axis from p0 to p1. */
function position(scale: Scale, v: number | string, p0: number, p1: number): number {
  if (scale.kind === "linear") return p0 + ((Number(v) - scale.lo) / (scale.hi - scale.lo)) * (p1 - p0);
  const n = scale.categories.length;
  let i = scale.categories.indexOf(String(v));
  if (scale.reversed) i = n - 1 - i;
  return p0 + ((i + 0.5) / n) * (p1 - p0);
}

function bandWidth(scale: CategoryScale, p0: number, p1: number): number {
  return Math.abs(p1 - p0) / Math.max(1, scale.categories.length);
}

interface Panel {
  xKey: `xaxis${string}`;
  yKey: `yaxis${string}`;
  traces: { trace: Trace; index: number }[];
  x: Scale;
  y: Scale;
}

/** Which axis of a trace holds categories (bars), if any. */
function categoryLetter(trace: Trace): "x" | "y" | null {
  if (trace.type !== "bar") return null;
  return trace.orientation === "h" ? "y" : "x";
}

function buildScale(letter: "x" | "y", traces: Trace[], axis: AxisLayout | undefined): Scale {
  const categorical = axis?.type === "category" || traces.some((t) => categoryLetter(t) === letter);
  if (categorical) {
    const categories: string[] = [];
    for (const t of traces) for (const v of t[letter]) if (v !== null && !categories.includes(String(v))) categories.push(String(v));
    // like plotly, the first category sits at the axis origin (left, or bottom); "reversed" flips it
    const reversed = axis?.autorange === "reversed";
    return { kind: "category", categories, reversed };
  }
  const values: number[] = [];
  let bars = false;
  for (const t of traces) {
    const own = t[letter] as unknown[];
    if (t.type === "bar") {
      bars = true;
      own.forEach((v, i) => {
        if (!isNum(v)) return;
        const base = t.base?.[i] ?? 0;
        values.push(base, base + v);
      });
    } else for (const v of own) if (isNum(v)) values.push(v);
  }
  return linearScale(values, axis, bars || axis?.rangemode === "tozero");
}

/** Legend entries: one per trace or legend group, in trace order. */
function legendEntries(data: Trace[]): { name: string; color: string; line: boolean }[] {
  const seen = new Set<string>();
  const out: { name: string; color: string; line: boolean }[] = [];
  data.forEach((t, i) => {
    if (t.showlegend === false) return;
    const key = (t.type === "bar" ? t.legendgroup : undefined) ?? t.name;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ name: t.name, color: colorOf(t, i), line: t.type === "scatter" && t.mode !== "markers" });
  });
  return out;
}

function rect(x0: number, y0: number, x1: number, y1: number, attrs: string, title?: string): string {
  const x = Math.min(x0, x1);
  const y = Math.min(y0, y1);
  const body = `<rect x="${px(x)}" y="${px(y)}" width="${px(Math.abs(x1 - x0))}" height="${px(Math.abs(y1 - y0))}" ${attrs}`;
  return title ? `${body}><title>${escapeXml(title)}</title></rect>` : `${body}/>`;
}

export function renderSVG(data: Trace[], layout: Layout): string {
  const width = layout.width ?? 720;
  const height = layout.height ?? 420;
  const entries = legendEntries(data);
  const showLegend = layout.showlegend ?? entries.length > 1;
  const legendWidth = showLegend ? Math.min(220, Math.max(...entries.map((e) => textWidth(shorten(e.name), 12)), 0) + 40) : 0;

  // panels: one per (x axis, y axis) pair, in trace order
  const panels: Panel[] = [];
  data.forEach((trace, index) => {
    const xKey = axisKey(trace.xaxis, "x");
    const yKey = axisKey(trace.yaxis, "y");
    let panel = panels.find((q) => q.xKey === xKey && q.yKey === yKey);
    if (!panel) {
      panel = { xKey, yKey, traces: [], x: { kind: "category", categories: [], reversed: false }, y: { kind: "category", categories: [], reversed: false } };
      panels.push(panel);
    }
    panel.traces.push({ trace, index });
  });
  for (const p of panels) {
    const traces = p.traces.map((t) => t.trace);
    p.x = buildScale("x", traces, layout[p.xKey]);
    p.y = buildScale("y", traces, layout[p.yKey]);
  }

  // margins from the widest labels, so nothing is cut off
  const yLabelWidth = Math.max(
    20,
    ...panels.map((p) =>
      p.y.kind === "category" ? Math.max(0, ...p.y.categories.map((c) => textWidth(shorten(c), TICK_FONT))) : Math.max(0, ...p.y.ticks.map((t) => textWidth(t.label, TICK_FONT))),
    ),
  );
  const xLabels = panels.flatMap((p) => (p.x.kind === "category" ? p.x.categories.map(shorten) : []));
  const plotGuess = width - yLabelWidth - legendWidth - 40;
  const bandGuess = Math.min(...panels.map((p) => (p.x.kind === "category" ? (plotGuess * spanOf(layout[p.xKey])) / Math.max(1, p.x.categories.length) : Infinity)));
  const rotate = xLabels.some((s) => textWidth(s, TICK_FONT) > bandGuess - 4);
  const xLabelHeight = rotate ? Math.min(140, Math.max(...xLabels.map((s) => textWidth(s, TICK_FONT))) * 0.72 + 8) : 16;
  const hasYTitle = panels.some((p) => layout[p.yKey]?.title?.text);
  const hasXTitle = panels.some((p) => layout[p.xKey]?.title?.text);
  const m = {
    l: Math.min(220, yLabelWidth + 14 + (hasYTitle ? 20 : 0)),
    r: 16 + legendWidth,
    t: layout.title?.text ? 44 : 16,
    b: 12 + xLabelHeight + (hasXTitle ? 22 : 0),
  };
  const plotW = Math.max(40, width - m.l - m.r);
  const plotH = Math.max(40, height - m.t - m.b);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="${TICK_FONT}">`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  if (layout.title?.text) out.push(`<text class="vl-title" x="${px(width / 2)}" y="26" text-anchor="middle" font-size="16" fill="#222">${escapeXml(layout.title.text)}</text>`);

  for (const p of panels) {
    const xd = layout[p.xKey]?.domain ?? [0, 1];
    const yd = layout[p.yKey]?.domain ?? [0, 1];
    const x0 = m.l + xd[0] * plotW;
    const x1 = m.l + xd[1] * plotW;
    const y0 = m.t + (1 - yd[0]) * plotH; // bottom
    const y1 = m.t + (1 - yd[1]) * plotH; // top
    out.push(`<g class="vl-panel" data-xaxis="${p.xKey}" data-yaxis="${p.yKey}">`);
    drawGridAndTicks(out, p, x0, x1, y0, y1, rotate);
    drawTraces(out, p, layout.barmode ?? "group", x0, x1, y0, y1);
    out.push(`<line x1="${px(x0)}" y1="${px(y0)}" x2="${px(x1)}" y2="${px(y0)}" stroke="#444"/>`);
    out.push(`<line x1="${px(x0)}" y1="${px(y0)}" x2="${px(x0)}" y2="${px(y1)}" stroke="#444"/>`);
    const xt = layout[p.xKey]?.title?.text;
    if (xt) out.push(`<text class="vl-axis-title" x="${px((x0 + x1) / 2)}" y="${px(y0 + xLabelHeight + 26)}" text-anchor="middle" font-size="12" fill="#222">${escapeXml(xt)}</text>`);
    const yt = layout[p.yKey]?.title?.text;
    if (yt) {
      const tx = p === panels[0] ? 16 : x0 - yLabelWidth - 14;
      out.push(`<text class="vl-axis-title" transform="translate(${px(Math.max(12, tx))},${px((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle" font-size="12" fill="#222">${escapeXml(yt)}</text>`);
    }
    out.push(`</g>`);
  }

  if (showLegend && entries.length) {
    const lx = width - legendWidth + 4;
    out.push(`<g class="vl-legend">`);
    entries.forEach((e, i) => {
      const ly = m.t + 8 + i * 20;
      if (e.line) out.push(`<line x1="${px(lx)}" y1="${px(ly)}" x2="${px(lx + 18)}" y2="${px(ly)}" stroke="${escapeXml(e.color)}" stroke-width="2.5"/>`);
      else out.push(`<rect x="${px(lx + 2)}" y="${px(ly - 6)}" width="14" height="12" fill="${escapeXml(e.color)}"/>`);
      out.push(`<text x="${px(lx + 24)}" y="${px(ly + 4)}" font-size="12" fill="#222">${escapeXml(shorten(e.name))}</text>`);
    });
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join("\n");
}

function spanOf(axis: AxisLayout | undefined): number {
  const d = axis?.domain ?? [0, 1];
  return d[1] - d[0];
}

function drawGridAndTicks(out: string[], p: Panel, x0: number, x1: number, y0: number, y1: number, rotate: boolean): void {
  if (p.x.kind === "linear") {
    for (const t of p.x.ticks) {
      const x = position(p.x, t.value, x0, x1);
      out.push(`<line x1="${px(x)}" y1="${px(y1)}" x2="${px(x)}" y2="${px(y0)}" stroke="#e5e5e5"/>`);
      out.push(`<text class="vl-tick" x="${px(x)}" y="${px(y0 + 15)}" text-anchor="middle" fill="#444">${escapeXml(t.label)}</text>`);
    }
  } else {
    for (const c of p.x.categories) {
      const x = position(p.x, c, x0, x1);
      const label = escapeXml(shorten(c));
      if (rotate) out.push(`<text class="vl-tick" transform="translate(${px(x)},${px(y0 + 10)}) rotate(-40)" text-anchor="end" fill="#444">${label}</text>`);
      else out.push(`<text class="vl-tick" x="${px(x)}" y="${px(y0 + 15)}" text-anchor="middle" fill="#444">${label}</text>`);
    }
  }
  if (p.y.kind === "linear") {
    for (const t of p.y.ticks) {
      const y = position(p.y, t.value, y0, y1);
      out.push(`<line x1="${px(x0)}" y1="${px(y)}" x2="${px(x1)}" y2="${px(y)}" stroke="#e5e5e5"/>`);
      out.push(`<text class="vl-tick" x="${px(x0 - 6)}" y="${px(y + 4)}" text-anchor="end" fill="#444">${escapeXml(t.label)}</text>`);
    }
  } else {
    for (const c of p.y.categories) {
      const y = position(p.y, c, y0, y1);
      out.push(`<text class="vl-tick" x="${px(x0 - 6)}" y="${px(y + 4)}" text-anchor="end" fill="#444">${escapeXml(shorten(c))}</text>`);
    }
  }
}

function drawTraces(out: string[], p: Panel, barmode: "group" | "overlay", x0: number, x1: number, y0: number, y1: number): void {
  const bars = p.traces.filter((t) => t.trace.type === "bar");
  for (const { trace, index } of p.traces) {
    const color = escapeXml(colorOf(trace, index));
    if (trace.type === "bar") {
      const horizontal = trace.orientation === "h";
      const cat = (horizontal ? p.y : p.x) as CategoryScale;
      const val = (horizontal ? p.x : p.y) as LinearScale;
      const [c0, c1] = horizontal ? [y0, y1] : [x0, x1];
      const [v0, v1] = horizontal ? [x0, x1] : [y0, y1];
      const band = bandWidth(cat, c0, c1);
      const slot = band * 0.8;
      const grouped = barmode === "group" && bars.length > 1;
      const thickness = grouped ? slot / bars.length : slot;
      const k = bars.findIndex((b) => b.index === index);
      const values = horizontal ? trace.x : trace.y;
      const cats = horizontal ? trace.y : trace.x;
      out.push(`<g class="vl-trace" data-name="${escapeXml(trace.name)}" fill="${color}">`);
      values.forEach((v, i) => {
        const c = cats[i];
        if (!isNum(v) || c === null || c === undefined) return;
        const base = trace.base?.[i] ?? 0;
        const centre = position(cat, c, c0, c1);
        const start = grouped ? centre - slot / 2 + k * thickness : centre - thickness / 2;
        const from = position(val, base, v0, v1);
        const to = position(val, base + v, v0, v1);
        const attrs = `class="vl-bar" data-trace="${index}" data-index="${i}"`;
        const title = trace.hovertext?.[i] ?? `${trace.name}: ${String(c)} ${formatTick(v)}`;
        out.push(horizontal ? rect(from, start, to, start + thickness, attrs, title) : rect(start, from, start + thickness, to, attrs, title));
      });
      out.push(`</g>`);
    } else {
      const pts: [number, number][] = [];
      trace.x.forEach((xv, i) => {
        const yv = trace.y[i];
        if (isNum(xv) && isNum(yv)) pts.push([position(p.x, xv, x0, x1), position(p.y, yv, y0, y1)]);
      });
      out.push(`<g class="vl-trace" data-name="${escapeXml(trace.name)}">`);
      if (trace.mode !== "markers" && pts.length) {
        const step = trace.line?.shape === "hv";
        const d = pts.map(([x, y], i) => (i === 0 ? `M${px(x)} ${px(y)}` : step ? `H${px(x)} V${px(y)}` : `L${px(x)} ${px(y)}`)).join(" ");
        out.push(`<path class="vl-line" data-trace="${index}" d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
      }
      if (trace.mode !== "lines") for (const [x, y] of pts) out.push(`<circle class="vl-marker" data-trace="${index}" cx="${px(x)}" cy="${px(y)}" r="3.5" fill="${color}"/>`);
      out.push(`</g>`);
    }
  }
}
