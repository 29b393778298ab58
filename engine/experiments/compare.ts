// Experiments side by side: one row per record with the config fields that
// differ between them and every metric, as text and an HTML table, and a
// plotly figure (bars per record, one panel per unit: memory, ms, s, other).
// The kernel draws the figure as SVG for frontends without plotly (see
// display-bundle.ts); the engine only builds plain plotly JSON.
import { isDeepStrictEqual } from "node:util";
import { formatTable } from "../format.js";
import { FIGURE_SVG_SLOT, PLOTLY_MIME, escapeHtml, type MimeBundle, type PlotlyFigure } from "./display-bundle.js";
import { configValueText, flattenConfig, formatMetric, metricUnit, type ExperimentRecord, type JsonValue } from "./record.js";

/** plotly's default colour cycle */
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export interface ComparisonRow {
  id: string;
  name: string;
  /** the bar label in the figure: the differing config values (unique among the rows) */
  label: string;
  status: "ok" | "error";
  /** the differing config fields (dot paths); undefined where a record lacks the field */
  config: Record<string, JsonValue | undefined>;
  metrics: Record<string, number | null>;
}

/** Panels by metric unit; durations in seconds join the ms panel, scaled. */
const UNIT_PANELS: { units: ReturnType<typeof metricUnit>[]; title: string }[] = [
  { units: ["bytes"], title: "memory" },
  { units: ["ms", "s"], title: "time (ms)" },
  { units: [""], title: "value" },
];

/** The largest binary unit below `max` bytes, to scale a memory axis. */
function byteUnit(max: number): { name: string; scale: number } {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (u < units.length - 1 && max >= 1024 ** (u + 1)) u++;
  return { name: units[u]!, scale: 1024 ** u };
}

export class ExperimentComparison {
  readonly records: ExperimentRecord[];
  /** config fields (dot paths) whose values differ between the records */
  readonly configFields: string[];
  /** metric names, in order of first appearance */
  readonly metricNames: string[];
  readonly rows: ComparisonRow[];
  readonly title: string;

  constructor(records: ExperimentRecord[], options: { title?: string } = {}) {
    this.records = records;
    const flat = records.map((r) => flattenConfig(r.config));
    const fields: string[] = [];
    for (const f of flat) for (const k of Object.keys(f)) if (!fields.includes(k)) fields.push(k);
    this.configFields = fields.filter((k) => flat.some((f) => !isDeepStrictEqual(f[k], flat[0]![k])));
    const metrics: string[] = [];
    for (const r of records) for (const k of Object.keys(r.metrics)) if (!metrics.includes(k)) metrics.push(k);
    this.metricNames = metrics;
    const names = new Set(records.map((r) => r.name));
    const used = new Map<string, number>();
    this.rows = records.map((r, i) => {
      const config: Record<string, JsonValue | undefined> = {};
      for (const k of this.configFields) config[k] = flat[i]![k];
      // strings speak for themselves ("int8wo"); numbers and flags need their field's name ("blocks=2")
      const parts = [...(names.size > 1 ? [r.name] : []), ...this.configFields.map((k) => (typeof config[k] === "string" ? (config[k] as string) : `${k.split(".").pop()}=${configValueText(config[k])}`))];
      let label = parts.join(" · ") || r.id;
      const n = (used.get(label) ?? 0) + 1;
      used.set(label, n);
      if (n > 1) label = `${label} #${n}`;
      const m: Record<string, number | null> = {};
      for (const k of metrics) m[k] = r.metrics[k] ?? null;
      return { id: r.id, name: r.name, label, status: r.status, config, metrics: m };
    });
    this.title = options.title ?? (names.size === 1 ? `Experiments: ${[...names][0]}` : `Experiments (${names.size} names)`);
  }

  private textRows(): { headers: string[]; rows: string[][] } {
    const headers = ["id", "name", "status", ...this.configFields, ...this.metricNames];
    const rows = this.rows.map((r) => [
      r.id, r.name, r.status, ...this.configFields.map((k) => configValueText(r.config[k])), ...this.metricNames.map((k) => formatMetric(k, r.metrics[k])),
    ]);
    return { headers, rows };
  }

  /** The rows as flat objects (id, name, status, config fields, metrics): for vl tables, CSV or further analysis. */
  toRows(): Record<string, JsonValue | undefined>[] {
    return this.rows.map((r) => ({ id: r.id, name: r.name, status: r.status, ...r.config, ...r.metrics }));
  }

  /** Bars per record, one panel per metric unit; records that failed are left out. */
  figure(): PlotlyFigure {
    const rows = this.rows.filter((r) => r.status === "ok");
    const labels = rows.map((r) => r.label);
    const panels = UNIT_PANELS.map((p) => ({ ...p, metrics: this.metricNames.filter((k) => p.units.includes(metricUnit(k)) && rows.some((r) => r.metrics[k] !== null && Number.isFinite(r.metrics[k]))) })).filter((p) => p.metrics.length > 0);
    const data: Record<string, unknown>[] = [];
    const layout: Record<string, unknown> = { title: { text: this.title }, barmode: "group", width: Math.max(720, 330 * panels.length), height: 420, showlegend: true };
    const gap = 0.08;
    const width = panels.length ? (1 - gap * (panels.length - 1)) / panels.length : 1;
    let color = 0;
    panels.forEach((p, i) => {
      const suffix = i === 0 ? "" : String(i + 1);
      let title = p.title;
      let byteScale = 1;
      if (p.units.includes("bytes")) {
        const u = byteUnit(Math.max(0, ...p.metrics.flatMap((k) => rows.map((r) => r.metrics[k] ?? 0))));
        byteScale = u.scale;
        title = `memory (${u.name})`;
      }
      for (const k of p.metrics) {
        const unit = metricUnit(k);
        // values are divided by this: bytes into the axis unit, seconds into ms
        const scale = unit === "bytes" ? byteScale : unit === "s" ? 1e-3 : 1;
        data.push({
          type: "bar", name: unit === "s" ? `${k} (in ms)` : k, x: [...labels], y: rows.map((r) => (r.metrics[k] === null || !Number.isFinite(r.metrics[k]) ? null : r.metrics[k]! / scale)),
          hovertext: rows.map((r) => `${r.label}: ${k} ${formatMetric(k, r.metrics[k])}`), hoverinfo: "text",
          marker: { color: COLORS[color++ % COLORS.length] }, xaxis: `x${suffix}`, yaxis: `y${suffix}`,
        });
      }
      layout[`xaxis${suffix}`] = { type: "category", domain: [i * (width + gap), Math.min(1, i * (width + gap) + width)], anchor: `y${suffix}` };
      layout[`yaxis${suffix}`] = { title: { text: title }, anchor: `x${suffix}`, rangemode: "tozero" };
    });
    return { data, layout };
  }

  toString(): string {
    const { headers, rows } = this.textRows();
    return `${this.title}\n${formatTable(headers, rows)}`;
  }

  /** Notebook display: the table as HTML and text, the figure as plotly JSON (the kernel adds its SVG). */
  [Symbol.for("Jupyter.display")](): MimeBundle {
    const { headers, rows } = this.textRows();
    const numeric = (i: number) => i >= 3 + this.configFields.length;
    const html =
      `<div class="vramlab-experiments-comparison"><table><caption>${escapeHtml(this.title)}</caption>` +
      `<thead><tr>${headers.map((h, i) => `<th style="text-align:${numeric(i) ? "right" : "left"}">${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>` +
      rows.map((r) => `<tr>${r.map((c, i) => `<td style="text-align:${numeric(i) ? "right" : "left"}">${i === 0 ? `<code>${escapeHtml(c)}</code>` : escapeHtml(c)}</td>`).join("")}</tr>`).join("") +
      `</tbody></table>`;
    const figure = this.figure();
    const bundle: MimeBundle = { "text/plain": this.toString() };
    if (figure.data.length > 0) {
      bundle["text/html"] = `${html}${FIGURE_SVG_SLOT}</div>`;
      bundle[PLOTLY_MIME] = figure;
    } else bundle["text/html"] = `${html}</div>`;
    return bundle;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
