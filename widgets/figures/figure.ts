// A Figure: plotly `data` + `layout`, shown in a notebook as three MIME types:
// application/vnd.plotly.v1+json (JupyterLab's plotly renderer), text/html
// (a div + Plotly.newPlot, with plotly.js inlined for exported pages) and
// image/svg+xml drawn by svg.ts, so notebooks render where no script runs
// (GitHub, nbviewer).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";
import { renderSVG } from "./svg.js";

/** Colours shared by the plotly traces and the SVG drawing (plotly's default cycle). */
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"] as const;

/** A bar trace: vertical bars (x categories, y values) or horizontal ones (y categories, x lengths starting at `base`). */
export interface BarTrace {
  type: "bar";
  name: string;
  orientation?: "v" | "h";
  x: (number | string | null)[];
  y: (number | string | null)[];
  /** where each bar starts on the value axis (horizontal timeline spans) */
  base?: number[];
  marker?: { color?: string };
  /** hover text per bar */
  hovertext?: string[];
  hoverinfo?: string;
  xaxis?: string;
  yaxis?: string;
  showlegend?: boolean;
  legendgroup?: string;
}

/** A line (and/or marker) trace over numeric x. */
export interface ScatterTrace {
  type: "scatter";
  name: string;
  mode: "lines" | "markers" | "lines+markers";
  x: number[];
  y: (number | null)[];
  line?: { color?: string; shape?: "linear" | "hv" };
  marker?: { color?: string };
  hovertext?: string[];
  xaxis?: string;
  yaxis?: string;
  showlegend?: boolean;
}

export type Trace = BarTrace | ScatterTrace;

export interface AxisLayout {
  title?: { text: string };
  type?: "linear" | "category";
  /** fixed tick positions and their labels (used for byte axes: 256 MiB, 512 MiB, ...) */
  tickvals?: number[];
  ticktext?: string[];
  /** fraction of the plot area this axis spans (side-by-side panels) */
  domain?: [number, number];
  /** the axis this one is drawn against ("x2" for yaxis2) */
  anchor?: string;
  autorange?: boolean | "reversed";
  rangemode?: "tozero" | "normal";
  automargin?: boolean;
}

export interface Layout {
  title?: { text: string };
  width?: number;
  height?: number;
  barmode?: "group" | "overlay";
  showlegend?: boolean;
  margin?: { l: number; r: number; t: number; b: number };
  /** xaxis, xaxis2, ..., yaxis, yaxis2, ... */
  [axis: `xaxis${string}` | `yaxis${string}`]: AxisLayout | undefined;
}

export interface PlotlyFigureJSON {
  data: Trace[];
  layout: Layout;
}

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

export interface FigureBundle {
  [PLOTLY_MIME]: PlotlyFigureJSON;
  "image/svg+xml": string;
  "text/html": string;
  "text/plain": string;
}

const require = createRequire(import.meta.url);
let plotlyBundle: string | null = null;

/** The minified plotly.js bundle from the npm package plotly.js-dist-min (read once). */
export function plotlyJsSource(): string {
  if (plotlyBundle === null) {
    let path: string;
    try {
      path = require.resolve("plotly.js-dist-min");
    } catch {
      throw new Error("inlining plotly.js needs the npm package plotly.js-dist-min (npm install plotly.js-dist-min)");
    }
    plotlyBundle = readFileSync(path, "utf8");
  }
  return plotlyBundle;
}

/** JSON safe to place inside a <script> element ("</script>" and line separators cannot end it early). */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

export class Figure {
  data: Trace[];
  layout: Layout;

  constructor(data: Trace[], layout: Layout = {}) {
    this.data = data;
    this.layout = layout;
  }

  get title(): string {
    return this.layout.title?.text ?? "figure";
  }

  /** A deep copy of the plotly figure (what application/vnd.plotly.v1+json carries). */
  toPlotlyJSON(): PlotlyFigureJSON {
    return JSON.parse(JSON.stringify({ data: this.data, layout: this.layout })) as PlotlyFigureJSON;
  }

  /** The figure drawn by vramlab's own renderer: bars, lines, timeline spans, axes and legend. */
  toSVG(): string {
    return renderSVG(this.data, this.layout);
  }

  /**
   * A div and a script calling Plotly.newPlot. With inlinePlotly the plotly.js bundle (about 4.6 MB)
   * comes first, so the page works offline; otherwise window.Plotly must already be loaded.
   */
  toHTML(options: { inlinePlotly?: boolean; divId?: string } = {}): string {
    const id = options.divId ?? `vramlab-figure-${randomUUID()}`;
    const width = this.layout.width ?? 720;
    const height = this.layout.height ?? 420;
    const library = options.inlinePlotly ? `<script type="text/javascript">${plotlyJsSource().replace(/<\/script/gi, "<\\/script")}</script>\n` : "";
    const figure = jsonForScript(this.toPlotlyJSON());
    return (
      library +
      // The SVG stays in the div where scripts do not run (GitHub, sanitized front ends) or plotly.js is absent.
      `<div id="${id}" class="vramlab-figure" style="width:${width}px;height:${height}px">${this.toSVG()}</div>\n` +
      `<script type="text/javascript">(function () {\n` +
      `  var fig = ${figure};\n` +
      `  var el = document.getElementById(${JSON.stringify(id)});\n` +
      `  if (window.Plotly) { el.innerHTML = ""; window.Plotly.newPlot(el, fig.data, fig.layout, { responsive: true }); }\n` +
      `})();</script>`
    );
  }

  /** One line: the title and what the traces hold. */
  describe(): string {
    const kinds = [...new Set(this.data.map((t) => (t.type === "bar" ? (t.base ? "spans" : "bars") : "lines")))].join(", ");
    const points = this.data.reduce((a, t) => a + t.x.length, 0);
    return `Figure "${this.title}": ${this.data.length} trace${this.data.length === 1 ? "" : "s"} (${kinds || "empty"}), ${points} point${points === 1 ? "" : "s"}`;
  }

  toString(): string {
    return this.describe();
  }

  mimeBundle(options: { inlinePlotly?: boolean } = {}): FigureBundle {
    return {
      [PLOTLY_MIME]: this.toPlotlyJSON(),
      "image/svg+xml": this.toSVG(),
      "text/html": this.toHTML(options),
      "text/plain": this.describe(),
    };
  }

  /** Notebook display (the kernel's convention): plotly JSON, SVG fallback, HTML (plotly.js assumed loaded) and a text line. */
  [Symbol.for("Jupyter.display")](): FigureBundle {
    return this.mimeBundle();
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.describe();
  }
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Byte count with a binary unit, no more digits than needed (1.5 GiB, 256 MiB). */
export function formatByteTick(n: number): string {
  if (n === 0) return "0";
  let u = 0;
  let v = Math.abs(n);
  while (v >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const s = Number(v.toPrecision(3)).toString();
  return `${n < 0 ? "-" : ""}${s} ${BYTE_UNITS[u]}`;
}

/** About `count` ticks from 0 to at least `max`, on a 1-2-5 grid of a binary unit: an axis layout's tickvals/ticktext for bytes. */
export function byteTicks(max: number, count = 5): { tickvals: number[]; ticktext: string[] } {
  if (!(max > 0)) return { tickvals: [0], ticktext: ["0"] };
  const unit = 1024 ** Math.min(4, Math.max(0, Math.floor(Math.log(max) / Math.log(1024))));
  const step = niceStep(max / unit / count) * unit;
  const tickvals: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) tickvals.push(v);
  if (tickvals[tickvals.length - 1]! < max) tickvals.push(tickvals[tickvals.length - 1]! + step);
  return { tickvals, ticktext: tickvals.map(formatByteTick) };
}

/** The 1, 2 or 5 times a power of ten nearest above `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/** The largest of many numbers (0 for none) without spreading them onto the call stack. */
export function maxOf(values: Iterable<number>): number {
  let m = 0;
  for (const v of values) if (v > m) m = v;
  return m;
}
