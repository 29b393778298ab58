// The user-facing memory functions, named after torch.cuda's.
import { getDevice, type DeviceSpec } from "./device.js";
import type { MemoryStats, OwnerBytes } from "./memory.js";
import { native, type HostCacheStats } from "./native-binding.js";

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

/**
 * The host block cache: freed cpu tensors' blocks kept mapped so the next allocations of about the
 * same size skip the page faults of fresh memory (VRAMLAB_HOST_CACHE_MB caps it, default 1024;
 * 0 turns it off). Its bytes are in no tensor, so memory("cpu") does not count them.
 */
export function hostCache(): HostCacheStats {
  return native.hostCacheStats();
}

/**
 * Returns cached, unused memory to the system (torch.cuda.empty_cache): the host block cache for
 * "cpu", the caching allocator's free segments for a cuda device; sim and meta cache nothing.
 * Returns the bytes returned.
 */
export function emptyCache(device: DeviceSpec = "cpu"): number {
  return getDevice(device).backend.emptyCache?.() ?? 0;
}
