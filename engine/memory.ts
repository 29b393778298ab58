// Per-device memory accounting: allocated, reserved, peak, and attribution
// of every live byte to its owner (module path + tensor name). Numbers are
// exact and deterministic because tensors are freed explicitly, never by GC.

export interface MemoryStats {
  /** bytes held by live tensors */
  allocated: number;
  /** bytes the allocator holds, including alignment padding */
  reserved: number;
  /** highest `allocated` since the last reset */
  peak: number;
  /** highest `reserved` since the last reset */
  peakReserved: number;
  /** live allocations */
  count: number;
}

export interface OwnerBytes {
  owner: string;
  bytes: number;
  count: number;
}

interface Allocation {
  bytes: number;
  reserved: number;
  owner: string;
}

/** Bytes the allocator really holds for a request (the addon aligns to 64 bytes). */
export function reservedBytes(bytes: number, alignment: number): number {
  return Math.max(alignment, Math.ceil(bytes / alignment) * alignment);
}

export class MemoryTracker {
  private live = new Map<number, Allocation>();
  private nextId = 1;
  private allocatedBytes = 0;
  private reservedTotal = 0;
  private peakBytes = 0;
  private peakReservedBytes = 0;
  private listeners = new Set<(event: MemoryEvent) => void>();

  constructor(readonly deviceName: string, readonly alignment = 64) {}

  /** Records an allocation and returns its id (used by free). */
  allocate(bytes: number, owner: string): number {
    const id = this.nextId++;
    const reserved = reservedBytes(bytes, this.alignment);
    this.live.set(id, { bytes, reserved, owner });
    this.allocatedBytes += bytes;
    this.reservedTotal += reserved;
    if (this.allocatedBytes > this.peakBytes) this.peakBytes = this.allocatedBytes;
    if (this.reservedTotal > this.peakReservedBytes) this.peakReservedBytes = this.reservedTotal;
    this.emit({ kind: "alloc", id, bytes, owner, allocated: this.allocatedBytes });
    return id;
  }

  free(id: number): void {
    const a = this.live.get(id);
    if (!a) throw new Error(`memory tracker ${this.deviceName}: allocation ${id} was already freed`);
    this.live.delete(id);
    this.allocatedBytes -= a.bytes;
    this.reservedTotal -= a.reserved;
    this.emit({ kind: "free", id, bytes: a.bytes, owner: a.owner, allocated: this.allocatedBytes });
  }

  /** Renames the owner of a live allocation (a parameter gets its module path when attached). */
  setOwner(id: number, owner: string): void {
    const a = this.live.get(id);
    if (a) a.owner = owner;
  }

  ownerOf(id: number): string | undefined {
    return this.live.get(id)?.owner;
  }

  stats(): MemoryStats {
    return {
      allocated: this.allocatedBytes,
      reserved: this.reservedTotal,
      peak: this.peakBytes,
      peakReserved: this.peakReservedBytes,
      count: this.live.size,
    };
  }

  resetPeak(): void {
    this.peakBytes = this.allocatedBytes;
    this.peakReservedBytes = this.reservedTotal;
  }

  /** Live bytes grouped by owner, largest first. */
  byOwner(): OwnerBytes[] {
    const m = new Map<string, OwnerBytes>();
    for (const a of this.live.values()) {
      const e = m.get(a.owner) ?? { owner: a.owner, bytes: 0, count: 0 };
      e.bytes += a.bytes;
      e.count++;
      m.set(a.owner, e);
    }
    return [...m.values()].sort((x, y) => y.bytes - x.bytes || x.owner.localeCompare(y.owner));
  }

  /** Observes allocations and frees (the profiler uses this for peaks inside a module). */
  subscribe(fn: (event: MemoryEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: MemoryEvent): void {
    for (const fn of this.listeners) fn(e);
  }
}

export interface MemoryEvent {
  kind: "alloc" | "free";
  id: number;
  bytes: number;
  owner: string;
  /** allocated bytes after the event */
  allocated: number;
}
