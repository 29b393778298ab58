// The out-of-memory error of a device with a capacity, worded like
// PyTorch's "CUDA out of memory. Tried to allocate ...". It is thrown before
// anything is allocated or recorded, so the tracker and the model are
// unchanged and the caller can free memory and retry.
import { formatBytes } from "../format.js";

export interface OutOfMemoryDetails {
  device: string;
  /** bytes asked for */
  requestedBytes: number;
  /** limit minus bytes the allocator holds */
  freeBytes: number;
  /** bytes available to tensors: device memory less the CUDA context, or a lower setMemoryLimit() */
  capacityBytes: number;
  /** bytes held by live tensors */
  allocatedBytes: number;
  /** device memory as the driver reports it */
  totalBytes: number;
  /** set with setMemoryLimit(), else null */
  limitBytes: number | null;
  /** memory attribution name of the tensor being allocated */
  owner: string;
  /** dotted module path ("" outside modules) and class */
  module: string;
  moduleClass: string;
}

export class OutOfMemoryError extends Error {
  readonly device: string;
  readonly requestedBytes: number;
  readonly freeBytes: number;
  readonly capacityBytes: number;
  readonly allocatedBytes: number;
  readonly limitBytes: number | null;
  readonly owner: string;
  readonly module: string;

  constructor(d: OutOfMemoryDetails) {
    const where = d.module || d.moduleClass ? ` in module ${d.module || "<root>"}${d.moduleClass ? ` (${d.moduleClass})` : ""}` : "";
    const capacity = d.limitBytes !== null
      ? `a memory limit of ${formatBytes(d.capacityBytes)} (${d.capacityBytes} bytes, set with setMemoryLimit)`
      : `a total capacity of ${formatBytes(d.capacityBytes)} (${d.capacityBytes} bytes) for tensors (${formatBytes(d.totalBytes)} device memory less the CUDA context)`;
    super(
      `${d.device} out of memory. Tried to allocate ${formatBytes(d.requestedBytes)} (${d.requestedBytes} bytes) for ${d.owner || "a tensor"}${where}. ` +
        `${d.device} has ${capacity}, of which ${formatBytes(d.freeBytes)} (${d.freeBytes} bytes) is free; ${formatBytes(d.allocatedBytes)} is allocated by live tensors. ` +
        `Nothing was allocated: free memory (dispose tensors, offload weights) or use a smaller dtype or quantization, then retry.`,
    );
    this.name = "OutOfMemoryError";
    this.device = d.device;
    this.requestedBytes = d.requestedBytes;
    this.freeBytes = d.freeBytes;
    this.capacityBytes = d.capacityBytes;
    this.allocatedBytes = d.allocatedBytes;
    this.limitBytes = d.limitBytes;
    this.owner = d.owner;
    this.module = d.module;
  }
}
