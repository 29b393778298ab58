// vl.experiment(name, config, fn): runs fn(config) and stores one record of
// it in the experiment store: config, metrics, per-layer rows, environment,
// outputs, and whether it failed (a failing fn is recorded, then its error
// is thrown again). rerun() runs a function again on a stored record's
// config; recordRun() stores a run that already happened (the control
// panel's record button).
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { getDevice, type DeviceSpec } from "../device.js";
import type { Report, ReportData } from "../profile/report.js";
import { captureEnvironment } from "./environment.js";
import { ExperimentStore } from "./store.js";
import { ExperimentRecord, RECORD_FORMAT, RECORD_VERSION, type ExperimentConfig, type ExperimentError, type Metrics } from "./record.js";
import type { MimeBundle } from "./display-bundle.js";
import type { LayerRow } from "../profile/report.js";

/** The store's file name in the notebook's folder (the kernel's working directory). */
export const DEFAULT_STORE_FILE = "vramlab-experiments.jsonl";

const stores = new Map<string, ExperimentStore>();
let opened: ExperimentStore | null = null;

/** VRAMLAB_EXPERIMENTS_FILE, or vramlab-experiments.jsonl in the working directory (beside the notebook). */
export function defaultStorePath(): string {
  return resolve(process.env.VRAMLAB_EXPERIMENTS_FILE || join(process.cwd(), DEFAULT_STORE_FILE));
}

/** The store at a path (a folder means vramlab-experiments.jsonl inside it); one object per file, so reads stay incremental. */
export function storeAt(path: string): ExperimentStore {
  if (typeof path !== "string" || path === "") throw new TypeError('experiments: give the store as a file path, e.g. "results/experiments.jsonl"');
  let file = resolve(path);
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, DEFAULT_STORE_FILE);
  let store = stores.get(file);
  if (!store) {
    store = new ExperimentStore(file);
    stores.set(file, store);
  }
  return store;
}

/** Makes the store at `path` (default: defaultStorePath()) the one experiments go to and are read from, and returns it. */
export function open(path?: string): ExperimentStore {
  opened = storeAt(path ?? defaultStorePath());
  return opened;
}

/** The store in use: the one last opened, else the default beside the notebook. */
export function current(): ExperimentStore {
  return opened ?? storeAt(defaultStorePath());
}

/** What an experiment's function may return besides a bare Report, metrics object, displayable or text. */
export interface ExperimentResult {
  report?: Report | ReportData;
  /** extra metrics (they override the report's of the same name) */
  metrics?: Metrics;
  /** things to show and keep: figures, tables, any displayable, MIME bundles or text */
  outputs?: unknown[];
  notes?: string;
}

export interface ExperimentOptions {
  /** the store to write to (default: experiments.current()) */
  store?: ExperimentStore | string;
  tags?: string[];
  notes?: string;
  /** the device measured, when the function returns no Report saying it */
  device?: DeviceSpec;
  /** the folder whose git commit is recorded (default: the working directory) */
  workdir?: string;
}

const DISPLAY = Symbol.for("Jupyter.display");

function newId(start: Date): string {
  const t = start.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${t}-${randomBytes(3).toString("hex")}`;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}

/** Throws unless `value` is JSON data that reads back as itself (the config has to rebuild the run). */
function checkJson(value: unknown, path: string): void {
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`experiment: ${path} is ${value}, which JSON cannot hold; use null or a string`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkJson(v, `${path}[${i}]`));
    return;
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`experiment: ${path} is a ${describe(value)}, not plain data; put what rebuilds it in the config (a preset name, a scheme, sizes) and build it inside the function`);
    }
    for (const [k, v] of Object.entries(value)) if (v !== undefined) checkJson(v, `${path}.${k}`);
    return;
  }
  throw new TypeError(`experiment: ${path} is a ${typeof value}; a config holds only JSON data (strings, numbers, booleans, null, arrays, objects)`);
}

function isReport(v: unknown): v is Report | ReportData {
  const o = v as ReportData | null;
  return typeof o === "object" && o !== null && typeof o.summary === "object" && o.summary !== null && typeof o.summary.modelMemory === "number" && typeof o.info === "object" && Array.isArray(o.layers);
}

function isMetrics(v: unknown): v is Metrics {
  if (typeof v !== "object" || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) return false;
  const values = Object.values(v);
  return values.length > 0 && values.every((x) => x === null || typeof x === "number");
}

function isResult(v: unknown): v is ExperimentResult {
  if (typeof v !== "object" || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype || isReport(v)) return false;
  const keys = Object.keys(v);
  return keys.length > 0 && keys.every((k) => k === "report" || k === "metrics" || k === "outputs" || k === "notes");
}

function reportMetrics(r: Report | ReportData): Metrics {
  const s = r.summary;
  const i = r.info;
  return {
    modelMemory: s.modelMemory, inferenceMemory: s.inferenceMemory, inferenceReserved: i.inferenceReserved,
    timeMs: s.timeMs, computeMs: i.computeMs, h2dBytes: s.h2dBytes, h2dSeconds: s.h2dSeconds, overlapMs: i.overlapMs,
  };
}

function lastStepLayers(r: Report | ReportData): LayerRow[] {
  const last = r.info.steps - 1;
  return r.layers.filter((l) => l.step === last);
}

function jsonSafe(mime: string, v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");
  if (v instanceof ArrayBuffer) return Buffer.from(v).toString("base64");
  try {
    return JSON.parse(JSON.stringify(v)) as unknown;
  } catch (e) {
    throw new TypeError(`experiment: the ${mime} part of an output cannot be stored as JSON: ${(e as Error).message}`);
  }
}

/** An output as a stored MIME bundle: text, a displayable's bundle, or a ready bundle. */
async function outputBundle(value: unknown): Promise<MimeBundle> {
  if (typeof value === "string") return { "text/plain": value };
  let raw: unknown = value;
  const display = (value as Record<symbol, unknown> | null)?.[DISPLAY];
  if (typeof display === "function") raw = await (display as () => unknown).call(value);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new TypeError(`experiment: an output is a ${describe(value)}; outputs are text, displayable objects (figures, reports, tables) or MIME bundles`);
  let data = raw as Record<string, unknown>;
  if (!Object.keys(data).some((k) => k.includes("/")) && typeof data.data === "object" && data.data !== null) data = data.data as Record<string, unknown>;
  const bundle: MimeBundle = {};
  for (const [mime, v] of Object.entries(data)) {
    if (!mime.includes("/")) throw new TypeError(`experiment: an output of type ${describe(value)} has the key "${mime}", which is not a MIME type`);
    if (v !== undefined) bundle[mime] = jsonSafe(mime, v);
  }
  if (Object.keys(bundle).length === 0) throw new TypeError(`experiment: an output of type ${describe(value)} displays as an empty bundle`);
  return bundle;
}

interface Interpreted {
  metrics: Metrics;
  report: Report | ReportData | null;
  outputs: MimeBundle[];
  notes: string | null;
}

async function interpret(value: unknown): Promise<Interpreted> {
  const plainEmpty = typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype && Object.keys(value).length === 0;
  if (value === undefined || plainEmpty) return { metrics: {}, report: null, outputs: [], notes: null };
  if (isReport(value)) return { metrics: reportMetrics(value), report: value, outputs: [], notes: null };
  if (isResult(value)) {
    if (value.report !== undefined && !isReport(value.report)) throw new TypeError(`experiment: result.report (${describe(value.report)}) is not a Report; give what vl.profile returns`);
    if (value.metrics !== undefined && !isMetrics(value.metrics)) throw new TypeError("experiment: result.metrics must be an object of numbers, e.g. { sqnrDb: 31.2 }");
    if (value.outputs !== undefined && !Array.isArray(value.outputs)) throw new TypeError("experiment: result.outputs must be an array of things to show");
    const outputs: MimeBundle[] = [];
    for (const o of value.outputs ?? []) outputs.push(await outputBundle(o));
    return { metrics: { ...(value.report ? reportMetrics(value.report) : {}), ...(value.metrics ?? {}) }, report: value.report ?? null, outputs, notes: value.notes ?? null };
  }
  if (isMetrics(value)) return { metrics: { ...value }, report: null, outputs: [], notes: null };
  if (typeof value === "string" || (typeof value === "object" && value !== null && typeof (value as Record<symbol, unknown>)[DISPLAY] === "function")) {
    return { metrics: {}, report: null, outputs: [await outputBundle(value)], notes: null };
  }
  throw new TypeError(
    `experiment: the function returned a ${describe(value)}; return a Report (vl.profile), metrics ({ timeMs: 12.5 }), { report, metrics, outputs }, a displayable or text`,
  );
}

function errorOf(e: unknown): ExperimentError {
  if (e instanceof Error) return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  return { name: "Error", message: String(e) };
}

function storeOf(option: ExperimentStore | string | undefined): ExperimentStore {
  if (option === undefined) return current();
  if (option instanceof ExperimentStore) return option;
  return storeAt(option);
}

async function run<C extends object>(name: string, config: C, fn: (config: C) => unknown, options: ExperimentOptions, rerunOf: string | null): Promise<ExperimentRecord> {
  if (typeof name !== "string" || name.trim() === "") throw new TypeError('experiment: the first argument is its name, e.g. vl.experiment("int8 vs fp8", config, async () => ...)');
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new TypeError(`experiment "${name}": the config must be an object of settings, e.g. { scheme: "int8wo" }, got ${describe(config)}`);
  checkJson(config, "config");
  if (typeof fn !== "function") throw new TypeError(`experiment "${name}": the third argument must be the function to run, got ${describe(fn)}`);
  if (options.tags !== undefined && (!Array.isArray(options.tags) || !options.tags.every((t) => typeof t === "string"))) throw new TypeError(`experiment "${name}": tags must be an array of strings`);
  const store = storeOf(options.store);
  const optionDevice = options.device !== undefined ? getDevice(options.device).name : null; // a bad spec fails before the run
  const stored = JSON.parse(JSON.stringify(config)) as ExperimentConfig;

  const start = new Date();
  const t0 = performance.now();
  let outcome: { ok: true; value: Interpreted } | { ok: false; error: unknown };
  try {
    // the function gets its own copy: what it changes cannot alter the record
    const value = await fn(JSON.parse(JSON.stringify(stored)) as C);
    outcome = { ok: true, value: await interpret(value) };
  } catch (e) {
    outcome = { ok: false, error: e };
  }
  const durationMs = performance.now() - t0;
  const result = outcome.ok ? outcome.value : null;
  const device = result?.report?.info.device ?? optionDevice;
  const record = new ExperimentRecord({
    format: RECORD_FORMAT, version: RECORD_VERSION, id: newId(start), name, time: start.toISOString(), durationMs,
    status: outcome.ok ? "ok" : "error", error: outcome.ok ? null : errorOf(outcome.error), config: stored,
    metrics: result?.metrics ?? {}, profile: result?.report ? (JSON.parse(JSON.stringify(result.report.info)) as ReportData["info"]) : null,
    layers: result?.report ? lastStepLayers(result.report) : [], environment: captureEnvironment({ device, workdir: options.workdir }),
    outputs: result?.outputs ?? [], rerunOf, tags: options.tags ?? [], notes: result?.notes ?? options.notes ?? null,
  });
  try {
    store.append(record);
  } catch (e) {
    if (!outcome.ok) {
      console.warn(`experiment "${name}" failed and its record could not be saved either: ${(e as Error).message}`);
      throw outcome.error;
    }
    const err = new Error(`experiment "${name}" ran but its record could not be saved: ${(e as Error).message}. The record is on this error's .record property.`);
    (err as Error & { record: ExperimentRecord }).record = record;
    throw err;
  }
  if (!outcome.ok) throw outcome.error;
  return record;
}

/**
 * Runs `fn(config)` and records it: `await vl.experiment("int8 offload", { scheme: "int8wo" }, async (c) => vl.profile(...))`.
 * fn returns a Report, metrics, { report, metrics, outputs }, a displayable or text. A throwing fn is
 * recorded as failed and its error is thrown again. Returns the record (it displays itself).
 */
export function experiment<C extends object>(name: string, config: C, fn: (config: C) => unknown, options: ExperimentOptions = {}): Promise<ExperimentRecord> {
  return run(name, config, fn, options, null);
}

/**
 * Runs `fn` again on a stored record's config (the record, or its id in the current store) and
 * records the new run under the same name, with rerunOf set to the old id.
 */
export async function rerun<C extends object = ExperimentConfig>(record: ExperimentRecord | string, fn: (config: C) => unknown, options: ExperimentOptions = {}): Promise<ExperimentRecord> {
  const old = typeof record === "string" ? storeOf(options.store).get(record) : record;
  if (!(old instanceof ExperimentRecord)) throw new TypeError("experiments.rerun: give a record (from experiments.get or list) or its id");
  return run(old.name, old.config as C, fn, { tags: old.tags, ...options }, old.id);
}

/** A run that already happened: what recordRun stores. Other fields (a panel's `label`) are allowed; label becomes the notes. */
export interface FinishedRun {
  config: object;
  report?: Report | ReportData;
  metrics?: Metrics;
  outputs?: unknown[];
  notes?: string;
  /** a one-line description (the control panel's describeConfig) */
  label?: string;
}

/**
 * Records a run that already happened, e.g. the control panel's record button:
 * `panel(model, inputs, { onRecord: (run) => vl.experiments.recordRun("panel", run) })`.
 */
export function recordRun(name: string, run: FinishedRun, options: ExperimentOptions = {}): Promise<ExperimentRecord> {
  if (typeof run !== "object" || run === null) throw new TypeError('recordRun: give { config, report } (and optionally metrics, outputs), e.g. recordRun("panel", { config: panel.config, report })');
  const result: ExperimentResult = {};
  if (run.report !== undefined) result.report = run.report;
  if (run.metrics !== undefined) result.metrics = run.metrics;
  if (run.outputs !== undefined) result.outputs = run.outputs;
  const notes = run.notes ?? (typeof run.label === "string" ? run.label : undefined);
  if (notes !== undefined) result.notes = notes;
  return experiment(name, run.config, () => result, options);
}
