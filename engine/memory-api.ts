// The user-facing memory functions, named after torch.cuda's.
import { getDevice, type DeviceSpec } from "./device.js";
import type { MemoryStats, OwnerBytes } from "./memory.js";

/** allocated / reserved / peak bytes on a device (like torch.cuda.memory_allocated & co). */
export function memory(device: DeviceSpec = "cpu"): MemoryStats {
  return getDevice(device).memory.stats();
}

/** Starts a new peak window (like torch.cuda.reset_peak_memory_stats). */
export function resetPeakMemory(device: DeviceSpec = "cpu"): void {
  getDevice(device).memory.resetPeak();
}

/** Live bytes grouped by owner (module path + tensor name), largest first. */
export function memoryByOwner(device: DeviceSpec = "cpu"): OwnerBytes[] {
  return getDevice(device).memory.byOwner();
}
