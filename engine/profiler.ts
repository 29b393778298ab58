// The profiling hook: per module call, device time (events on the module's
// stream), wall time, memory at entry and exit and the peak inside (from the
// device's memory tracker), and the modelled work queued during the call
// (kernels, FLOPs, host-link transfers) from the device's timeline.
// vl.profile() builds a Report from these records; the hook also works alone.
//
// Time of a call, with asynchronous copies on another stream: the hook
// records an event on the module's current stream at entry and at exit, as
// one would with CUDA events, and deviceMs is the time between them. That is
// the time the call adds to its own stream: a stall waiting for a prefetch
// (stream.waitEvent) or a synchronous onload is charged to the module that
// waited, while a prefetch that overlaps compute on the copy stream costs the
// module nothing. Summed over consecutive top-level calls it gives the step
// time. The copies themselves are counted (bytes, link time) in the call that
// queued them: a prefetch of block i+1 shows up in block i's row.
import type { Module } from "./module.js";
import type { ModelHook } from "./hooks.js";
import type { Device } from "./device.js";
import { currentStream, type Span } from "./stream.js";
import { flattenWeight, isTensorSubclass } from "./weight.js";

export interface ModuleCallRecord {
  path: string;
  className: string;
  /** order in which calls were entered (rows sort by it: a parent before its children) */
  index: number;
  /** profiled calls enclosing this one (0: outermost) */
  depth: number;
  /** milliseconds of wall time inside the call (hooks included) */
  wallMs: number;
  /** device time between events recorded on the module's stream at entry and exit: modelled on sim, wall-clock on cpu */
  deviceMs: number;
  /** the entry and exit events' times on the device's timeline (ms) */
  startMs: number;
  endMs: number;
  /** modelled time of the kernels queued during the call (the SMs' busy time; 0 on cpu, whose work is not modelled) */
  computeMs: number;
  /** arithmetic of those kernels */
  flops: number;
  /** bytes allocated on the device at entry and exit */
  memoryBefore: number;
  memoryAfter: number;
  /** highest allocated bytes during the call */
  peak: number;
  /** peak minus memory at entry: what this call needed on top */
  peakIncrease: number;
  /** host-to-device copies queued during the call (prefetches of later groups included), and their link time */
  h2dBytes: number;
  h2dCount: number;
  h2dMs: number;
  d2hBytes: number;
  d2hCount: number;
  d2hMs: number;
  /** how the module's weights (its whole subtree) are stored: the dtype, or the quantization scheme, holding most bytes */
  storageDtype: string;
  /** bytes of those weights as stored */
  weightBytes: number;
}

interface Frame {
  module: Module;
  index: number;
  depth: number;
  wallStart: number;
  startMs: number;
  before: number;
  peak: number;
  computeMs: number;
  flops: number;
  h2dBytes: number;
  h2dCount: number;
  h2dMs: number;
  d2hBytes: number;
  d2hCount: number;
  d2hMs: number;
}

export const PROFILER_HOOK = "profiler";

/** Which module calls become records: the root's children and the blocks of its ModuleLists, leaves, every module, or a predicate. */
export type ModuleSelection = "blocks" | "leaves" | "all" | ((path: string, module: Module) => boolean);

function isContainer(m: Module): boolean {
  return m.className === "ModuleList" || m.className === "Sequential";
}

/** The predicate behind a ModuleSelection, for modules of `root` (paths relative to it). */
export function moduleSelector(selection: ModuleSelection): (path: string, m: Module) => boolean {
  if (typeof selection === "function") return selection;
  switch (selection) {
    case "all":
      return () => true;
    case "leaves":
      return (path, m) => path !== "" && m.isLeaf;
    case "blocks":
      // "x_embedder", "transformer_blocks.3": one level below the root, looking through containers
      return (path, m) => {
        if (path === "" || isContainer(m)) return false;
        const parts = path.split(".");
        if (parts.length === 1) return true;
        return parts.length === 2 && m.parent !== null && isContainer(m.parent);
      };
    default:
      throw new TypeError(`module selection must be "blocks", "leaves", "all" or a function, got ${JSON.stringify(selection)}`);
  }
}

/** The storage label of a module's weights: dtype for plain tensors, scheme name for subclasses; the one with most bytes. */
export function storageLabel(m: Module): { storageDtype: string; weightBytes: number } {
  const byLabel = new Map<string, number>();
  let total = 0;
  for (const [, w] of m.namedWeights()) {
    const label = isTensorSubclass(w) ? String(w.metadata()["scheme"] ?? "subclass") : w.dtype;
    let bytes = 0;
    for (const [, t] of flattenWeight(w)) bytes += t.nbytes;
    byLabel.set(label, (byLabel.get(label) ?? 0) + bytes);
    total += bytes;
  }
  let best = "";
  let bestBytes = -1;
  for (const [label, bytes] of byLabel) if (bytes > bestBytes) [best, bestBytes] = [label, bytes];
  return { storageDtype: best, weightBytes: total };
}

export class ModuleProfiler {
  readonly records: ModuleCallRecord[] = [];
  private readonly stacks = new Map<Module, Frame[]>();
  private readonly active = new Set<Frame>();
  private readonly modules: Module[] = [];
  private readonly storage = new Map<Module, { storageDtype: string; weightBytes: number }>();
  private unsubscribers: (() => void)[] = [];
  private nextIndex = 0;

  constructor(readonly device: Device) {
    this.unsubscribers.push(
      device.memory.subscribe((e) => {
        if (e.kind !== "alloc") return;
        for (const f of this.active) if (e.allocated > f.peak) f.peak = e.allocated;
      }),
      device.timeline.subscribe((s) => this.onSpan(s)),
    );
  }

  /**
   * Profiles the modules of `root` chosen by `select` (a ModuleSelection or predicate). The hooks
   * are registered outermost, so the time and memory of onloading and upcasting hooks count.
   */
  attach(root: Module, select: ModuleSelection = "blocks"): this {
    const pick = moduleSelector(select);
    for (const [path, m] of root.namedModules()) {
      if (!pick(path, m)) continue;
      m.hooks.register(PROFILER_HOOK, this.hookFor(m));
      this.modules.push(m);
      // read at rest, before any hook upcasts or moves a weight
      this.storage.set(m, storageLabel(m));
    }
    return this;
  }

  private onSpan(s: Span): void {
    for (const f of this.active) {
      if (s.resource === "compute") {
        f.computeMs += s.endMs - s.startMs;
        f.flops += s.flops;
      } else if (s.resource === "h2d") {
        f.h2dBytes += s.bytes;
        f.h2dCount++;
        f.h2dMs += s.endMs - s.startMs;
      } else {
        f.d2hBytes += s.bytes;
        f.d2hCount++;
        f.d2hMs += s.endMs - s.startMs;
      }
    }
  }

  private streamTimeMs(): number {
    return this.device.timeline.eventTimeMs(currentStream(this.device));
  }

  private hookFor(m: Module): ModelHook {
    return {
      preForward: () => {
        const allocated = this.device.memory.stats().allocated;
        const f: Frame = {
          module: m, index: this.nextIndex++, depth: this.active.size, wallStart: performance.now(), startMs: this.streamTimeMs(),
          before: allocated, peak: allocated, computeMs: 0, flops: 0, h2dBytes: 0, h2dCount: 0, h2dMs: 0, d2hBytes: 0, d2hCount: 0, d2hMs: 0,
        };
        (this.stacks.get(m) ?? this.stacks.set(m, []).get(m)!).push(f);
        this.active.add(f);
      },
      postForward: (_mod, output) => {
        const f = this.stacks.get(m)?.pop();
        if (f) {
          this.active.delete(f);
          this.records.push(this.finish(f));
        }
        return output;
      },
      onError: () => {
        // the call failed: it leaves no record, and later calls are not nested in it
        const f = this.stacks.get(m)?.pop();
        if (f) this.active.delete(f);
      },
    };
  }

  private finish(f: Frame): ModuleCallRecord {
    const after = this.device.memory.stats().allocated;
    const endMs = this.streamTimeMs();
    const s = this.storage.get(f.module) ?? { storageDtype: "", weightBytes: 0 };
    return {
      path: f.module.path,
      className: f.module.className,
      index: f.index,
      depth: f.depth,
      wallMs: performance.now() - f.wallStart,
      deviceMs: endMs - f.startMs,
      startMs: f.startMs,
      endMs,
      computeMs: f.computeMs,
      flops: f.flops,
      memoryBefore: f.before,
      memoryAfter: after,
      peak: f.peak,
      peakIncrease: f.peak - f.before,
      h2dBytes: f.h2dBytes,
      h2dCount: f.h2dCount,
      h2dMs: f.h2dMs,
      d2hBytes: f.d2hBytes,
      d2hCount: f.d2hCount,
      d2hMs: f.d2hMs,
      storageDtype: s.storageDtype,
      weightBytes: s.weightBytes,
    };
  }

  /** Records in call order (a parent before its children). */
  sortedRecords(): ModuleCallRecord[] {
    return [...this.records].sort((a, b) => a.index - b.index);
  }

  /** Removes the hooks and stops listening to memory and timeline events. */
  detach(): void {
    for (const m of this.modules) m.hooks.remove(PROFILER_HOOK);
    this.modules.length = 0;
    for (const off of this.unsubscribers) off();
    this.unsubscribers = [];
    this.active.clear();
    this.stacks.clear();
  }
}
