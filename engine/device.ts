// Devices and the registry that names them. Each device has a backend (its
// implementation of the op table), a memory tracker, and streams on a
// timeline (wall-clock on cpu/meta, modelled on sim). New kinds (sim:,
// cuda:) register a factory; callers only ever pass a name or a Device.
import { MemoryTracker } from "./memory.js";
import type { Backend } from "./backend.js";
import { Stream, WallClockTimeline, currentStream, type StreamKind, type Timeline } from "./stream.js";

export type DeviceType = "cpu" | "meta" | "sim" | "cuda";

export class Device {
  readonly memory: MemoryTracker;
  /** how this device tells time: wall-clock (cpu, meta) or modelled (sim) */
  readonly timeline: Timeline;
  /** the stream work goes to unless vl.withStream() picks another */
  readonly defaultStream: Stream;
  private readonly streamList: Stream[] = [];
  constructor(
    /** canonical name: "cpu", "meta", "sim:h100-sxm", "cuda:0" */
    readonly name: string,
    readonly type: DeviceType,
    readonly backend: Backend,
    options: { alignment?: number; timeline?: Timeline } = {},
  ) {
    this.memory = new MemoryTracker(name, options.alignment ?? 64);
    this.timeline = options.timeline ?? new WallClockTimeline();
    this.defaultStream = this.newStream("default", "compute");
  }
  /** false for meta: shapes and bytes only */
  get hasData(): boolean {
    return this.backend.hasData;
  }

  /** A new stream on this device; "copy" streams carry prefetches and offloads. */
  newStream(name = `stream${this.streamList.length}`, kind: StreamKind = "compute"): Stream {
    if (kind !== "compute" && kind !== "copy") throw new TypeError(`newStream: kind must be "compute" or "copy", got ${JSON.stringify(kind)}`);
    const s = new Stream(this, name, kind);
    this.streamList.push(s);
    return s;
  }
  /** Streams made on this device, the default stream first. */
  get streams(): readonly Stream[] {
    return this.streamList;
  }
  /** The stream work on this device goes to in the calling async context. */
  get currentStream(): Stream {
    return currentStream(this);
  }
  /** The host waits until all work queued on every stream of this device has finished. */
  synchronize(): void {
    this.timeline.synchronizeAll();
  }
  toString(): string {
    return this.name;
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `device(${this.name})`;
  }
}

export type DeviceSpec = string | Device;

/** Makes the device for "type" or "type:arg"; called once per canonical name. */
export type DeviceFactory = (arg: string | undefined) => Device;

const factories = new Map<string, { factory: DeviceFactory; describe: string }>();
const instances = new Map<string, Device>();

export function registerDeviceType(type: string, factory: DeviceFactory, describe: string): void {
  factories.set(type, { factory, describe });
}

export function getDevice(spec: DeviceSpec): Device {
  if (spec instanceof Device) return spec;
  if (typeof spec !== "string" || spec.length === 0) {
    throw new TypeError(`a device must be a name such as "cpu" or "meta" or a Device, got ${JSON.stringify(spec)}`);
  }
  const name = spec.trim().toLowerCase();
  const existing = instances.get(name);
  if (existing) return existing;
  const colon = name.indexOf(":");
  const type = colon < 0 ? name : name.slice(0, colon);
  const arg = colon < 0 ? undefined : name.slice(colon + 1);
  const entry = factories.get(type);
  if (!entry) {
    const known = [...factories.entries()].map(([t, e]) => `${t} (${e.describe})`).join(", ");
    throw new TypeError(`unknown device "${spec}"; known device types: ${known}`);
  }
  const dev = entry.factory(arg);
  instances.set(name, dev);
  if (dev.name !== name) instances.set(dev.name, dev);
  return dev;
}

/** Names of devices created so far. */
export function listDevices(): Device[] {
  return [...new Set(instances.values())];
}
