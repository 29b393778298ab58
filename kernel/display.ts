// Rich display: values become MIME bundles (Deno's convention: an object
// with a [Symbol.for("Jupyter.display")]() method shows as the bundle it
// returns), helpers build common bundles, and display() publishes them.
// Outside the kernel display() prints the text/plain part.
import { inspect } from "node:util";
import { randomUUID } from "node:crypto";
import { getKernelRuntime, type MimeData } from "./runtime.js";
import type { JsonObject } from "./protocol.js";
import { Figure, type Layout, type Trace } from "../widgets/figures/figure.js";
import { FIGURE_SVG_SLOT, PLOTLY_MIME } from "../engine/experiments/display-bundle.js";

/** Objects with a method under this symbol display as the MIME bundle it returns (Deno's convention). */
export const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

export type MimeBundle = Record<string, unknown>;

export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle | { data: MimeBundle; metadata?: JsonObject } | Promise<MimeBundle | { data: MimeBundle; metadata?: JsonObject }>;
}

export function isDisplayable(x: unknown): x is Displayable {
  return (typeof x === "object" || typeof x === "function") && x !== null && typeof (x as unknown as Record<symbol, unknown>)[JUPYTER_DISPLAY] === "function";
}

/** A bundle ready to publish: JSON-safe data (binary as base64) plus metadata. */
export interface ResolvedBundle {
  data: MimeData;
  metadata: JsonObject;
}

/** text/plain the way the Node REPL shows values. */
export function plainText(value: unknown): string {
  return inspect(value, { depth: 4, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 100 });
}

function isBinary(v: unknown): v is ArrayBufferView | ArrayBuffer {
  return ArrayBuffer.isView(v) || v instanceof ArrayBuffer;
}

function toBase64(v: ArrayBufferView | ArrayBuffer): string {
  const bytes = v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return bytes.toString("base64");
}

/** Bundles returned as {data, metadata} are told apart from plain bundles by having no "type/subtype" keys. */
function splitBundle(raw: unknown): { data: Record<string, unknown>; metadata: JsonObject } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new TypeError(`a MIME bundle must be an object like {"text/html": "..."}, got ${plainText(raw)}`);
  }
  const o = raw as Record<string, unknown>;
  const keys = Object.keys(o);
  if (!keys.some((k) => k.includes("/")) && typeof o.data === "object" && o.data !== null) {
    const metadata = (o.metadata ?? {}) as JsonObject;
    return { data: o.data as Record<string, unknown>, metadata };
  }
  return { data: o, metadata: {} };
}

/** Trace types the SVG renderer (widgets/figures/svg.ts) draws. */
const SVG_TRACE_TYPES = new Set(["bar", "scatter"]);

/** The SVG drawing of plotly JSON, or null when it holds traces the renderer does not draw (the bundle then goes without). */
function plotlySvg(figure: unknown): string | null {
  const f = figure as { data?: unknown; layout?: unknown } | null;
  if (typeof f !== "object" || f === null || !Array.isArray(f.data) || f.data.length === 0) return null;
  if (!f.data.every((t) => typeof t === "object" && t !== null && SVG_TRACE_TYPES.has((t as { type?: string }).type ?? "scatter") && Array.isArray((t as { x?: unknown }).x) && Array.isArray((t as { y?: unknown }).y))) return null;
  try {
    const layout = typeof f.layout === "object" && f.layout !== null ? (f.layout as Layout) : {};
    return new Figure(f.data as Trace[], layout).toSVG();
  } catch {
    return null;
  }
}

/**
 * A bundle with plotly JSON and no SVG gets image/svg+xml drawn from it, so the figure shows where no
 * script runs (GitHub, nbconvert); a text/html part holding FIGURE_SVG_SLOT gets the same SVG in its place.
 */
function addSvgFallback(out: MimeData): void {
  if (!(PLOTLY_MIME in out)) return;
  let svgText = typeof out["image/svg+xml"] === "string" ? (out["image/svg+xml"] as string) : null;
  if (svgText === null) {
    svgText = plotlySvg(out[PLOTLY_MIME]);
    if (svgText !== null) out["image/svg+xml"] = svgText;
  }
  const htmlText = out["text/html"];
  if (typeof htmlText === "string" && htmlText.includes(FIGURE_SVG_SLOT)) out["text/html"] = htmlText.replace(FIGURE_SVG_SLOT, () => svgText ?? "");
}

/** Checks and converts a raw bundle: binary values become base64, non-JSON values are rejected with a clear error. */
export function normalizeBundle(raw: unknown, fallbackText?: () => string | null): ResolvedBundle {
  const { data, metadata } = splitBundle(raw);
  const out: MimeData = {};
  for (const [mime, v] of Object.entries(data)) {
    if (v === undefined) continue;
    if (!/^[\w.+-]+\/[\w.+-]+$/.test(mime)) throw new TypeError(`"${mime}" is not a MIME type (expected type/subtype, e.g. "text/html")`);
    out[mime] = isBinary(v) ? toBase64(v) : v;
  }
  addSvgFallback(out);
  if (!("text/plain" in out)) out["text/plain"] = fallbackText?.() ?? `<${Object.keys(out).join(", ") || "empty display"}>`;
  try {
    JSON.stringify(out);
    JSON.stringify(metadata);
  } catch (e) {
    throw new TypeError(`the MIME bundle cannot be sent: ${(e as Error).message}`);
  }
  return { data: out, metadata };
}

/** The bundle a value displays as (a Promise only when its display method is async). */
export function mimeBundleOf(value: unknown): ResolvedBundle | Promise<ResolvedBundle> {
  if (isDisplayable(value)) {
    const raw = value[JUPYTER_DISPLAY]();
    const fallback = () => {
      const name = (value as { constructor?: { name?: string } }).constructor?.name;
      return name && name !== "Object" && name !== "Function" ? `<${name}>` : null;
    };
    if (raw && typeof (raw as Promise<unknown>).then === "function") return (raw as Promise<unknown>).then((r) => normalizeBundle(r, fallback));
    return normalizeBundle(raw, fallback);
  }
  return { data: { "text/plain": plainText(value) }, metadata: {} };
}

// ---- building bundles ---------------------------------------------------------

/** A displayable made from a ready MIME bundle (and optional metadata). */
export function mimeBundle(data: MimeBundle, metadata: JsonObject = {}): Displayable {
  const resolved = normalizeBundle({ data, metadata });
  return { [JUPYTER_DISPLAY]: () => resolved };
}

/**
 * Makes any object display as a MIME bundle: `withMimeBundle(figure, () => ({ "image/svg+xml": svgText }))`.
 * The function runs each time the object is displayed, so it shows the object's current state.
 */
export function withMimeBundle<T extends object>(target: T, bundle: (self: T) => MimeBundle | { data: MimeBundle; metadata?: JsonObject }): T & Displayable {
  Object.defineProperty(target, JUPYTER_DISPLAY, { value: () => bundle(target), configurable: true, enumerable: false, writable: true });
  return target as T & Displayable;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Joins a tagged template (or takes a plain string): html`<b>${x}</b>` or html("<b>x</b>"). */
function templateText(strings: TemplateStringsArray | string, values: unknown[]): string {
  if (typeof strings === "string") return strings;
  let s = strings[0];
  for (let i = 0; i < values.length; i++) s += String(values[i]) + strings[i + 1];
  return s;
}

function stripTags(htmlText: string): string {
  const text = htmlText.replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/gi, "").replace(/<[^>]*>/g, " ").replace(/&nbsp;/g, " ").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
  return text.replace(/\s+/g, " ").trim();
}

/** HTML: html`<b>${x}</b>` or html("<b>bold</b>"). Interpolated values are not escaped (use escapeHtml). */
export function html(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable {
  const text = templateText(strings, values);
  return mimeBundle({ "text/html": text, "text/plain": stripTags(text) });
}

/** Markdown: markdown`# ${title}` or markdown("# Title"). */
export function markdown(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable {
  const text = templateText(strings, values);
  return mimeBundle({ "text/markdown": text, "text/plain": text });
}
export { markdown as md };

/** SVG markup. */
export function svg(strings: TemplateStringsArray | string, ...values: unknown[]): Displayable {
  const text = templateText(strings, values);
  if (!/<svg[\s>]/i.test(text)) throw new TypeError("svg(): the markup has no <svg> element");
  return mimeBundle({ "image/svg+xml": text, "text/plain": "<SVG image>" });
}

/** Width and height from a PNG's IHDR chunk, or null when the bytes are not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || !sig.every((b, i) => bytes[i] === b)) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

/** A PNG image from its bytes (or base64 text); width/height set the displayed size. */
export function png(image: Uint8Array | ArrayBuffer | string, opts: { width?: number; height?: number } = {}): Displayable {
  const bytes = typeof image === "string" ? Buffer.from(image, "base64") : image instanceof ArrayBuffer ? new Uint8Array(image) : image;
  const size = pngSize(bytes);
  if (!size) throw new TypeError("png(): the bytes are not a PNG image (bad signature or too short)");
  const metadata: JsonObject = {};
  if (opts.width !== undefined || opts.height !== undefined) {
    metadata["image/png"] = { ...(opts.width !== undefined ? { width: opts.width } : {}), ...(opts.height !== undefined ? { height: opts.height } : {}) };
  }
  return mimeBundle({ "image/png": bytes, "text/plain": `<PNG image ${size.width}x${size.height}>` }, metadata);
}

/** JSON data, shown as a collapsible tree where the frontend supports it. */
export function json(value: unknown, opts: { expanded?: boolean } = {}): Displayable {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (e) {
    throw new TypeError(`json(): the value is not JSON-serializable: ${(e as Error).message}`);
  }
  if (text === undefined) throw new TypeError(`json(): ${plainText(value)} has no JSON form`);
  const data = JSON.parse(text) as unknown;
  return mimeBundle({ "application/json": typeof data === "object" && data !== null ? data : { value: data }, "text/plain": text }, { "application/json": { expanded: opts.expanded ?? false } });
}

export type TableCell = string | number | boolean | bigint | null | undefined;
export interface TableOptions {
  /** column names (and order); taken from the rows' keys when the rows are objects */
  columns?: string[];
  caption?: string;
  /** digits after the decimal point for non-integer numbers (default: up to 4 significant decimals) */
  digits?: number;
}

function formatCell(v: unknown, digits: number | undefined): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
    return digits !== undefined ? v.toFixed(digits) : String(Number(v.toPrecision(6)));
  }
  return typeof v === "string" ? v : typeof v === "object" ? inspect(v, { depth: 1, breakLength: Infinity }) : String(v);
}

/** A table as HTML and aligned text: rows are objects (columns from their keys) or arrays (with `columns`). */
export function table(rows: readonly (Readonly<Record<string, unknown>> | readonly unknown[])[], opts: TableOptions = {}): Displayable {
  if (!Array.isArray(rows)) throw new TypeError("table(): rows must be an array of objects or arrays");
  const arrayRows = rows.length > 0 && rows.every((r) => Array.isArray(r));
  let columns = opts.columns;
  if (!columns) {
    if (arrayRows) columns = (rows[0] as unknown[]).map((_, i) => String(i));
    else {
      const seen = new Set<string>();
      for (const r of rows) {
        if (typeof r !== "object" || r === null || Array.isArray(r)) throw new TypeError("table(): mix of object and array rows; give every row the same shape");
        for (const k of Object.keys(r)) seen.add(k);
      }
      columns = [...seen];
    }
  }
  const cols = columns;
  const raw: unknown[][] = rows.map((r) => (Array.isArray(r) ? cols.map((_, i) => r[i]) : cols.map((c) => (r as Record<string, unknown>)[c])));
  const cells = raw.map((r) => r.map((v) => formatCell(v, opts.digits)));
  const numeric = cols.map((_, i) => raw.length > 0 && raw.every((r) => typeof r[i] === "number" || typeof r[i] === "bigint" || r[i] === null || r[i] === undefined));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
  const textLines = [line(cols), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)];
  if (opts.caption) textLines.unshift(opts.caption);
  const align = (i: number) => (numeric[i] ? ' style="text-align:right"' : ' style="text-align:left"');
  const htmlText = [
    "<table>",
    opts.caption ? `<caption>${escapeHtml(opts.caption)}</caption>` : "",
    `<thead><tr>${cols.map((c, i) => `<th${align(i)}>${escapeHtml(c)}</th>`).join("")}</tr></thead>`,
    `<tbody>${cells.map((r) => `<tr>${r.map((c, i) => `<td${align(i)}>${escapeHtml(c)}</td>`).join("")}</tr>`).join("")}</tbody>`,
    "</table>",
  ].join("");
  return mimeBundle({ "text/html": htmlText, "text/plain": textLines.join("\n") });
}

// ---- publishing -------------------------------------------------------------

export interface DisplayOptions {
  /** give the output an id (true: a new random one) so it can be updated later */
  displayId?: string | boolean;
  /** replace the output with this id instead of adding one (update_display_data) */
  update?: boolean;
  /** extra metadata merged into the bundle's */
  metadata?: JsonObject;
}

/** A displayed output that can be replaced in place. */
export class DisplayHandle {
  constructor(readonly displayId: string) {}
  /** Replaces the output everywhere it is shown. */
  update(value: unknown): void {
    display(value, { displayId: this.displayId, update: true });
  }
}

function publish(bundle: ResolvedBundle, opts: DisplayOptions, displayId: string | undefined): void {
  const metadata = { ...bundle.metadata, ...(opts.metadata ?? {}) };
  const rt = getKernelRuntime();
  if (rt) rt.display({ data: bundle.data, metadata, displayId, update: opts.update === true });
  else if (!opts.update) console.log(String(bundle.data["text/plain"] ?? ""));
}

/**
 * A value that changes after it is shown (a LiveFigure): the kernel shows it
 * under its own displayId and republishes it with update_display_data when
 * it announces a change, at most every LIVE_UPDATE_INTERVAL_MS (the last
 * change always gets through), so a run that adds spans by the thousand
 * does not flood the front end.
 */
export interface LiveDisplayable {
  readonly displayId: string;
  onUpdate(listener: (value: never) => void): () => void;
}

export const LIVE_UPDATE_INTERVAL_MS = 100;

export function isLiveDisplayable(value: unknown): value is LiveDisplayable {
  return (
    typeof value === "object" && value !== null && typeof (value as { displayId?: unknown }).displayId === "string" &&
    typeof (value as { onUpdate?: unknown }).onUpdate === "function" && isDisplayable(value)
  );
}

/** displayIds already followed: one subscription per live value, however often it is shown. */
const followed = new WeakMap<object, string>();

function followLive(value: LiveDisplayable): void {
  if (followed.get(value) === value.displayId) return;
  followed.set(value, value.displayId);
  let last = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const republish = () => {
    timer = null;
    last = Date.now();
    display(value, { displayId: value.displayId, update: true });
  };
  value.onUpdate(() => {
    if (timer) return; // a trailing update is already due and will show this change
    const wait = last + LIVE_UPDATE_INTERVAL_MS - Date.now();
    if (wait <= 0) republish();
    else timer = setTimeout(republish, wait);
  });
}

/**
 * Shows a value in the notebook: its MIME bundle when it has one, otherwise
 * its text. With `{ displayId }` it returns a handle to update the output.
 * A live value (LiveDisplayable) is shown under its own displayId and
 * updated in place as it changes.
 */
export function display(value: unknown, opts: DisplayOptions & { displayId: string | true }): DisplayHandle;
export function display(value: unknown, opts?: DisplayOptions): DisplayHandle | undefined;
export function display(value: unknown, opts: DisplayOptions = {}): DisplayHandle | undefined {
  if (opts.update && (opts.displayId === undefined || opts.displayId === false)) throw new TypeError("display(): update needs the displayId of the output to replace");
  let displayId = opts.displayId === true ? randomUUID() : opts.displayId === false ? undefined : opts.displayId;
  if (displayId === undefined && opts.displayId !== false && isLiveDisplayable(value)) {
    displayId = value.displayId;
    followLive(value);
  }
  const bundle = mimeBundleOf(value);
  if (bundle instanceof Promise) {
    bundle.then((b) => publish(b, opts, displayId), (e: Error) => console.error(`display(): ${e.message}`));
  } else {
    publish(bundle, opts, displayId);
  }
  return displayId !== undefined ? new DisplayHandle(displayId) : undefined;
}

/** Clears the cell's output (with wait: when the next output arrives, to avoid flicker). */
export function clearOutput(opts: { wait?: boolean } = {}): void {
  getKernelRuntime()?.clearOutput(opts.wait === true);
}
