// Devices and the registry that names them. Each device has a backend (its
// implementation of the op table) and a memory tracker. New kinds (sim:,
// cuda:) register a factory; callers only ever pass a name or a Device.
import { MemoryTracker } from "./memory.js";
import type { Backend } from "./backend.js";

export type DeviceType = "cpu" | "meta" | "sim" | "cuda";

export class Device {
  readonly memory: MemoryTracker;
  constructor(
    /** canonical name: "cpu", "meta", "sim:h100-sxm", "cuda:0" */
    readonly name: string,
    readonly type: DeviceType,
    readonly backend: Backend,
    options: { alignment?: number } = {},
  ) {
    this.memory = new MemoryTracker(name, options.alignment ?? 64);
  }
  /** false for meta: shapes and bytes only */
  get hasData(): boolean {
    return this.backend.hasData;
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
