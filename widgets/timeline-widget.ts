// The live per-layer timeline as a widget of its own: compute and copy
// spans on one lane per stream, growing while a run progresses, a click on
// a span selecting it in the kernel (`w.selected`, observable).
//
// It is an anywidget model (module "anywidget", AnyModel/AnyView) whose
// front end is an ES module carried in the state (`_esm`, built from
// browser/timeline-widget-view.ts into dist/browser/timeline-widget.js).
// JupyterLab and Notebook 7 load it with anywidget's prebuilt front-end
// extension (`pip install anywidget`, no server extension and nothing
// vramlab-specific); VS Code and Colab load anywidget themselves; the live
// page of `vramlab serve` bundles it. Without anywidget the front end shows
// the text form.
//
// Appends travel as small custom messages ({type: "append", spans}); the
// full list goes out only when the widget opens, on request_state(s) and
// when a new view asks for it ({type: "sync"}).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Widget, type ModelSpec } from "./widget.js";
import { Layout } from "./schema-widget.js";
import type { JsonObject } from "../kernel/protocol.js";
import { TIMELINE_GROUPS, liveSpanItem, type FigureSource, type TimelineItem } from "./figures/layer-figures.js";
import type { ReportFigures } from "../engine/profile/report.js";
import { getDevice, type Device, type DeviceSpec } from "../engine/device.js";
import type { Span } from "../engine/stream.js";

/** anywidget's model module; the range matches the front end anywidget 0.11 registers (what its Python package sends). */
export const ANYWIDGET_MODULE = { name: "anywidget", version: "~0.11.*" } as const;

const SPEC: ModelSpec = {
  modelName: "AnyModel",
  modelModule: ANYWIDGET_MODULE.name,
  modelModuleVersion: ANYWIDGET_MODULE.version,
  viewName: "AnyView",
  viewModule: ANYWIDGET_MODULE.name,
  viewModuleVersion: ANYWIDGET_MODULE.version,
};

const ESM_FILE = new URL("../browser/timeline-widget.js", import.meta.url);
let esmSource: string | undefined;

/** The front end's ES module source (read once). */
export function timelineWidgetEsm(): string {
  if (esmSource === undefined) {
    try {
      esmSource = readFileSync(ESM_FILE, "utf8");
    } catch (e) {
      throw new Error(`TimelineWidget: its front end ${fileURLToPath(ESM_FILE)} is missing (${(e as Error).message}); build it with: node scripts/build-browser-live.mjs`);
    }
  }
  return esmSource;
}

export interface TimelineWidgetOptions {
  spans?: TimelineItem[];
  title?: string;
  /** width in pixels when the output area does not give one (default 800) */
  width?: number;
  /** least ms between two append messages while spans stream in (default 50) */
  flushIntervalMs?: number;
}

function checkSpan(s: unknown, where: string): TimelineItem {
  const o = s as Partial<TimelineItem> | null;
  if (!o || typeof o !== "object") throw new TypeError(`${where}: a span must be an object {lane, group, startMs, endMs, label?, color?}, got ${JSON.stringify(s)}`);
  if (typeof o.lane !== "string" || typeof o.group !== "string") throw new TypeError(`${where}: span.lane and span.group must be strings, got ${JSON.stringify(s)}`);
  if (!Number.isFinite(o.startMs) || !Number.isFinite(o.endMs) || o.endMs! < o.startMs!) {
    throw new RangeError(`${where}: span needs finite startMs <= endMs, got ${o.startMs}–${o.endMs} (${o.lane}/${o.group})`);
  }
  const out: TimelineItem = { lane: o.lane, group: o.group, startMs: o.startMs!, endMs: o.endMs! };
  if (o.label !== undefined) out.label = String(o.label);
  if (o.color !== undefined) out.color = String(o.color);
  return out;
}

/** The stream timeline items of a profiler report, coloured as streamTimeline() colours them. */
export function timelineItems(source: FigureSource): TimelineItem[] {
  const f: ReportFigures = "figures" in source && typeof source.figures === "function" ? source.figures() : (source as ReportFigures);
  const t = f.timeline;
  return t.startMs.map((startMs, i) => {
    const group = TIMELINE_GROUPS[t.resource[i]!];
    return {
      lane: t.stream[i]!, group: group.name, color: group.color, startMs, endMs: t.endMs[i]!,
      label: `${t.op[i]} (${t.category[i]}${t.module[i] ? `, ${t.module[i]}` : ""}, step ${t.step[i]})`,
    };
  });
}

export class TimelineWidget extends Widget {
  private all: TimelineItem[] = [];
  private pending: TimelineItem[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly flushIntervalMs: number;

  constructor(options: TimelineWidgetOptions = {}) {
    const spans = (options.spans ?? []).map((s, i) => checkSpan(s, `TimelineWidget spans[${i}]`));
    const flush = options.flushIntervalMs ?? 50;
    if (!(flush >= 0)) throw new RangeError(`TimelineWidget: flushIntervalMs must be >= 0, got ${flush}`);
    super(
      SPEC,
      {
        _esm: timelineWidgetEsm(), _css: "", _anywidget_id: "vramlab.TimelineWidget",
        _dom_classes: [], layout: new Layout(), tabbable: null, tooltip: null,
        spans: [], selected: null, title: "", width: 800,
      },
      { spans, title: options.title ?? "", width: options.width ?? 800 },
    );
    this.all = spans;
    this.flushIntervalMs = flush;
  }

  /** A widget showing a profiler report's stream timeline. */
  static fromReport(source: FigureSource, options: Omit<TimelineWidgetOptions, "spans"> = {}): TimelineWidget {
    return new TimelineWidget({ title: `Stream timeline (${("figures" in source && typeof source.figures === "function" ? source.figures() : (source as ReportFigures)).device})`, ...options, spans: timelineItems(source) });
  }

  /** Every span shown, in order. */
  get spans(): readonly TimelineItem[] {
    return this.all;
  }

  /** Index into `spans` of the span clicked in the front end (null: none). */
  get selected(): number | null {
    return this.get<number | null>("selected");
  }

  set selected(index: number | null) {
    this.set("selected", index);
  }

  /** The selected span, or undefined. */
  get selectedSpan(): TimelineItem | undefined {
    const i = this.selected;
    return i === null ? undefined : this.all[i];
  }

  /** Adds spans; views redraw (appends are batched, at most one message per flushIntervalMs). */
  append(spans: TimelineItem | readonly TimelineItem[]): void {
    const list = (Array.isArray(spans) ? spans : [spans]) as TimelineItem[];
    const checked = list.map((s, i) => checkSpan(s, `TimelineWidget.append [${i}]`));
    this.all.push(...checked);
    this.pending.push(...checked);
    if (this.flushIntervalMs === 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushIntervalMs);
  }

  /**
   * Shows a device's work live: every span queued on its streams from now on
   * (compute, host→device and device→host copies), timed from now, with the
   * module that issued it. Returns the function that stops following
   * (it also sends what is still pending).
   */
  follow(device: Device | DeviceSpec): () => void {
    const d = typeof device === "object" && device !== null && "timeline" in device ? (device as Device) : getDevice(device as DeviceSpec);
    const origin = d.timeline.hostTimeMs();
    const off = d.timeline.subscribe((s: Span) => this.append(liveSpanItem(s, origin)));
    return () => {
      off();
      this.flush();
    };
  }

  /** Sends the spans appended since the last message now (e.g. at the end of a run). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    const spans = this.pending;
    this.pending = [];
    this.sendCustom({ type: "append", spans: spans as unknown as JsonObject[] } as JsonObject);
  }

  /** Replaces every span (a new run): views redraw from scratch, the selection is cleared. */
  reset(spans: readonly TimelineItem[] = []): void {
    const checked = spans.map((s, i) => checkSpan(s, `TimelineWidget.reset [${i}]`));
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = [];
    this.all = checked;
    this.set("selected", null);
    this.sendCustom({ type: "reset", spans: checked as unknown as JsonObject[] } as JsonObject);
  }

  /** The state with every span so far (the opening state, request_state and request_states use it). */
  override serializedState(): Record<string, unknown> {
    const state = super.serializedState();
    // inside super()'s constructor the field does not exist yet: the state's own spans are the initial ones
    if (this.all) state.spans = this.all;
    return state;
  }

  protected override validate(key: string, value: unknown): unknown {
    if (key === "selected" && value !== null && !(Number.isInteger(value) && (value as number) >= 0)) {
      throw new TypeError(`TimelineWidget.selected must be a span index (an integer >= 0) or null, got ${JSON.stringify(value)}`);
    }
    if (key === "title" && typeof value !== "string") throw new TypeError(`TimelineWidget.title must be a string, got ${JSON.stringify(value)}`);
    if (key === "width" && !(Number.isFinite(value) && (value as number) > 0)) throw new TypeError(`TimelineWidget.width must be a positive number of pixels, got ${JSON.stringify(value)}`);
    return value;
  }

  protected override handleCustom(content: JsonObject): void {
    if (content.type === "sync") {
      this.flush();
      this.sendCustom({ type: "reset", spans: this.all as unknown as JsonObject[] } as JsonObject);
    }
  }

  protected override plainText(): string {
    const lanes = new Set(this.all.map((s) => s.lane));
    return `TimelineWidget(${this.all.length} spans on ${lanes.size} lane${lanes.size === 1 ? "" : "s"}${this.get("title") ? `, ${JSON.stringify(this.get("title"))}` : ""})`;
  }
}
