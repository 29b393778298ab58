// Host memory split into pinned (page-locked) and pageable bytes. Pinned
// host memory is what lets a host->device copy run asynchronously at the
// link's full rate; pageable memory goes through the driver's bounce buffer
// at about half the rate and cannot overlap compute. The host devices are
// cpu and, for dataless planning of full-size models, meta.
//
// Pinning is in place (like cudaHostRegister): t.pin() marks the tensor's
// storage page-locked without a second copy, so "one host copy of each
// weight, pinned when streaming" holds by construction.
import { getDevice, type Device, type DeviceSpec } from "./device.js";

export interface HostMemoryStats {
  device: string;
  /** bytes held by live host tensors (the device's memory tracker) */
  allocated: number;
  /** of which page-locked */
  pinned: number;
  /** allocated - pinned */
  pageable: number;
  /** highest `pinned` since the last resetHostMemoryPeak() */
  peakPinned: number;
  /** live pinned storages */
  pinnedCount: number;
}

interface PinnedTotals {
  bytes: number;
  count: number;
  peak: number;
}

const totals = new Map<Device, PinnedTotals>();

function totalsFor(device: Device): PinnedTotals {
  let t = totals.get(device);
  if (!t) totals.set(device, (t = { bytes: 0, count: 0, peak: 0 }));
  return t;
}

/** Whether a device is host memory (cpu) or stands in for it in dataless planning (meta). */
export function isHostDevice(device: Device): boolean {
  return device.type === "cpu" || device.type === "meta";
}

/** Called by Storage when a host storage becomes pinned (+1) or stops being pinned (-1). */
export function notePinned(device: Device, nbytes: number, change: 1 | -1): void {
  const t = totalsFor(device);
  t.bytes += change * nbytes;
  t.count += change;
  if (t.bytes > t.peak) t.peak = t.bytes;
}

/** Pinned and pageable bytes of a host device ("cpu" by default, or "meta" for dataless planning). */
export function hostMemory(device: DeviceSpec = "cpu"): HostMemoryStats {
  const dev = getDevice(device);
  if (!isHostDevice(dev)) throw new TypeError(`hostMemory: ${dev.name} is not host memory; use "cpu" (or "meta" for dataless planning), and vl.memory("${dev.name}") for device memory`);
  const t = totalsFor(dev);
  const allocated = dev.memory.stats().allocated;
  return { device: dev.name, allocated, pinned: t.bytes, pageable: allocated - t.bytes, peakPinned: t.peak, pinnedCount: t.count };
}

/** Starts a new peak window for pinned host bytes. */
export function resetHostMemoryPeak(device: DeviceSpec = "cpu"): void {
  const t = totalsFor(getDevice(device));
  t.peak = t.bytes;
}
