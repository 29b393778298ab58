// Group offloading (diffusers' apply_group_offloading): weights live on the
// offload device (host) and a group of blocks (block_level) or one leaf
// (leaf_level) is onloaded to the compute device just before it runs and
// released right after. Works on any weight through the flatten protocol:
// a quantized QTensor moves with all its inner tensors, by construction.
//
// Differences from diffusers, on purpose: any numBlocksPerGroup with
// streams; prefetch depth configurable; exactly one host copy per weight
// (the slot itself while offloaded); offloading unchanged weights frees the
// device copy without a device-to-host copy; keepResident groups.
import type { Module } from "../module.js";
import type { ModelHook } from "../hooks.js";
import { getDevice, type Device, type DeviceSpec } from "../device.js";
import { untracked } from "../scope.js";
import { to as moveTensor } from "../ops/transfer.js";
import { flattenWeight, leafName, mapWeight, type Weight } from "../weight.js";
import { withStream, type Event, type Stream } from "../stream.js";
import { isHostDevice } from "../host-memory.js";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Tensor } from "../tensor.js";
import { readBytes } from "../ops/transfer.js";
import { openSafetensors, safetensorsDType, writeSafetensors, type SafetensorsFile } from "../io/safetensors.js";

function diskEntryName(slotKey: string, inner: string): string {
  return inner ? `${slotKey}::${inner}` : slotKey;
}

/** sha256 of a leaf's dtype, shape and bytes: what a disk cache entry must match. */
function fingerprint(t: Tensor): string {
  const h = createHash("sha256");
  h.update(`${t.dtype}[${t.shape.join(",")}]`);
  h.update(readBytes(t));
  return h.digest("hex");
}

export const GROUP_OFFLOADING_HOOK = "group_offloading";
const ROOT_HOOK = "group_offloading_root";

export interface GroupOffloadingOptions {
  onloadDevice: DeviceSpec;
  /** where weights rest (default "cpu") */
  offloadDevice?: DeviceSpec;
  offloadType?: "block_level" | "leaf_level";
  /** block_level: consecutive blocks of a ModuleList per group (default 1) */
  numBlocksPerGroup?: number;
  /** prefetch the next groups while the current one computes (needs a device with streams) */
  useStream?: boolean;
  /** how many groups ahead to prefetch with useStream (diffusers: 1) */
  prefetchDepth?: number;
  /** accepted for diffusers compatibility; memory is released when the group finishes */
  recordStream?: boolean;
  /** with useStream: leave host weights pageable instead of pinning them (less locked memory, slower copies that cannot overlap) */
  lowCpuMemUsage?: boolean;
  /** keep offloaded weights in safetensors files here instead of host memory (one file per group, reused when its fingerprints match) */
  offloadToDiskPath?: string;
  /** groups that stay on the onload device: "first_last", group names, or a predicate */
  keepResident?: "first_last" | string[] | ((groupName: string, modules: Module[]) => boolean);
  /** module paths left out of offloading (moved to the onload device once) */
  excludeModules?: string[];
}

/** A set of modules whose own weights move together. */
export class WeightGroup {
  onloaded = false;
  resident = false;
  /** recorded on the copy stream after a prefetch; the compute stream waits on it */
  ready: Event | null = null;
  /** host weights replaced by device copies while onloaded */
  private resting = new Map<string, { module: Module; local: string; host: Weight }>();
  /** with offloadToDiskPath: the group's weights live in this file; slots hold meta placeholders */
  private disk: SafetensorsFile | null = null;
  constructor(readonly name: string, readonly modules: Module[], private readonly onloadDevice: Device) {}

  /** Slots of every weight in the group, as [key, module, local name]. */
  private *slots(): Generator<[string, Module, string]> {
    for (const m of this.modules) for (const [, , , owner, local] of m.namedWeights("", false)) yield [`${owner.path}.${local}`, owner, local];
  }

  get bytes(): number {
    let n = 0;
    for (const [, m, local] of this.slots()) for (const [, t] of flattenWeight(m.weight(local))) n += t.nbytes;
    return n;
  }

  /** Copies the group's weights to the onload device on the current stream (nonBlocking: asynchronously, from pinned memory). */
  onload(nonBlocking = false): void {
    if (this.onloaded) return;
    try {
      untracked(() => {
        for (const [key, m, local] of this.slots()) {
          const host = m.weight(local);
          const disk = this.disk;
          const made: Tensor[] = [];
          const copy = (t: Tensor, inner: string): Tensor => {
            let d: Tensor;
            if (disk) {
              d = Tensor.empty(t.shape, t.dtype, this.onloadDevice, leafName(key, inner));
              made.push(d);
              d.device.backend.write(d, 0, disk.read(diskEntryName(key, inner)));
            } else {
              d = t.device === this.onloadDevice ? t.reshape(t.shape) : moveTensor(t, { device: this.onloadDevice, nonBlocking });
              made.push(d);
            }
            return d;
          };
          let dev: Weight;
          try {
            dev = mapWeight(host, copy);
          } catch (e) {
            for (const d of made) d.dispose(); // a subclass half copied: free its leaves
            throw e;
          }
          m.setTensor(local, dev);
          this.resting.set(key, { module: m, local, host });
        }
      });
    } catch (e) {
      // out of memory (or any failure) halfway: put back what was swapped, so the group is whole on the host
      for (const { module, local, host } of this.resting.values()) {
        const dev = module.setTensor(local, host);
        if (dev && dev !== host) dev.dispose();
      }
      this.resting.clear();
      throw e;
    }
    this.onloaded = true;
  }

  /** Pins every host leaf in place, so copies can overlap compute (one host copy stays one). */
  pinHost(): void {
    for (const [, m, local] of this.slots()) for (const [, t] of flattenWeight(m.weight(local))) if (isHostDevice(t.device) && !t.isPinned) t.pin();
  }

  /**
   * Moves the group's weights to a safetensors file in dir and frees their host memory (the
   * slots keep shape-only placeholders). An existing file is reused only if the fingerprints
   * in its header match the weights it stands for; otherwise it is rewritten.
   */
  spillToDisk(dir: string, index: number): { file: string; reused: boolean } {
    const file = join(dir, `group_${String(index).padStart(4, "0")}.safetensors`);
    const leaves: { name: string; t: Tensor }[] = [];
    for (const [key, m, local] of this.slots()) for (const [inner, t] of flattenWeight(m.weight(local))) leaves.push({ name: diskEntryName(key, inner), t });
    const fingerprints: Record<string, string> = {};
    for (const { name, t } of leaves) fingerprints[name] = fingerprint(t);
    let reused = false;
    if (existsSync(file)) {
      try {
        const f = openSafetensors(file);
        const stored = f.metadata["vramlab.fingerprints"];
        reused = stored !== undefined && stored === JSON.stringify(fingerprints);
        f.close();
      } catch {
        reused = false; // unreadable or corrupt: rewrite it
      }
    }
    if (!reused) {
      mkdirSync(dir, { recursive: true });
      writeSafetensors(file, leaves.map(({ name, t }) => {
        const st = safetensorsDType(t.dtype);
        return { name, dtype: st ?? "U8", shape: st ? t.shape : [t.nbytes], data: () => readBytes(t) };
      }), { "vramlab.group": this.name, "vramlab.fingerprints": JSON.stringify(fingerprints) });
    }
    untracked(() => {
      for (const [key, m, local] of this.slots()) {
        const w = m.weight(local);
        m.setTensor(local, mapWeight(w, (t, inner) => Tensor.empty(t.shape, t.dtype, "meta", `${leafName(key, inner)} (on disk)`)));
        w.dispose();
      }
    });
    this.disk = openSafetensors(file);
    return { file, reused };
  }

  /** Reads disk-backed weights back into host memory on `device` and closes the file. */
  restoreFromDisk(device: Device): void {
    const disk = this.disk;
    if (!disk) return;
    untracked(() => {
      for (const [key, m, local] of this.slots()) {
        const w = m.weight(local);
        m.setTensor(local, mapWeight(w, (t, inner) => {
          const d = Tensor.empty(t.shape, t.dtype, device, leafName(key, inner));
          d.device.backend.write(d, 0, disk.read(diskEntryName(key, inner)));
          return d;
        }));
        w.dispose();
      }
    });
    disk.close();
    this.disk = null;
  }

  /** Frees the device copies and puts the host weights back: no device-to-host copy. */
  offload(): void {
    this.ready = null;
    if (!this.onloaded || this.resident) return;
    for (const { module, local, host } of this.resting.values()) {
      const dev = module.setTensor(local, host);
      if (dev && dev !== host) dev.dispose();
    }
    this.resting.clear();
    this.onloaded = false;
  }
}

interface Shared {
  groups: WeightGroup[];
  /** order in which groups first ran (learned on the first forward) */
  order: WeightGroup[];
  learned: boolean;
  prefetchDepth: number;
  /** the copy stream prefetches run on (useStream) */
  copyStream: Stream | null;
}

class GroupEntryHook implements ModelHook {
  /** exitToo: the group is one module, so this hook also releases it after forward */
  constructor(private readonly group: WeightGroup, private readonly shared: Shared, private readonly exitToo: boolean) {}
  preForward(): void {
    const s = this.shared;
    const g = this.group;
    if (!s.learned && !s.order.includes(g)) s.order.push(g);
    if (g.ready) {
      // prefetched on the copy stream: order the compute stream after it, without a host sync
      g.ready.stream?.device.currentStream.waitEvent(g.ready);
      g.ready = null;
    }
    g.onload(); // synchronous when it was not prefetched (first forward, or a module that did not run then)
    const copy = s.copyStream;
    if (copy && s.learned) {
      const i = s.order.indexOf(g);
      for (let k = 1; k <= s.prefetchDepth && i >= 0 && i + k < s.order.length; k++) {
        const next = s.order[i + k]!;
        if (next.onloaded) continue;
        withStream(copy, () => next.onload(true));
        next.ready = copy.recordEvent(`prefetch ${next.name}`);
      }
    }
  }
  postForward(_m: Module, output: unknown): unknown {
    if (this.exitToo) this.group.offload();
    return output;
  }
  onError(): void {
    this.group.offload();
  }
}

class GroupExitHook implements ModelHook {
  constructor(private readonly group: WeightGroup) {}
  postForward(_m: Module, output: unknown): unknown {
    this.group.offload();
    return output;
  }
}

class RootHook implements ModelHook {
  constructor(private readonly shared: Shared, private readonly unmatched: WeightGroup | null, private readonly offloadDevice: Device) {}
  preForward(): void {
    this.unmatched?.onload();
  }
  postForward(_m: Module, output: unknown): unknown {
    this.finish();
    if (this.shared.order.length) this.shared.learned = true;
    return output;
  }
  onError(): void {
    this.finish(); // an error or interrupt: everything goes back to the host
  }
  private finish(): void {
    this.unmatched?.offload();
    for (const g of this.shared.groups) g.offload();
  }
  resetState(): void {
    this.shared.order = [];
    this.shared.learned = false;
  }
  deinitialize(): void {
    for (const g of this.shared.groups) g.resident = false; // resident groups go back to the host too
    this.finish();
    this.unmatched?.restoreFromDisk(this.offloadDevice);
    for (const g of this.shared.groups) g.restoreFromDisk(this.offloadDevice);
  }
}

export interface GroupOffloadingSummary {
  groups: { name: string; modules: string[]; bytes: number; resident: boolean }[];
  /** with offloadToDiskPath: one file per group, and whether an existing file matched its weights */
  diskFiles: { file: string; reused: boolean }[];
}

function isModuleList(m: Module): boolean {
  return m.className === "ModuleList" || m.className === "Sequential";
}

export function applyGroupOffloading(module: Module, options: GroupOffloadingOptions): GroupOffloadingSummary {
  const onloadDevice = getDevice(options.onloadDevice);
  const offloadDevice = getDevice(options.offloadDevice ?? "cpu");
  if (onloadDevice === offloadDevice) throw new Error(`group offloading: onloadDevice and offloadDevice are both ${onloadDevice.name}; offloading needs two devices`);
  if (!offloadDevice.hasData && onloadDevice.hasData) throw new Error(`group offloading: ${offloadDevice.name} holds no data, so weights offloaded there could never come back`);
  if (options.offloadToDiskPath !== undefined && (!onloadDevice.hasData || typeof options.offloadToDiskPath !== "string" || !options.offloadToDiskPath)) {
    throw new Error("group offloading: offloadToDiskPath needs a folder path and an onload device with real data");
  }
  const type = options.offloadType ?? "block_level";
  if (type !== "block_level" && type !== "leaf_level") throw new TypeError(`group offloading: offloadType must be "block_level" or "leaf_level", got ${JSON.stringify(type)}`);
  const perGroup = options.numBlocksPerGroup ?? 1;
  if (type === "block_level" && (!Number.isInteger(perGroup) || perGroup < 1)) throw new TypeError(`group offloading: numBlocksPerGroup must be a positive integer, got ${perGroup}`);
  if (type === "leaf_level" && options.numBlocksPerGroup !== undefined) throw new TypeError("group offloading: numBlocksPerGroup applies to block_level only");
  const depth = options.prefetchDepth ?? 1;
  if (!Number.isInteger(depth) || depth < 0) throw new TypeError(`group offloading: prefetchDepth must be a non-negative integer, got ${depth}`);
  for (const [path, m] of module.namedModules()) {
    if (m.hooks.has(GROUP_OFFLOADING_HOOK) || m.hooks.has(ROOT_HOOK)) throw new Error(`group offloading is already applied (at ${path || "<root>"}); remove it first`);
    if (m.hooks.has("model_cpu_offload")) throw new Error(`${path || "<root>"} already has model cpu offload; remove it before group offloading (both would move the same weights)`);
  }
  const excluded = new Set(options.excludeModules ?? []);
  const byPath = new Map(module.namedModules());
  for (const p of excluded) if (!byPath.has(p)) throw new Error(`group offloading: excludeModules names ${p}, which is not a module of this model`);

  // every weight must rest on the offload device before hooks take over
  for (const [, m] of module.namedModules()) {
    for (const [, w, , owner, local] of m.namedWeights("", false)) {
      const target = [...excluded].some((p) => owner.path === p || owner.path.startsWith(p + ".")) ? onloadDevice : offloadDevice;
      if (flattenWeight(w).every(([, t]) => t.device === target)) continue;
      owner.setTensor(local, untracked(() => mapWeight(w, (t) => moveTensor(t, target))));
      w.dispose();
    }
  }

  const groups: WeightGroup[] = [];
  const claimed = new Set<Module>();
  const isExcluded = (path: string) => [...excluded].some((p) => path === p || path.startsWith(p + "."));
  const pending: [WeightGroup, Module, Module][] = []; // hooks are registered once every option checked out
  const hook = (g: WeightGroup, first: Module, last: Module) => {
    groups.push(g);
    for (const m of g.modules) claimed.add(m);
    pending.push([g, first, last]);
  };
  const shared: Shared = { groups, order: [], learned: false, prefetchDepth: depth, copyStream: options.useStream ? onloadDevice.newStream("group-offload-copy", "copy") : null };
  const subtree = (m: Module) => [...m.namedModules()].map(([, x]) => x);

  if (type === "block_level") {
    for (const [name, child] of module.namedChildren()) {
      if (!isModuleList(child) || isExcluded(child.path)) continue;
      const blocks = [...child.namedChildren()].map(([, b]) => b).filter((b) => !isExcluded(b.path));
      for (let i = 0; i < blocks.length; i += perGroup) {
        const members = blocks.slice(i, i + perGroup);
        const g = new WeightGroup(`${name}.${i}${members.length > 1 ? `-${i + members.length - 1}` : ""}`, members.flatMap(subtree), onloadDevice);
        hook(g, members[0]!, members[members.length - 1]!);
      }
    }
  } else {
    for (const [path, m] of module.namedModules()) {
      if (!path || !m.isLeaf || isExcluded(path) || [...m.namedWeights("", false)].length === 0) continue;
      hook(new WeightGroup(path, [m], onloadDevice), m, m);
    }
  }
  // what no group claimed (embedders, norms, the root's own weights) is onloaded for the whole forward
  const rest = [...module.namedModules()].map(([, m]) => m).filter((m) => !claimed.has(m) && !isExcluded(m.path) && [...m.namedWeights("", false)].length > 0);
  const unmatched = rest.length ? new WeightGroup("<unmatched>", rest, onloadDevice) : null;

  const keep = options.keepResident;
  if (Array.isArray(keep)) {
    const names = new Set(groups.map((g) => g.name));
    for (const n of keep) if (!names.has(n)) throw new Error(`group offloading: keepResident names "${n}", which is not a group; groups: ${[...names].slice(0, 6).join(", ")}…`);
  }
  for (const [g, first, last] of pending) {
    first.hooks.register(GROUP_OFFLOADING_HOOK, new GroupEntryHook(g, shared, last === first));
    if (last !== first) last.hooks.register(`${GROUP_OFFLOADING_HOOK}_exit`, new GroupExitHook(g));
  }
  if (keep !== undefined) {
    groups.forEach((g, i) => {
      const resident = keep === "first_last" ? i === 0 || i === groups.length - 1 : Array.isArray(keep) ? keep.includes(g.name) : keep(g.name, g.modules);
      if (resident) {
        g.onload();
        g.resident = true;
      }
    });
  }
  const diskFiles: { file: string; reused: boolean }[] = [];
  if (options.offloadToDiskPath) {
    [...(unmatched ? [unmatched] : []), ...groups].forEach((g, i) => { if (!g.resident) diskFiles.push(g.spillToDisk(options.offloadToDiskPath!, i)); });
  } else if (options.useStream && !options.lowCpuMemUsage) {
    // streaming needs page-locked host memory to overlap; lowCpuMemUsage leaves it pageable
    for (const g of [...groups, ...(unmatched ? [unmatched] : [])]) if (!g.resident) g.pinHost();
  }
  module.hooks.register(ROOT_HOOK, new RootHook(shared, unmatched, offloadDevice));
  const summary = groups.map((g) => ({ name: g.name, modules: g.modules.map((m) => m.path), bytes: g.bytes, resident: g.resident }));
  if (unmatched) summary.unshift({ name: unmatched.name, modules: unmatched.modules.map((m) => m.path), bytes: unmatched.bytes, resident: false });
  return { groups: summary, diskFiles };
}

/** Removes group offloading; weights end on the offload device (call model.to() to move them). */
export function removeGroupOffloading(module: Module): void {
  for (const [, m] of module.namedModules()) {
    m.hooks.remove(`${GROUP_OFFLOADING_HOOK}_exit`);
    m.hooks.remove(GROUP_OFFLOADING_HOOK);
  }
  module.hooks.remove(ROOT_HOOK);
}
