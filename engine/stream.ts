// Streams and events, on every device. A stream is an ordered queue of work;
// an event marks a point in a stream. Cross-stream ordering uses events
// (stream.waitEvent), never host synchronisation, as with CUDA.
//
// What a point in time means depends on the device's timeline:
// - cpu and meta run every op synchronously, so their streams are trivial:
//   waiting does nothing and events carry wall-clock time (performance.now()).
// - a simulated device (sim:PROFILE) has a ModelledTimeline: a modelled host
//   clock, one modelled clock per stream, and shared hardware resources (the
//   SMs, the two directions of the host link) that kernels and copies occupy.
//   Its data is computed eagerly; only time is modelled.
// - a real GPU (cuda:N) runs work asynchronously on real streams: its timeline
//   implements the optional real-event methods below, and events, waits and
//   synchronisation go to the driver instead of comparing times.
import { AsyncLocalStorage } from "node:async_hooks";
import type { Device } from "./device.js";

export type StreamKind = "compute" | "copy";

/** Hardware a piece of work occupies: the SMs, or one direction of the host link. */
export type Resource = "compute" | "h2d" | "d2h";

export type SpanCategory = "gemm" | "attention" | "elementwise" | "norm" | "layout" | "cast" | "quant" | "copy" | "fill" | "h2d" | "d2h";

/**
 * How a piece of work synchronises with the host:
 * "async": the host only queues it (kernels, non-blocking pinned copies);
 * "host": the host waits until it has finished (a blocking copy);
 * "device": it waits for all earlier work on every stream of the device, nothing on the
 * device overlaps it, and the host waits for it (a pageable copy through a driver bounce buffer).
 */
export type SyncMode = "async" | "host" | "device";

/** One piece of modelled work on a stream. Times are modelled milliseconds since the device was created. */
export interface Span {
  device: string;
  stream: string;
  streamId: number;
  streamKind: StreamKind;
  resource: Resource;
  /** op name: "matmul", "sdpa", "h2d", ... */
  op: string;
  category: SpanCategory;
  /** module path at issue time ("" outside modules) */
  module: string;
  startMs: number;
  endMs: number;
  /** arithmetic the op performs (multiply and add count as two) */
  flops: number;
  /** bytes the op reads and writes in device memory, or moves over the host link */
  bytes: number;
  /** what decided its duration */
  bound: "compute" | "memory" | "launch" | "link";
  sync: SyncMode;
  /** host-link copies: whether the host side was pinned */
  pinned?: boolean;
}

/** Work handed to a ModelledTimeline. */
export interface WorkItem {
  resource: Resource;
  durationMs: number;
  op: string;
  category: SpanCategory;
  module: string;
  flops: number;
  bytes: number;
  bound: Span["bound"];
  sync: SyncMode;
  pinned?: boolean;
}

/** A driver event of a timeline with real events (cuda); opaque to everything else. */
export type EventHandle = number;

/** A device's notion of time. */
export interface Timeline {
  /** true when times are modelled (sim), false when they are wall-clock (cpu, meta) */
  readonly modelled: boolean;
  /** the host's current time */
  hostTimeMs(): number;
  /** when everything queued on the stream so far has finished */
  streamTimeMs(stream: Stream): number;
  /** the time an event recorded on the stream now completes: after the stream's work, and not before the host records it */
  eventTimeMs(stream: Stream): number;
  /** later work on `stream` starts no earlier than `timeMs` */
  streamWait(stream: Stream, timeMs: number): void;
  /** the host blocks until `timeMs` */
  hostWait(timeMs: number): void;
  /** the host blocks until every stream of the device is idle */
  synchronizeAll(): void;
  /** observes modelled work as it is queued; returns the unsubscribe function */
  subscribe(fn: (span: Span) => void): () => void;

  // ---- optional: devices whose streams run asynchronously on real hardware (cuda) ----------
  // All or none: an Event recorded on such a timeline holds a driver event, and Stream/Event
  // route waits, queries, synchronisation and timing to these instead of comparing times.

  /** Records a driver event at the current end of `stream`; `reuse` is this Event's earlier handle on this timeline (re-recording moves it, as in CUDA). */
  recordEvent?(stream: Stream, reuse: EventHandle | null): EventHandle;
  /** Later work on `stream` waits for the event; the host does not. */
  waitEvent?(stream: Stream, event: EventHandle): void;
  /** The host blocks until the event has completed. */
  synchronizeEvent?(event: EventHandle): void;
  /** Whether the event has completed. */
  queryEvent?(event: EventHandle): boolean;
  /** Device milliseconds between two events of this timeline. */
  elapsedEventMs?(start: EventHandle, end: EventHandle): number;
  /** The Event holding the handle was garbage collected: the handle may be reused. */
  releaseEvent?(event: EventHandle): void;
  /** The host blocks until everything queued on `stream` has finished. */
  synchronizeStream?(stream: Stream): void;
  /** Whether everything queued on `stream` has finished. */
  queryStream?(stream: Stream): boolean;
}

/** cpu and meta: work is synchronous, so every stream is always idle and times are wall-clock. */
export class WallClockTimeline implements Timeline {
  readonly modelled = false;
  hostTimeMs(): number {
    return performance.now();
  }
  streamTimeMs(): number {
    return performance.now();
  }
  eventTimeMs(): number {
    return performance.now();
  }
  streamWait(): void {}
  hostWait(): void {}
  synchronizeAll(): void {}
  subscribe(): () => void {
    return () => {};
  }
}

/**
 * Busy intervals of one resource, sorted and disjoint. New work goes into the first gap at or
 * after its ready time that is long enough (the hardware runs whatever is ready), so an op issued
 * later on an idle stream may run before one that waits for an event.
 */
class BusyIntervals {
  private starts: number[] = [];
  private ends: number[] = [];
  /** nothing may start before this (intervals older than the window were dropped) */
  private floor = 0;
  private static readonly WINDOW = 8192;

  earliest(ready: number, duration: number): number {
    let t = Math.max(ready, this.floor);
    let i = this.firstEndingAfter(t);
    for (; i < this.starts.length; i++) {
      if (this.starts[i]! >= t + duration) break;
      t = Math.max(t, this.ends[i]!);
    }
    return t;
  }

  occupy(start: number, end: number): void {
    if (end <= start) return;
    let i = this.starts.length;
    if (i > 0 && this.starts[i - 1]! > start) i = this.firstStartingAfter(start);
    this.starts.splice(i, 0, start);
    this.ends.splice(i, 0, end);
    if (this.starts.length > BusyIntervals.WINDOW) {
      const drop = BusyIntervals.WINDOW / 2;
      this.floor = Math.max(this.floor, this.ends[drop - 1]!);
      this.starts.splice(0, drop);
      this.ends.splice(0, drop);
    }
  }

  private firstEndingAfter(t: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! > t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
  private firstStartingAfter(t: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! > t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/**
 * The modelled clock of a simulated device. The host issues work instantly (per-kernel launch
 * cost is part of each kernel's modelled duration) and only advances when it waits: for an
 * event, a stream, the device, or a blocking copy. Work on a stream starts when the stream's
 * previous work and the host's issue point have passed and its resource has a free slot.
 */
export class ModelledTimeline implements Timeline {
  readonly modelled = true;
  private hostMs = 0;
  private readonly tails = new Map<number, number>();
  private readonly resources: Record<Resource, BusyIntervals> = { compute: new BusyIntervals(), h2d: new BusyIntervals(), d2h: new BusyIntervals() };
  private readonly listeners = new Set<(span: Span) => void>();

  constructor(readonly deviceName: string) {}

  hostTimeMs(): number {
    return this.hostMs;
  }
  streamTimeMs(stream: Stream): number {
    return this.tails.get(stream.id) ?? 0;
  }
  eventTimeMs(stream: Stream): number {
    return Math.max(this.streamTimeMs(stream), this.hostMs);
  }
  streamWait(stream: Stream, timeMs: number): void {
    if (timeMs > this.streamTimeMs(stream)) this.tails.set(stream.id, timeMs);
  }
  hostWait(timeMs: number): void {
    if (timeMs > this.hostMs) this.hostMs = timeMs;
  }
  synchronizeAll(): void {
    for (const t of this.tails.values()) this.hostWait(t);
  }
  subscribe(fn: (span: Span) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Queues work on a stream and returns its modelled span. */
  enqueue(stream: Stream, work: WorkItem): Span {
    if (!(work.durationMs >= 0) || !Number.isFinite(work.durationMs)) throw new RangeError(`${this.deviceName}: ${work.op} has a modelled duration of ${work.durationMs} ms`);
    let ready = Math.max(this.streamTimeMs(stream), this.hostMs);
    if (work.sync === "device") for (const t of this.tails.values()) ready = Math.max(ready, t);
    const resource = this.resources[work.resource];
    const startMs = resource.earliest(ready, work.durationMs);
    const endMs = startMs + work.durationMs;
    resource.occupy(startMs, endMs);
    this.tails.set(stream.id, endMs);
    if (work.sync !== "async") this.hostWait(endMs);
    const span: Span = {
      device: this.deviceName,
      stream: stream.name,
      streamId: stream.id,
      streamKind: stream.kind,
      resource: work.resource,
      op: work.op,
      category: work.category,
      module: work.module,
      startMs,
      endMs,
      flops: work.flops,
      bytes: work.bytes,
      bound: work.bound,
      sync: work.sync,
      ...(work.pinned !== undefined ? { pinned: work.pinned } : {}),
    };
    for (const fn of this.listeners) fn(span);
    return span;
  }
}

let nextStreamId = 1;

/** An ordered queue of work on one device. Make them with device.newStream(name, kind). */
export class Stream {
  readonly id = nextStreamId++;
  constructor(
    readonly device: Device,
    readonly name: string,
    /** "copy" streams carry transfers, "compute" streams kernels; a label for timelines, not a restriction */
    readonly kind: StreamKind,
  ) {}

  /** When everything queued on this stream so far finishes (modelled on sim, now on cpu/meta). */
  get timeMs(): number {
    return this.device.timeline.streamTimeMs(this);
  }

  /** Later work on this stream waits for the event's point, without blocking the host. An unrecorded event is a no-op, as in CUDA. */
  waitEvent(event: Event): this {
    const stamp = event.stampOrNull;
    if (!stamp) return this;
    const timeline = this.device.timeline;
    if (stamp.handle !== undefined && timeline.waitEvent) {
      if (stamp.timeline !== timeline) {
        throw new Error(`stream ${this} cannot wait for event ${event.label} recorded on ${stamp.stream}: cross-device event waits are not supported; synchronize the event on the host first (event.synchronize())`);
      }
      timeline.waitEvent(this, stamp.handle);
      return this;
    }
    if (!timeline.modelled) return this; // synchronous devices (and events of one) have nothing to wait for
    if (stamp.timeline !== this.device.timeline) {
      throw new Error(`stream ${this} cannot wait for event ${event.label} recorded on ${stamp.stream}: the two devices have separate clocks`);
    }
    this.device.timeline.streamWait(this, stamp.timeMs);
    return this;
  }

  /** Later work on this stream waits for everything queued on `other` so far. */
  waitStream(other: Stream): this {
    return this.waitEvent(new Event(`${other.name}-tail`).record(other));
  }

  /** An event recorded at the current end of this stream. */
  recordEvent(name = ""): Event {
    return new Event(name).record(this);
  }

  /** The host waits until this stream's work has finished. */
  synchronize(): void {
    const timeline = this.device.timeline;
    if (timeline.synchronizeStream) timeline.synchronizeStream(this);
    else timeline.hostWait(this.timeMs);
  }

  /** Whether this stream's work has finished by the host's current time. */
  query(): boolean {
    const timeline = this.device.timeline;
    return timeline.queryStream ? timeline.queryStream(this) : this.timeMs <= timeline.hostTimeMs();
  }

  toString(): string {
    return `${this.device.name}/${this.name}#${this.id}`;
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Stream(${this.toString()}, ${this.kind})`;
  }
}

interface EventStamp {
  timeline: Timeline;
  stream: Stream;
  /** host time of the record (modelled on sim) */
  timeMs: number;
  /** the driver event, on timelines with real events */
  handle?: EventHandle;
}

/** Gives a collected Event's driver event back to its timeline for reuse. */
const driverEvents = new FinalizationRegistry<{ timeline: Timeline; handle: EventHandle }>(({ timeline, handle }) => timeline.releaseEvent?.(handle));

/** A point in a stream: record() it, then wait for it on another stream or the host, or time between two. */
export class Event {
  private stamp: EventStamp | null = null;
  constructor(readonly name = "") {}

  get label(): string {
    return this.name ? `"${this.name}"` : "(unnamed)";
  }

  /**
   * Marks the current end of a stream (a Stream, or a device's current stream). Recording again
   * moves the mark, as in CUDA. Without an argument it re-records on the last stream used.
   */
  record(where?: Stream | Device): this {
    const stream = where === undefined ? this.stamp?.stream : where instanceof Stream ? where : currentStream(where);
    if (!stream) throw new TypeError(`event ${this.label}: record(stream or device) needs a stream the first time`);
    const timeline = stream.device.timeline;
    const timeMs = timeline.eventTimeMs(stream);
    const old = this.stamp;
    const reuse = old?.timeline === timeline ? old.handle ?? null : null;
    const handle = timeline.recordEvent ? timeline.recordEvent(stream, reuse) : undefined;
    const kept = handle !== undefined && handle === reuse;
    if (old?.handle !== undefined && !kept) {
      // moved to another timeline (or the timeline handed out a new event): the old one is free
      driverEvents.unregister(this);
      old.timeline.releaseEvent?.(old.handle);
    }
    if (handle !== undefined && !kept) driverEvents.register(this, { timeline, handle }, this);
    this.stamp = { timeline, stream, timeMs, ...(handle !== undefined ? { handle } : {}) };
    return this;
  }

  get isRecorded(): boolean {
    return this.stamp !== null;
  }
  /** @internal */
  get stampOrNull(): EventStamp | null {
    return this.stamp;
  }
  /** The stream it was last recorded on. */
  get stream(): Stream | null {
    return this.stamp?.stream ?? null;
  }
  /** Its time: modelled ms on sim, performance.now() on cpu/meta (on cuda: when the host recorded it; elapsedMs gives device time). */
  get timeMs(): number {
    return this.requireStamp("timeMs").timeMs;
  }

  /** Whether the work before it has finished by the host's current time. */
  query(): boolean {
    const s = this.requireStamp("query");
    if (s.handle !== undefined && s.timeline.queryEvent) return s.timeline.queryEvent(s.handle);
    return s.timeMs <= s.timeline.hostTimeMs();
  }

  /** The host waits until the work before it has finished. */
  synchronize(): void {
    const s = this.requireStamp("synchronize");
    if (s.handle !== undefined && s.timeline.synchronizeEvent) s.timeline.synchronizeEvent(s.handle);
    else s.timeline.hostWait(s.timeMs);
  }

  /** Milliseconds from this event to `end` (torch's start.elapsed_time(end)). */
  elapsedMs(end: Event): number {
    const a = this.requireStamp("elapsedMs");
    const b = end.requireStamp("elapsedMs");
    if (a.timeline !== b.timeline) {
      throw new Error(`elapsedMs: events ${this.label} (${a.stream}) and ${end.label} (${b.stream}) were recorded on devices with separate clocks`);
    }
    if (a.handle !== undefined && b.handle !== undefined && a.timeline.elapsedEventMs) return a.timeline.elapsedEventMs(a.handle, b.handle);
    return b.timeMs - a.timeMs;
  }

  private requireStamp(what: string): EventStamp {
    if (!this.stamp) throw new Error(`event ${this.label}: ${what} needs the event to be recorded first (event.record(stream))`);
    return this.stamp;
  }
}

// ---- the current stream, per device, following async code through its awaits ------------

const streamContext = new AsyncLocalStorage<ReadonlyMap<Device, Stream>>();

/** The stream work on `device` goes to: the innermost withStream() for that device, else its default stream. */
export function currentStream(device: Device): Stream {
  return streamContext.getStore()?.get(device) ?? device.defaultStream;
}

/** Runs fn (sync or async) with `stream` as its device's current stream; other devices keep theirs. */
export function withStream<T>(stream: Stream, fn: () => T): T {
  if (!(stream instanceof Stream)) throw new TypeError(`withStream: expected a Stream (device.newStream(name, kind)), got ${String(stream)}`);
  const next = new Map(streamContext.getStore() ?? []);
  next.set(stream.device, stream);
  return streamContext.run(next, fn);
}

/** Collects the modelled spans `fn` queues on a device (empty on cpu/meta, whose work is not modelled). */
export async function traceSpans<T>(device: Device, fn: () => Promise<T> | T): Promise<{ result: T; spans: Span[] }> {
  const spans: Span[] = [];
  const off = device.timeline.subscribe((s) => spans.push(s));
  try {
    const result = await fn();
    return { result, spans };
  } finally {
    off();
  }
}
