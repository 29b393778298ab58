// A profiling hook: per module call, wall time, memory at entry and exit and
// the peak inside (from the device's memory tracker events). This is the
// seed of the full profiler/report; it already backs the demo's table.
import type { Module } from "./module.js";
import type { ModelHook } from "./hooks.js";
import type { Device } from "./device.js";

export interface ModuleCallRecord {
  path: string;
  className: string;
  /** milliseconds of wall time inside the call (hooks included) */
  wallMs: number;
  /** bytes allocated on the device at entry and exit */
  memoryBefore: number;
  memoryAfter: number;
  /** highest allocated bytes during the call */
  peak: number;
  /** peak minus memory at entry: what this call needed on top */
  peakIncrease: number;
}

interface Frame {
  start: number;
  before: number;
  peak: number;
}

export const PROFILER_HOOK = "profiler";

export class ModuleProfiler {
  readonly records: ModuleCallRecord[] = [];
  private readonly frames = new Map<Module, Frame[]>();
  private readonly active = new Set<Frame>();
  private readonly modules: Module[] = [];
  private unsubscribe: (() => void) | null = null;

  constructor(readonly device: Device) {
    this.unsubscribe = device.memory.subscribe((e) => {
      if (e.kind !== "alloc") return;
      for (const f of this.active) if (e.allocated > f.peak) f.peak = e.allocated;
    });
  }

  /** Profiles every module of `root` for which select(path, module) is true. */
  attach(root: Module, select: (path: string, m: Module) => boolean): this {
    for (const [path, m] of root.namedModules()) {
      if (!select(path, m)) continue;
      m.hooks.register(PROFILER_HOOK, this.hookFor(m));
      this.modules.push(m);
    }
    return this;
  }

  private hookFor(m: Module): ModelHook {
    return {
      preForward: () => {
        const allocated = this.device.memory.stats().allocated;
        const f: Frame = { start: performance.now(), before: allocated, peak: allocated };
        (this.frames.get(m) ?? this.frames.set(m, []).get(m)!).push(f);
        this.active.add(f);
      },
      postForward: (_mod, output) => {
        const f = this.frames.get(m)?.pop();
        if (f) {
          this.active.delete(f);
          const after = this.device.memory.stats().allocated;
          this.records.push({
            path: m.path,
            className: m.className,
            wallMs: performance.now() - f.start,
            memoryBefore: f.before,
            memoryAfter: after,
            peak: f.peak,
            peakIncrease: f.peak - f.before,
          });
        }
        return output;
      },
    };
  }

  /** Removes the hooks and stops listening to memory events. */
  detach(): void {
    for (const m of this.modules) m.hooks.remove(PROFILER_HOOK);
    this.modules.length = 0;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.active.clear();
  }
}
