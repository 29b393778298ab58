// The profiler's Report: the summary diffusion benchmarks publish (model
// memory, inference memory, step time, host-to-device traffic), one row per
// module call, the stream timeline (compute and copy spans), memory over
// time, and exports: JSON and CSV (both read back), plain columnar arrays
// for figures, a text table, and a Jupyter MIME bundle.
import { formatBytes, formatTable } from "../format.js";
import type { ModuleCallRecord } from "../profiler.js";
import type { Resource, SpanCategory, StreamKind, Span } from "../stream.js";

/** "modelled": times from a simulated device's cost model; "wall": measured wall-clock time. */
export type TimeSource = "modelled" | "wall";

/** The columns of published diffusion benchmarks; per step, means over the measured steps. */
export interface ReportSummary {
  /** bytes of the model's weights on the device at rest, after loading and hook setup (torch.cuda.memory_allocated() after loading) */
  modelMemory: number;
  /** peak bytes allocated on the device during a step, everything included (torch.cuda.max_memory_allocated()) */
  inferenceMemory: number;
  /** step time, ms (modelled on sim: see info.timeSource) */
  timeMs: number;
  /** bytes copied from host to device per step (weights onloaded, and input data written) */
  h2dBytes: number;
  /** seconds the host-to-device link is busy per step; with streams much of it is hidden under compute (info.overlapMs) */
  h2dSeconds: number;
}

/** How the report was made, and the numbers behind the summary. */
export interface ReportInfo {
  device: string;
  /** the profiled model's class */
  model: string;
  timeSource: TimeSource;
  steps: number;
  warmup: number;
  /** which module calls are rows ("blocks", "leaves", "all" or "custom") */
  layerSelection: string;
  /** every measured step's time, ms */
  stepTimesMs: number[];
  /** bytes allocated on the device before the first measured step: model, inputs and anything else */
  baselineMemory: number;
  /** peak bytes the allocator held (rounded blocks) during a step */
  inferenceReserved: number;
  /** per step: arithmetic of the queued kernels, and the time the compute units were busy (0 on cpu) */
  flops: number;
  computeMs: number;
  /** per step: host-to-device copies, and device-to-host traffic */
  h2dCount: number;
  d2hBytes: number;
  d2hSeconds: number;
  /** per step: ms during which a host-to-device copy and a kernel ran at the same time */
  overlapMs: number;
}

/** One module call. Times are ms from the start of the first measured step. */
/**
 * One row per profiled module call and step: the profiler's record (engine/profiler.ts) under the
 * column names of published benchmarks (name, timeMs, bytes).
 */
export type LayerRow = Omit<ModuleCallRecord, "path" | "deviceMs" | "weightBytes"> & {
  /** measured step (0-based) */
  step: number;
  name: string;
  /** device time between the events at entry and exit on the module's stream (see engine/profiler.ts) */
  timeMs: number;
  /** the module's weights as stored (its subtree) */
  bytes: number;
};

/** One piece of modelled work on a stream (sim only), with the step it belongs to. */
export type TimelineSpan = Pick<Span, "stream" | "streamKind" | "resource" | "op" | "category" | "module" | "startMs" | "endMs" | "bytes" | "flops" | "bound"> & { step: number };

/** One allocation or free on the device, in issue order; timeMs is the issuing stream's time (never decreasing). */
export interface MemoryPoint {
  step: number;
  timeMs: number;
  /** bytes allocated after the event */
  allocated: number;
  /** +bytes for an allocation, -bytes for a free */
  change: number;
  owner: string;
}

export interface ReportData {
  info: ReportInfo;
  summary: ReportSummary;
  layers: LayerRow[];
  timeline: TimelineSpan[];
  memory: MemoryPoint[];
}

/** Columnar arrays for plotting (the widgets draw these). */
export interface ReportFigures {
  device: string;
  timeSource: TimeSource;
  /** per-layer bars: the outermost rows of the last measured step */
  layers: { name: string[]; className: string[]; storageDtype: string[]; bytes: number[]; timeMs: number[]; computeMs: number[]; peak: number[]; peakIncrease: number[]; h2dBytes: number[] };
  /** the stream timeline: one entry per span */
  timeline: { stream: string[]; streamKind: StreamKind[]; resource: Resource[]; category: SpanCategory[]; op: string[]; module: string[]; startMs: number[]; endMs: number[]; step: number[] };
  /** memory over time: allocated bytes after each event */
  memory: { timeMs: number[]; allocated: number[] };
  steps: { timeMs: number[] };
}

export type ReportTable = "layers" | "timeline" | "memory" | "summary";

type ColumnType = "number" | "string";
const LAYER_COLUMNS: [keyof LayerRow, ColumnType][] = [
  ["step", "number"], ["index", "number"], ["depth", "number"], ["name", "string"], ["className", "string"], ["storageDtype", "string"],
  ["bytes", "number"], ["timeMs", "number"], ["wallMs", "number"], ["computeMs", "number"], ["flops", "number"], ["startMs", "number"],
  ["endMs", "number"], ["memoryBefore", "number"], ["memoryAfter", "number"], ["peak", "number"], ["peakIncrease", "number"],
  ["h2dBytes", "number"], ["h2dCount", "number"], ["h2dMs", "number"], ["d2hBytes", "number"], ["d2hCount", "number"], ["d2hMs", "number"],
];
const TIMELINE_COLUMNS: [keyof TimelineSpan, ColumnType][] = [
  ["step", "number"], ["stream", "string"], ["streamKind", "string"], ["resource", "string"], ["op", "string"], ["category", "string"],
  ["module", "string"], ["startMs", "number"], ["endMs", "number"], ["bytes", "number"], ["flops", "number"], ["bound", "string"],
];
const MEMORY_COLUMNS: [keyof MemoryPoint, ColumnType][] = [["step", "number"], ["timeMs", "number"], ["allocated", "number"], ["change", "number"], ["owner", "string"]];
const SUMMARY_COLUMNS: [keyof ReportSummary, ColumnType][] = [["modelMemory", "number"], ["inferenceMemory", "number"], ["timeMs", "number"], ["h2dBytes", "number"], ["h2dSeconds", "number"]];

function columnsOf(table: ReportTable): [string, ColumnType][] {
  switch (table) {
    case "layers": return LAYER_COLUMNS;
    case "timeline": return TIMELINE_COLUMNS;
    case "memory": return MEMORY_COLUMNS;
    case "summary": return SUMMARY_COLUMNS;
    default: throw new TypeError(`unknown report table ${JSON.stringify(table)}; tables: layers, timeline, memory, summary`);
  }
}

function csvField(v: unknown): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Splits RFC 4180 CSV text into records of fields (quoted fields may hold commas, quotes and newlines). */
export function parseCSVRecords(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += c;
      i++;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ",") {
      record.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      record.push(field);
      records.push(record);
      record = [];
      field = "";
    } else field += c;
    i++;
  }
  if (quoted) throw new SyntaxError("CSV: a quoted field is not closed");
  if (field !== "" || record.length) {
    record.push(field);
    records.push(record);
  }
  return records;
}

/** Reads a table written by Report.toCSV back into typed rows. */
export function fromCSV(text: string, table: "layers"): LayerRow[];
export function fromCSV(text: string, table: "timeline"): TimelineSpan[];
export function fromCSV(text: string, table: "memory"): MemoryPoint[];
export function fromCSV(text: string, table: "summary"): ReportSummary[];
export function fromCSV(text: string, table: ReportTable): object[] {
  const columns = columnsOf(table);
  const [header, ...rows] = parseCSVRecords(text);
  const expected = columns.map(([k]) => k);
  if (!header || header.join(",") !== expected.join(",")) {
    throw new SyntaxError(`CSV: expected the ${table} header ${expected.join(",")}, got ${header?.join(",") ?? "nothing"}`);
  }
  return rows.map((r, n) => {
    if (r.length !== columns.length) throw new SyntaxError(`CSV: row ${n + 2} has ${r.length} fields, expected ${columns.length}`);
    const o: Record<string, unknown> = {};
    columns.forEach(([k, type], i) => {
      const s = r[i]!;
      if (type === "string") o[k] = s;
      else {
        const v = Number(s);
        if (s === "" || Number.isNaN(v) && s !== "NaN") throw new SyntaxError(`CSV: row ${n + 2}, column ${k}: "${s}" is not a number`);
        o[k] = v;
      }
    });
    return o;
  });
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/** Total length of the intersection of two sets of sorted, disjoint intervals. */
function intersectionMs(a: [number, number][], b: [number, number][]): number {
  let i = 0;
  let j = 0;
  let total = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i]![0], b[j]![0]);
    const hi = Math.min(a[i]![1], b[j]![1]);
    if (hi > lo) total += hi - lo;
    if (a[i]![1] < b[j]![1]) i++;
    else j++;
  }
  return total;
}

/** Sorted, merged intervals of spans. */
export function mergedIntervals(spans: { startMs: number; endMs: number }[]): [number, number][] {
  const sorted = spans.map((s) => [s.startMs, s.endMs] as [number, number]).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else if (e > s) out.push([s, e]);
  }
  return out;
}

/** Milliseconds during which a span of each set was running. */
export function overlapMs(a: { startMs: number; endMs: number }[], b: { startMs: number; endMs: number }[]): number {
  return intersectionMs(mergedIntervals(a), mergedIntervals(b));
}

export class Report implements ReportData {
  readonly info: ReportInfo;
  readonly summary: ReportSummary;
  readonly layers: LayerRow[];
  readonly timeline: TimelineSpan[];
  readonly memory: MemoryPoint[];

  constructor(data: ReportData) {
    this.info = data.info;
    this.summary = data.summary;
    this.layers = data.layers;
    this.timeline = data.timeline;
    this.memory = data.memory;
  }

  get timeSource(): TimeSource {
    return this.info.timeSource;
  }

  /** Plain data: JSON.stringify(report) writes it and Report.fromJSON reads it back. */
  toJSON(): ReportData & { format: "vramlab.report"; version: 1 } {
    return { format: "vramlab.report", version: 1, info: this.info, summary: this.summary, layers: this.layers, timeline: this.timeline, memory: this.memory };
  }

  static fromJSON(json: string | ReportData): Report {
    const d = (typeof json === "string" ? JSON.parse(json) : json) as ReportData & { format?: string };
    if (!d || typeof d !== "object" || !d.summary || !Array.isArray(d.layers) || !d.info) {
      throw new TypeError("Report.fromJSON: expected what report.toJSON() wrote ({info, summary, layers, timeline, memory})");
    }
    return new Report({ info: d.info, summary: d.summary, layers: d.layers, timeline: d.timeline ?? [], memory: d.memory ?? [] });
  }

  /** One table as CSV (header row, then one line per row); fromCSV reads it back. */
  toCSV(table: ReportTable = "layers"): string {
    const columns = columnsOf(table);
    const rows: object[] = table === "layers" ? this.layers : table === "timeline" ? this.timeline : table === "memory" ? this.memory : [this.summary];
    const lines = [columns.map(([k]) => k).join(",")];
    for (const r of rows) lines.push(columns.map(([k]) => csvField((r as Record<string, unknown>)[k])).join(","));
    return lines.join("\n") + "\n";
  }

  /** The rows of one measured step (default: the last). */
  stepLayers(step = this.info.steps - 1): LayerRow[] {
    return this.layers.filter((r) => r.step === step);
  }

  /** Columnar arrays for figures: per-layer bars, the stream timeline, memory over time. */
  figures(): ReportFigures {
    const bars = this.stepLayers().filter((r) => r.depth === 0);
    const col = <T, K extends keyof T>(rows: T[], k: K): T[K][] => rows.map((r) => r[k]);
    return {
      device: this.info.device,
      timeSource: this.info.timeSource,
      layers: {
        name: col(bars, "name"), className: col(bars, "className"), storageDtype: col(bars, "storageDtype"), bytes: col(bars, "bytes"),
        timeMs: col(bars, "timeMs"), computeMs: col(bars, "computeMs"), peak: col(bars, "peak"), peakIncrease: col(bars, "peakIncrease"), h2dBytes: col(bars, "h2dBytes"),
      },
      timeline: {
        stream: col(this.timeline, "stream"), streamKind: col(this.timeline, "streamKind"), resource: col(this.timeline, "resource"), category: col(this.timeline, "category"),
        op: col(this.timeline, "op"), module: col(this.timeline, "module"), startMs: col(this.timeline, "startMs"), endMs: col(this.timeline, "endMs"), step: col(this.timeline, "step"),
      },
      memory: { timeMs: col(this.memory, "timeMs"), allocated: col(this.memory, "allocated") },
      steps: { timeMs: [...this.info.stepTimesMs] },
    };
  }

  /** One-paragraph summary. */
  summaryText(): string {
    const s = this.summary;
    const i = this.info;
    const hidden = s.h2dSeconds > 0 ? `, ${((i.overlapMs / (s.h2dSeconds * 1e3)) * 100).toFixed(0)}% of it under compute` : "";
    return [
      `${i.model} on ${i.device}: ${i.timeSource} times, ${i.steps} step${i.steps === 1 ? "" : "s"} after ${i.warmup} warm-up`,
      `model memory ${formatBytes(s.modelMemory)}, inference memory ${formatBytes(s.inferenceMemory)}, step ${ms(s.timeMs)} ms` +
        (i.flops > 0 ? ` (${(i.flops / 1e12).toFixed(2)} TFLOP, compute busy ${ms(i.computeMs)} ms)` : ""),
      `host-to-device ${formatBytes(s.h2dBytes)} per step in ${i.h2dCount} copies, ${ms(s.h2dSeconds * 1e3)} ms of link time${hidden}`,
    ].join("\n");
  }

  private tableRows(step: number, maxRows: number): { headers: string[]; rows: string[][]; more: number } {
    const rows = this.stepLayers(step);
    const headers = ["module", "class", "storage", "weights", `${this.info.timeSource === "modelled" ? "modelled" : "wall"} ms`, "compute ms", "h2d", "peak", "peak above entry"];
    const body = rows.slice(0, maxRows).map((r) => [
      "  ".repeat(r.depth) + r.name, r.className, r.storageDtype, formatBytes(r.bytes), ms(r.timeMs), ms(r.computeMs),
      r.h2dCount ? formatBytes(r.h2dBytes) : "-", formatBytes(r.peak), formatBytes(r.peakIncrease),
    ]);
    return { headers, rows: body, more: rows.length - body.length };
  }

  /** The per-layer table of one step (default: the last) as text. */
  table(options: { step?: number; maxRows?: number } = {}): string {
    const { headers, rows, more } = this.tableRows(options.step ?? this.info.steps - 1, options.maxRows ?? 200);
    return formatTable(headers, rows) + (more > 0 ? `\n… ${more} more rows (report.layers has them all)` : "");
  }

  toString(): string {
    return `${this.table()}\n\n${this.summaryText()}`;
  }

  /** Notebook display (Deno's and the vramlab kernel's convention). */
  [Symbol.for("Jupyter.display")](): Record<string, string> {
    const s = this.summary;
    const { headers, rows, more } = this.tableRows(this.info.steps - 1, 200);
    const th = (cells: string[]) => `<tr>${cells.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>`;
    const td = (cells: string[]) => `<tr>${cells.map((c, k) => `<td style="text-align:${k < 3 ? "left" : "right"};white-space:pre">${escapeHtml(c)}</td>`).join("")}</tr>`;
    const summary = [
      ["model memory", formatBytes(s.modelMemory)], ["inference memory", formatBytes(s.inferenceMemory)], [`step (${this.info.timeSource})`, `${ms(s.timeMs)} ms`],
      ["host-to-device per step", formatBytes(s.h2dBytes)], ["link time per step", `${ms(s.h2dSeconds * 1e3)} ms`],
    ];
    const htmlText =
      `<div class="vramlab-report"><p><b>${escapeHtml(this.info.model)}</b> on <code>${escapeHtml(this.info.device)}</code>, ${escapeHtml(this.info.timeSource)} times</p>` +
      `<table>${summary.map(([k, v]) => `<tr><th style="text-align:left">${escapeHtml(k!)}</th><td style="text-align:right">${escapeHtml(v!)}</td></tr>`).join("")}</table>` +
      `<table>${th(headers)}${rows.map(td).join("")}</table>` +
      (more > 0 ? `<p>… ${more} more rows</p>` : "") +
      `</div>`;
    return { "text/plain": this.toString(), "text/html": htmlText };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
