// A figure that grows while a run progresses: points appended to named line
// series, spans appended to a timeline. Each change notifies the onUpdate
// listeners; the kernel redraws the output in place with update_display_data
// under `displayId`.
import { randomUUID } from "node:crypto";
import { Figure, PALETTE, type Layout, type ScatterTrace, type BarTrace } from "./figure.js";
import { appendSpan, liveSpanItem, timelineLayout, type TimelineItem } from "./layer-figures.js";
import { Device, getDevice, type DeviceSpec } from "../../engine/device.js";
import type { Span } from "../../engine/stream.js";

export type UpdateListener = (figure: LiveFigure) => void;

export interface LiveFigureOptions {
  /** keep only the newest points (or spans) of each trace, so a long run's figure stays small (default: keep all) */
  maxPoints?: number;
}

export class LiveFigure extends Figure {
  /** display_id the kernel publishes this figure under, and updates in place */
  readonly displayId = `vramlab-live-${randomUUID()}`;
  readonly maxPoints: number;
  private readonly listeners = new Set<UpdateListener>();
  private batchDepth = 0;
  private changedInBatch = false;
  /** how many updates were announced */
  version = 0;

  constructor(layout: Layout = {}, options: LiveFigureOptions = {}) {
    super([], layout);
    const max = options.maxPoints ?? Infinity;
    if (!(max >= 1)) throw new RangeError(`LiveFigure: maxPoints must be >= 1, got ${max}`);
    this.maxPoints = max;
  }

  /** Lines over x (step, time): series are created on first use. */
  static lines(options: { title?: string; xTitle?: string; yTitle?: string; series?: string[] } & LiveFigureOptions = {}): LiveFigure {
    const fig = new LiveFigure(
      { title: options.title ? { text: options.title } : undefined, xaxis: { title: { text: options.xTitle ?? "" } }, yaxis: { title: { text: options.yTitle ?? "" } } },
      options,
    );
    for (const s of options.series ?? []) fig.series(s);
    return fig;
  }

  /** A stream timeline: lanes as categories, spans grouped (and coloured) by their group. */
  static timeline(options: { title?: string; xTitle?: string } & LiveFigureOptions = {}): LiveFigure {
    return new LiveFigure(timelineLayout(options.title ?? "Timeline", options.xTitle ?? "ms"), options);
  }

  /**
   * Draws a device's work as it is queued (compute spans, copies in each
   * direction, one lane per stream), timed from now; displayed in the kernel,
   * the figure redraws in place as the run progresses. Returns the function
   * that stops following.
   */
  follow(device: Device | DeviceSpec): () => void {
    const d = device instanceof Device ? device : getDevice(device);
    const origin = d.timeline.hostTimeMs();
    return d.timeline.subscribe((s: Span) => this.appendSpans([liveSpanItem(s, origin)]));
  }

  /** Calls `listener` after every change (or once per batch); returns a function that removes it. */
  onUpdate(listener: UpdateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs `fn` and announces its changes as one update. */
  batch<T>(fn: () => T): T {
    this.batchDepth++;
    try {
      return fn();
    } finally {
      if (--this.batchDepth === 0 && this.changedInBatch) {
        this.changedInBatch = false;
        this.update();
      }
    }
  }

  /** Announces a change (call after editing data or layout directly). Every listener runs even if one throws. */
  update(): void {
    if (this.batchDepth > 0) {
      this.changedInBatch = true;
      return;
    }
    this.version++;
    const errors: unknown[] = [];
    for (const l of [...this.listeners]) {
      try {
        l(this);
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, "LiveFigure: update listeners failed");
  }

  /** The line trace named `name`, created if missing. */
  series(name: string): ScatterTrace {
    let t = this.data.find((d): d is ScatterTrace => d.type === "scatter" && d.name === name);
    if (!t) {
      t = { type: "scatter", mode: "lines+markers", name, x: [], y: [], line: { color: PALETTE[this.data.length % PALETTE.length] } };
      this.data.push(t);
    }
    return t;
  }

  /** Appends points to a line series and announces the change. */
  appendPoints(name: string, xs: number[], ys: number[]): void {
    if (xs.length !== ys.length) throw new RangeError(`LiveFigure.appendPoints: ${xs.length} x values but ${ys.length} y values`);
    const t = this.series(name);
    t.x.push(...xs);
    t.y.push(...ys);
    this.trim(t);
    this.update();
  }

  appendPoint(name: string, x: number, y: number): void {
    this.appendPoints(name, [x], [y]);
  }

  /** Appends timeline spans (each to the trace of its group) and announces the change once. */
  appendSpans(items: TimelineItem[]): void {
    for (const s of items) {
      if (!(s.endMs >= s.startMs)) throw new RangeError(`LiveFigure.appendSpans: span ends (${s.endMs}) before it starts (${s.startMs})`);
      let t = this.data.find((d): d is BarTrace => d.type === "bar" && d.name === s.group);
      if (!t) {
        t = { type: "bar", name: s.group, orientation: "h", x: [], y: [], base: [], hovertext: [], hoverinfo: "text", marker: { color: s.color ?? PALETTE[this.data.length % PALETTE.length] } };
        this.data.push(t);
      }
      appendSpan(t, s);
      this.trim(t);
    }
    if (items.length) this.update();
  }

  private trim(t: ScatterTrace | BarTrace): void {
    const extra = t.x.length - this.maxPoints;
    if (extra <= 0) return;
    t.x.splice(0, extra);
    t.y.splice(0, extra);
    if (t.type === "bar") {
      t.base?.splice(0, extra);
      t.hovertext?.splice(0, extra);
    }
  }

  override describe(): string {
    return `Live${super.describe()}, update ${this.version}`;
  }
}
