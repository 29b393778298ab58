// One recorded experiment: what was run (name, config), how it went (status,
// error), what it measured (summary metrics, the per-layer rows of the last
// measured step, the profile's info), where (environment) and what it showed
// (output bundles). Stored as one JSON line; displays itself in a notebook.
import { formatBytes, formatTable } from "../format.js";
import type { LayerRow, ReportInfo } from "../profile/report.js";
import type { ExperimentEnvironment } from "./environment.js";
import { escapeHtml, type MimeBundle } from "./display-bundle.js";

export const RECORD_FORMAT = "vramlab.experiment";
export const RECORD_VERSION = 1;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type ExperimentConfig = { [key: string]: JsonValue };
/** Metric name to value; null where the run had no value (Infinity and NaN are kept: see encodeRecord). */
export type Metrics = Record<string, number | null>;

export interface ExperimentError {
  name: string;
  message: string;
  stack?: string;
}

/** The profile a Report summarised (device, model, time source, steps ...), without its timeline and memory trace. */
export type ProfileInfo = ReportInfo;

export interface ExperimentRecordData {
  format: typeof RECORD_FORMAT;
  version: typeof RECORD_VERSION;
  /** sortable and unique: "20261122-215216-3fa2c1" (UTC start time and 6 random hex digits) */
  id: string;
  name: string;
  /** start, ISO 8601 UTC */
  time: string;
  /** wall time of the experiment's function */
  durationMs: number;
  status: "ok" | "error";
  error: ExperimentError | null;
  config: ExperimentConfig;
  metrics: Metrics;
  profile: ProfileInfo | null;
  /** the per-layer rows of the last measured step of the report, if the run made one */
  layers: LayerRow[];
  environment: ExperimentEnvironment;
  /** MIME bundles of what the run returned to show (figures, tables, text) */
  outputs: MimeBundle[];
  /** the id of the record this run repeated (experiments.rerun) */
  rerunOf: string | null;
  tags: string[];
  notes: string | null;
}

/** JSON has no Infinity or NaN: metrics holding them are written as the strings "Infinity", "-Infinity", "NaN". */
export function encodeRecord(r: ExperimentRecordData): string {
  const metrics: Record<string, number | string | null> = {};
  for (const [k, v] of Object.entries(r.metrics)) metrics[k] = typeof v === "number" && !Number.isFinite(v) ? String(v) : v;
  return JSON.stringify({ ...r, metrics });
}

/** Checks a parsed line and turns metric strings back into numbers; throws a message saying what is wrong. */
export function decodeRecord(value: unknown): ExperimentRecordData {
  const o = value as Partial<ExperimentRecordData> | null;
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw new Error("not a JSON object");
  if (o.format !== RECORD_FORMAT) throw new Error(`not an experiment record (format ${JSON.stringify(o.format)})`);
  if (o.version !== RECORD_VERSION) throw new Error(`record version ${String(o.version)} is not supported (this vramlab reads version ${RECORD_VERSION})`);
  if (typeof o.id !== "string" || typeof o.name !== "string" || typeof o.config !== "object" || o.config === null) throw new Error("record without id, name or config");
  const metrics: Metrics = {};
  for (const [k, v] of Object.entries(o.metrics ?? {})) metrics[k] = typeof v === "string" ? Number(v) : (v as number | null);
  return {
    format: RECORD_FORMAT, version: RECORD_VERSION, id: o.id, name: o.name, time: o.time ?? "", durationMs: o.durationMs ?? 0,
    status: o.status === "error" ? "error" : "ok", error: o.error ?? null, config: o.config, metrics, profile: o.profile ?? null,
    layers: o.layers ?? [], environment: o.environment as ExperimentEnvironment, outputs: o.outputs ?? [], rerunOf: o.rerunOf ?? null,
    tags: o.tags ?? [], notes: o.notes ?? null,
  };
}

/** Layer rows a record's notebook display shows (a full-size model at leaf level has thousands). */
const MAX_LAYER_ROWS = 300;

const BYTE_METRIC = /(memory|bytes|reserved)$/i;

/** A metric's kind, from its name: bytes (…Memory, …Bytes, …Reserved), ms (…Ms), seconds (…Seconds) or a plain number. */
export function metricUnit(name: string): "bytes" | "ms" | "s" | "" {
  if (BYTE_METRIC.test(name)) return "bytes";
  if (/Ms$/.test(name)) return "ms";
  if (/Seconds$/.test(name)) return "s";
  return "";
}

export function formatMetric(name: string, v: number | null | undefined): string {
  if (v === null || v === undefined) return "-";
  if (!Number.isFinite(v)) return String(v);
  switch (metricUnit(name)) {
    case "bytes": return formatBytes(v);
    case "ms": return `${Number(v.toPrecision(4))} ms`;
    case "s": return Math.abs(v) < 1 ? `${Number((v * 1e3).toPrecision(4))} ms` : `${Number(v.toPrecision(4))} s`;
    default: return String(Number(v.toPrecision(6)));
  }
}

/** Nested config objects as dot paths ("offload.numBlocksPerGroup"); arrays and scalars are leaves. */
export function flattenConfig(config: ExperimentConfig, prefix = "", out: Record<string, JsonValue> = {}): Record<string, JsonValue> {
  for (const [k, v] of Object.entries(config)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0) flattenConfig(v, path, out);
    else out[path] = v;
  }
  return out;
}

export function configValueText(v: JsonValue | undefined): string {
  if (v === undefined) return "-";
  return typeof v === "string" ? v : JSON.stringify(v);
}

export class ExperimentRecord implements ExperimentRecordData {
  readonly format = RECORD_FORMAT;
  readonly version = RECORD_VERSION;
  readonly id: string;
  readonly name: string;
  readonly time: string;
  readonly durationMs: number;
  readonly status: "ok" | "error";
  readonly error: ExperimentError | null;
  readonly config: ExperimentConfig;
  readonly metrics: Metrics;
  readonly profile: ProfileInfo | null;
  readonly layers: LayerRow[];
  readonly environment: ExperimentEnvironment;
  readonly outputs: MimeBundle[];
  readonly rerunOf: string | null;
  readonly tags: string[];
  readonly notes: string | null;

  constructor(d: ExperimentRecordData) {
    this.id = d.id;
    this.name = d.name;
    this.time = d.time;
    this.durationMs = d.durationMs;
    this.status = d.status;
    this.error = d.error;
    this.config = d.config;
    this.metrics = d.metrics;
    this.profile = d.profile;
    this.layers = d.layers;
    this.environment = d.environment;
    this.outputs = d.outputs;
    this.rerunOf = d.rerunOf;
    this.tags = d.tags;
    this.notes = d.notes;
  }

  get ok(): boolean {
    return this.status === "ok";
  }

  toJSON(): ExperimentRecordData {
    return {
      format: this.format, version: this.version, id: this.id, name: this.name, time: this.time, durationMs: this.durationMs, status: this.status,
      error: this.error, config: this.config, metrics: this.metrics, profile: this.profile, layers: this.layers, environment: this.environment,
      outputs: this.outputs, rerunOf: this.rerunOf, tags: this.tags, notes: this.notes,
    };
  }

  /** One line: where and with what it ran. */
  environmentText(): string {
    // records written by hand or by other tools may lack parts of the environment
    const e = (this.environment ?? {}) as Partial<ExperimentEnvironment>;
    const git = e.git ? `git ${e.git.commit?.slice(0, 12) ?? "(no commit)"}${e.git.dirty ? " (modified)" : ""}` : "no git repository";
    return `${e.device ?? "no device"} · vramlab ${e.versions?.vramlab ?? "?"} · node ${e.versions?.node ?? "?"} · ${e.cpu?.level ?? "?"} ${e.cpu?.threads ?? "?"} threads · ${git}`;
  }

  private headline(): string {
    const state = this.status === "ok" ? "ok" : `FAILED: ${this.error?.name ?? "Error"}: ${this.error?.message ?? ""}`;
    return `experiment "${this.name}" ${this.id} (${this.time}, ${(this.durationMs / 1e3).toFixed(2)} s) ${state}`;
  }

  toString(): string {
    const config = Object.entries(flattenConfig(this.config)).map(([k, v]) => [k, configValueText(v)]);
    const metrics = Object.entries(this.metrics).map(([k, v]) => [k, formatMetric(k, v)]);
    const parts = [this.headline()];
    if (this.rerunOf) parts.push(`rerun of ${this.rerunOf}`);
    if (config.length) parts.push(formatTable(["config", "value"], config));
    if (metrics.length) parts.push(formatTable(["metric", "value"], metrics));
    if (this.layers.length) parts.push(`${this.layers.length} layer rows on ${this.profile?.device ?? "?"}`);
    if (this.outputs.length) parts.push(`${this.outputs.length} output${this.outputs.length === 1 ? "" : "s"}`);
    parts.push(this.environmentText());
    return parts.join("\n");
  }

  /** Notebook display: config, metrics, the run's own outputs, the per-layer rows folded, the environment. */
  [Symbol.for("Jupyter.display")](): MimeBundle {
    const kv = (rows: string[][], head: [string, string]) =>
      `<table><thead><tr><th style="text-align:left">${head[0]}</th><th style="text-align:right">${head[1]}</th></tr></thead><tbody>` +
      rows.map(([k, v]) => `<tr><td style="text-align:left"><code>${escapeHtml(k!)}</code></td><td style="text-align:right">${escapeHtml(v!)}</td></tr>`).join("") +
      `</tbody></table>`;
    const config = Object.entries(flattenConfig(this.config)).map(([k, v]) => [k, configValueText(v)]);
    const metrics = Object.entries(this.metrics).map(([k, v]) => [k, formatMetric(k, v)]);
    const outputs = this.outputs.map((b) => {
      if (typeof b["text/html"] === "string") return `<div>${b["text/html"]}</div>`;
      if (typeof b["image/svg+xml"] === "string") return `<div>${b["image/svg+xml"]}</div>`;
      return `<pre>${escapeHtml(String(b["text/plain"] ?? ""))}</pre>`;
    });
    const layerHead = ["module", "class", "storage", "weights", "ms", "h2d", "peak"];
    const layerRows = this.layers.slice(0, MAX_LAYER_ROWS).map((r) => [
      "\u00a0\u00a0".repeat(r.depth) + r.name, r.className, r.storageDtype, formatBytes(r.bytes), formatMetric("timeMs", r.timeMs), r.h2dCount ? formatBytes(r.h2dBytes) : "-", formatBytes(r.peak),
    ]);
    const layers = layerRows.length
      ? `<details><summary>${this.layers.length} layer rows${this.layers.length > MAX_LAYER_ROWS ? ` (the first ${MAX_LAYER_ROWS} shown; record.layers has them all)` : ""}</summary><table><thead><tr>${layerHead.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>` +
        layerRows.map((r) => `<tr>${r.map((c, i) => `<td style="text-align:${i < 3 ? "left" : "right"}">${escapeHtml(c)}</td>`).join("")}</tr>`).join("") +
        `</tbody></table></details>`
      : "";
    const html =
      `<div class="vramlab-experiment"><p><b>${escapeHtml(this.name)}</b> <code>${escapeHtml(this.id)}</code> ` +
      (this.status === "ok" ? `<span style="color:#2ca02c">ok</span>` : `<span style="color:#d62728">failed: ${escapeHtml(`${this.error?.name}: ${this.error?.message}`)}</span>`) +
      (this.rerunOf ? ` · rerun of <code>${escapeHtml(this.rerunOf)}</code>` : "") +
      `</p>${config.length ? kv(config, ["config", "value"]) : ""}${metrics.length ? kv(metrics, ["metric", "value"]) : ""}${outputs.join("")}${layers}` +
      `<p style="font-size:smaller">${escapeHtml(this.environmentText())}</p></div>`;
    return { "text/plain": this.toString(), "text/html": html };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
