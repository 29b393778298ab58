// vl.planOffload(model, inputs, {device, budgetBytes}): picks the offload
// setting that fits a VRAM budget with the best modelled step time, by
// running the modelled forward of every candidate on a simulated device
// (dataless for full-size models: sim:PROFILE:meta with the model on meta).
//
// Candidates: no offload; block_level with 1..4 blocks per group and
// prefetch depth 1 and 2 on a copy stream (and the diffusers default,
// 1 block without streams); leaf_level with prefetch depth 1 and 2. Each
// candidate that fits then gets resident groups (keepResident), chosen from
// its own timeline: the groups whose onload stalled the compute stream
// longest (a stall is the part of a group's time not spent in its kernels)
// first, then the others in execution order, while their bytes fit in the
// headroom between the run's peak and the budget. That variant runs, and
// its lower peak may leave room for more (up to FILL_ROUNDS rounds). Every
// number in the table comes from a modelled run, not an estimate.
//
// How a fit is decided: memory is deterministic (the same allocations in the
// same order whatever the limit), so each candidate runs under the device's
// full capacity and fits when its peak reserved bytes are within the budget;
// the table then also says by how much the others miss, and no trial is cut
// short by an out-of-memory error mid-onload. The chosen setting is run once
// more under setMemoryLimit(budget), where an out-of-memory error would
// reject it. The model is left as it was found: hooks removed, the very same
// weight objects back in their slots, pinning as before.
import { getDevice, type Device, type DeviceSpec } from "../device.js";
import type { Module } from "../module.js";
import { reservedBytes } from "../memory.js";
import { formatBytes, formatTable } from "../format.js";
import { untracked } from "../scope.js";
import { to as moveTensor } from "../ops/transfer.js";
import { flattenWeight, mapWeight, type Weight } from "../weight.js";
import type { Tensor } from "../tensor.js";
import { isHostDevice } from "../host-memory.js";
import { SimDevice } from "../sim/sim-device.js";
import { OutOfMemoryError } from "../sim/out-of-memory.js";
import { applyGroupOffloading, removeGroupOffloading, type GroupOffloadingSummary } from "../techniques/group-offloading.js";
import { profile } from "./profile.js";
import type { Report } from "./report.js";

/** One offload configuration. keepResident names group-offloading groups ("transformer_blocks.0", ...). */
export type OffloadSetting =
  | { offloadType: "none" }
  | { offloadType: "block_level"; numBlocksPerGroup: number; prefetchDepth: number; useStream: boolean; keepResident?: string[] }
  | { offloadType: "leaf_level"; prefetchDepth: number; useStream: boolean; keepResident?: string[] };

export interface PlanTrial {
  label: string;
  setting: OffloadSetting;
  /** peak within the budget (and no out-of-memory error) */
  fits: boolean;
  /** why it does not fit, or why it was not run */
  reason?: string;
  /** measured by a modelled run (false: ruled out by arithmetic, e.g. the weights alone exceed the budget) */
  ran: boolean;
  modelMemory: number | null;
  /** peak allocated bytes during a step (inference memory) and the allocator's peak reserved bytes */
  peakBytes: number | null;
  peakReserved: number | null;
  timeMs: number | null;
  h2dBytes: number | null;
  h2dSeconds: number | null;
  /** resident groups of all groups (offload settings) */
  residentGroups: number;
  groups: number;
}

export interface PlanOffloadOptions {
  /** a simulated device (sim:PROFILE:meta for a model on meta, sim:PROFILE for a model on cpu) */
  device: DeviceSpec;
  /** bytes the step may use on the device: weights, activations and inputs together */
  budgetBytes: number;
  /** where offloaded weights rest (default: where the model's weights are) */
  offloadDevice?: DeviceSpec;
  /** settings to try instead of the default list (resident groups are still added unless fillResident is false) */
  candidates?: OffloadSetting[];
  /** add a resident-group variant of every fitting offload candidate (default true) */
  fillResident?: boolean;
  /** block_level candidates go up to this many blocks per group (default 4) */
  maxBlocksPerGroup?: number;
  /** progress messages (one per trial) */
  onTrial?: (trial: PlanTrial) => void;
}

/** Relative difference under which two modelled step times count as equal (then fewer transferred bytes, then the earlier candidate, win). */
const TIME_TIE = 1e-6;
/** Fitting trials, best first: modelled step time; near-equal times prefer fewer transferred bytes, then the earlier trial. */
function rankFitting<T extends PlanTrial>(trials: T[]): T[] {
  return trials.filter((t) => t.fits).sort((a, b) => {
    const dt = a.timeMs! - b.timeMs!;
    if (Math.abs(dt) > TIME_TIE * Math.max(a.timeMs!, b.timeMs!)) return dt;
    return a.h2dBytes! - b.h2dBytes! || trials.indexOf(a) - trials.indexOf(b);
  });
}

/** Rounds of adding resident groups per candidate. */
const FILL_ROUNDS = 3;

export function describeSetting(s: OffloadSetting): string {
  if (s.offloadType === "none") return "no offload";
  const base = s.offloadType === "block_level" ? `block_level N=${s.numBlocksPerGroup}` : "leaf_level";
  const stream = s.useStream ? `stream, depth ${s.prefetchDepth}` : "no stream";
  const resident = s.keepResident?.length ? `, ${s.keepResident.length} resident` : "";
  return `${base} (${stream}${resident})`;
}

/** The default candidates, in order of preference when step times tie. */
export function defaultOffloadCandidates(maxBlocksPerGroup = 4): OffloadSetting[] {
  const out: OffloadSetting[] = [{ offloadType: "none" }];
  for (let n = 1; n <= maxBlocksPerGroup; n++) for (const d of [1, 2]) out.push({ offloadType: "block_level", numBlocksPerGroup: n, prefetchDepth: d, useStream: true });
  out.push({ offloadType: "block_level", numBlocksPerGroup: 1, prefetchDepth: 1, useStream: false });
  for (const d of [1, 2]) out.push({ offloadType: "leaf_level", prefetchDepth: d, useStream: true });
  return out;
}

/**
 * Sets a model up with an offload setting: "none" moves it to the device, the others apply group
 * offloading (weights resting on offloadDevice). Returns the group-offloading summary, if any.
 */
export async function applyOffloadSetting(model: Module, setting: OffloadSetting, options: { device: DeviceSpec; offloadDevice: DeviceSpec }): Promise<GroupOffloadingSummary | null> {
  if (setting.offloadType === "none") {
    await model.to(options.device);
    return null;
  }
  return applyGroupOffloading(model, {
    onloadDevice: options.device,
    offloadDevice: options.offloadDevice,
    offloadType: setting.offloadType,
    ...(setting.offloadType === "block_level" ? { numBlocksPerGroup: setting.numBlocksPerGroup } : {}),
    prefetchDepth: setting.prefetchDepth,
    useStream: setting.useStream,
    ...(setting.keepResident?.length ? { keepResident: setting.keepResident } : {}),
  });
}

/** The outcome: the chosen setting, its predicted peak and step time, and every trial. */
export class OffloadPlan {
  constructor(
    readonly device: string,
    readonly offloadDevice: string,
    readonly budgetBytes: number,
    /** the fitting trial with the best modelled step time, or null when nothing fits */
    readonly best: PlanTrial | null,
    readonly trials: PlanTrial[],
    /** the chosen setting re-run under setMemoryLimit(budget) without an out-of-memory error */
    readonly verified: boolean,
  ) {}

  get setting(): OffloadSetting | null {
    return this.best?.setting ?? null;
  }
  get predictedPeakBytes(): number | null {
    return this.best?.peakBytes ?? null;
  }
  get predictedTimeMs(): number | null {
    return this.best?.timeMs ?? null;
  }

  /** Applies the chosen setting to a model (the planned one or a twin on the real device pair). */
  async apply(model: Module, options: { device?: DeviceSpec; offloadDevice?: DeviceSpec } = {}): Promise<GroupOffloadingSummary | null> {
    if (!this.best) throw new Error(`planOffload found no setting within ${formatBytes(this.budgetBytes)} on ${this.device}; see plan.trials for what each needs`);
    return applyOffloadSetting(model, this.best.setting, { device: options.device ?? this.device, offloadDevice: options.offloadDevice ?? this.offloadDevice });
  }

  /** The trials as a text table, in the order they ran; with `top`, the fastest fitting ones and then those that do not fit. */
  table(options: { top?: number } = {}): string {
    let list = this.trials;
    let more = "";
    if (options.top !== undefined) {
      const fitting = rankFitting(this.trials);
      const failing = this.trials.filter((t) => !t.fits);
      const shownFitting = fitting.slice(0, options.top);
      const shownFailing = failing.slice(0, options.top);
      list = [...shownFitting, ...shownFailing];
      const hidden = fitting.length - shownFitting.length + failing.length - shownFailing.length;
      if (hidden > 0) more = `\n… ${hidden} more trials (plan.trials has all ${this.trials.length})`;
    }
    const rows = list.map((t) => [
      t === this.best ? "*" : "", t.label, t.fits ? "yes" : "no",
      t.modelMemory === null ? "-" : formatBytes(t.modelMemory),
      t.peakBytes === null ? "-" : formatBytes(t.peakBytes), t.timeMs === null ? "-" : t.timeMs.toFixed(2),
      t.h2dBytes === null ? "-" : formatBytes(t.h2dBytes), t.fits ? "" : (t.reason ?? ""),
    ]);
    return formatTable(["", "setting", "fits", "model mem", "peak", "step ms", "h2d/step", "why not"], rows) + more;
  }

  toString(): string {
    const head = this.best
      ? `best within ${formatBytes(this.budgetBytes)} on ${this.device}: ${this.best.label}: predicted peak ${formatBytes(this.best.peakBytes!)}, step ${this.best.timeMs!.toFixed(2)} ms (modelled)${this.verified ? ", verified under the memory limit" : ""}`
      : `nothing fits ${formatBytes(this.budgetBytes)} on ${this.device}`;
    return `${this.table()}\n\n${head}`;
  }

  [Symbol.for("Jupyter.display")](): Record<string, string> {
    const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const rows = this.trials.map((t) => `<tr${t === this.best ? ' style="font-weight:bold"' : ""}><td>${esc(t.label)}</td><td>${t.fits ? "yes" : "no"}</td><td style="text-align:right">${t.modelMemory === null ? "-" : esc(formatBytes(t.modelMemory))}</td><td style="text-align:right">${t.peakBytes === null ? "-" : esc(formatBytes(t.peakBytes))}</td><td style="text-align:right">${t.timeMs === null ? "-" : t.timeMs.toFixed(2)}</td><td style="text-align:right">${t.h2dBytes === null ? "-" : esc(formatBytes(t.h2dBytes))}</td><td>${t.fits ? "" : esc(t.reason ?? "")}</td></tr>`);
    const head = esc(this.toString().split("\n").pop()!);
    return {
      "text/plain": this.toString(),
      "text/html": `<p>${head}</p><table><tr><th>setting</th><th>fits</th><th>model memory</th><th>peak</th><th>step ms</th><th>h2d/step</th><th>why not</th></tr>${rows.join("")}</table>`,
    };
  }
}

interface Trial extends PlanTrial {
  report: Report | null;
  summary: GroupOffloadingSummary | null;
}

/** The weight object in every slot, so a trial can put the very same objects back. */
type WeightSnapshot = { module: Module; local: string; weight: Weight }[];

function snapshotWeights(model: Module): WeightSnapshot {
  return [...model.namedWeights()].map(([, weight, , module, local]) => ({ module, local, weight }));
}

/**
 * Puts every slot's original weight back and frees what replaced it. This also repairs what a
 * failed or removed hook left behind (a copy still on the device): the originals are never
 * freed by a trial. A slot whose original was freed by someone else gets its weight moved home.
 */
function restoreWeights(snapshot: WeightSnapshot, home: Device): void {
  for (const { module, local, weight } of snapshot) {
    const current = module.optionalWeight(local);
    if (current === weight) continue;
    if (!weight.isDisposed) {
      module.setTensor(local, weight);
      if (current && !current.isDisposed) current.dispose();
    } else if (current && flattenWeight(current).some(([, t]) => t.device !== home)) {
      module.setTensor(local, untracked(() => mapWeight(current, (t) => moveTensor(t, home))));
      current.dispose();
    }
  }
}

/** A copy of a weight on `device`, or nothing: leaves copied before an out-of-memory error are freed. */
function copyWeight(w: Weight, device: Device): Weight {
  const made: Tensor[] = [];
  try {
    return untracked(() => mapWeight(w, (t) => {
      const c = moveTensor(t, device);
      made.push(c);
      return c;
    }));
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

/** "No offload" for a trial: every weight copied to the device, the host originals kept for restoreWeights. */
function onloadAll(snapshot: WeightSnapshot, device: Device): void {
  for (const { module, local, weight } of snapshot) module.setTensor(local, copyWeight(weight, device));
}

/** Leaf tensor names whose storage is pinned. */
function pinnedLeaves(model: Module): Set<string> {
  return new Set([...model.namedTensors()].filter(([, t]) => t.isPinned).map(([n]) => n));
}

/** Bytes a group's weights reserve on the device (each leaf is one allocation). */
function groupReserved(model: Module, paths: string[], alignment: number): number {
  const byPath = new Map(model.namedModules());
  let n = 0;
  for (const p of paths) {
    const m = byPath.get(p);
    if (!m) continue;
    for (const [, w] of m.namedWeights("", false)) for (const [, t] of flattenWeight(w)) n += reservedBytes(t.nbytes, alignment);
  }
  return n;
}

/** The modules of a group not nested in another of its modules (their calls cover the group's time). */
function topPaths(paths: string[]): string[] {
  const set = new Set(paths);
  return paths.filter((p) => {
    for (let i = p.lastIndexOf("."); i > 0; i = p.lastIndexOf(".", i - 1)) if (set.has(p.slice(0, i))) return false;
    return true;
  });
}

export async function planOffload<I>(model: Module, inputs: I, options: PlanOffloadOptions): Promise<OffloadPlan> {
  const device = getDevice(options.device);
  if (!(device instanceof SimDevice)) throw new TypeError(`planOffload: ${device.name} is not a simulated device; plan on "sim:PROFILE:meta" (model on meta) or "sim:PROFILE" (model on cpu)`);
  const budget = options.budgetBytes;
  if (!Number.isSafeInteger(budget) || budget <= 0) throw new RangeError(`planOffload: budgetBytes must be a positive integer, got ${budget}`);
  if (budget > device.capacityBytes) throw new RangeError(`planOffload: a budget of ${formatBytes(budget)} exceeds ${device.name}'s ${formatBytes(device.capacityBytes)} for tensors`);
  const homes = new Set<Device>();
  for (const [, t] of model.namedTensors()) homes.add(t.device);
  const home = options.offloadDevice !== undefined ? getDevice(options.offloadDevice) : [...homes][0];
  if (!home || homes.size !== 1 || !homes.has(home) || !isHostDevice(home)) {
    throw new TypeError(`planOffload: the model's weights must all rest on one host device (meta for ${device.name.endsWith(":meta") ? device.name : `${device.name}:meta`}, cpu for ${device.name.replace(/:meta$/, "")}); they are on ${[...homes].map((d) => d.name).join(", ") || "nothing"}`);
  }
  for (const [path, m] of model.namedModules()) {
    if (m.hasHooks && m.hooks.names().some((n) => n.startsWith("group_offloading"))) throw new Error(`planOffload: group offloading is already applied (at ${path || "<root>"}); remove it first (vl.removeGroupOffloading)`);
  }
  const pinnedBefore = pinnedLeaves(model);
  const alignment = device.memory.alignment;
  const weightsReserved = [...model.namedTensors()].reduce((a, [, t]) => a + reservedBytes(t.nbytes, alignment), 0);
  const limitBefore = device.memoryLimitOverride;

  const snapshot = snapshotWeights(model);
  const restore = () => {
    removeGroupOffloading(model);
    restoreWeights(snapshot, home);
    // streaming pinned the host weights in place: undo it, so later candidates see the host as it was
    for (const [name, t] of model.namedTensors()) {
      if (t.isPinned && !pinnedBefore.has(name)) t.unpin();
      else if (!t.isPinned && pinnedBefore.has(name)) t.pin();
    }
    device.synchronize();
  };

  const run = async (setting: OffloadSetting, underLimit: boolean): Promise<Trial> => {
    const label = describeSetting(setting);
    const t: Trial = { label, setting, fits: false, ran: false, modelMemory: null, peakBytes: null, peakReserved: null, timeMs: null, h2dBytes: null, h2dSeconds: null, residentGroups: 0, groups: 0, report: null, summary: null };
    const base = device.memory.stats().reserved;
    if (setting.offloadType === "none" && base + weightsReserved > budget) {
      t.reason = `the weights alone need ${formatBytes(weightsReserved)}, ${formatBytes(base)} is in use`;
      return t;
    }
    device.setMemoryLimit(underLimit ? budget : null);
    try {
      if (setting.offloadType === "none") onloadAll(snapshot, device);
      else t.summary = await applyOffloadSetting(model, setting, { device, offloadDevice: home });
      const groups = t.summary?.groups.filter((g) => g.name !== "<unmatched>") ?? [];
      t.groups = groups.length;
      t.residentGroups = groups.filter((g) => g.resident).length;
      const tops = new Set(groups.flatMap((g) => topPaths(g.modules)));
      t.report = await profile(model, inputs, { device, warmup: 1, steps: 1, layers: setting.offloadType === "none" ? "blocks" : (p) => tops.has(p), timeline: false, memoryTrace: false });
      t.ran = true;
      t.modelMemory = t.report.summary.modelMemory;
      t.peakBytes = t.report.summary.inferenceMemory;
      t.peakReserved = t.report.info.inferenceReserved;
      t.timeMs = t.report.summary.timeMs;
      t.h2dBytes = t.report.summary.h2dBytes;
      t.h2dSeconds = t.report.summary.h2dSeconds;
      t.fits = t.peakReserved <= budget;
      if (!t.fits) t.reason = `peaks at ${formatBytes(t.peakReserved)} reserved, ${formatBytes(t.peakReserved - budget)} over`;
    } catch (e) {
      if (!(e instanceof OutOfMemoryError)) throw e;
      t.ran = true;
      t.reason = `out of memory: ${formatBytes(e.requestedBytes)} for ${e.owner || "a tensor"}${e.module ? ` in ${e.module}` : ""} with ${formatBytes(e.freeBytes)} free`;
    } finally {
      device.setMemoryLimit(limitBefore);
      restore();
    }
    return t;
  };

  /**
   * More resident groups for a fitting trial: the groups whose onload stalled the compute stream
   * longest first, then the others in execution order, while their bytes fit between the trial's
   * peak and the budget. Making a group resident raises the peak by at most its bytes (at every
   * instant the onloaded set only gains that group), so the choice stays within the budget.
   */
  const moreResident = (t: Trial, resident: Set<string>): string[] => {
    const groups = (t.summary?.groups ?? []).filter((g) => g.name !== "<unmatched>" && !resident.has(g.name));
    const rows = t.report!.stepLayers();
    const stallOf = new Map<string, number>();
    for (const r of rows) stallOf.set(r.name, Math.max(0, r.timeMs - r.computeMs));
    const scored = groups.map((g, order) => ({
      name: g.name,
      order,
      stall: topPaths(g.modules).reduce((a, p) => a + (stallOf.get(p) ?? 0), 0),
      bytes: groupReserved(model, g.modules, alignment),
    }));
    scored.sort((a, b) => b.stall - a.stall || a.order - b.order);
    let headroom = budget - t.peakReserved!;
    const chosen: string[] = [];
    for (const s of scored) {
      if (s.bytes > headroom) continue;
      chosen.push(s.name);
      headroom -= s.bytes;
    }
    return chosen;
  };

  const candidates = options.candidates ?? defaultOffloadCandidates(options.maxBlocksPerGroup ?? 4);
  const trials: Trial[] = [];
  const record = (t: Trial) => {
    trials.push(t);
    options.onTrial?.(publicTrial(t));
  };
  const finish = (best: Trial | null, verified: boolean) => {
    const list = trials.map(publicTrial);
    return new OffloadPlan(device.name, home.name, budget, best ? list[trials.indexOf(best)]! : null, list, verified);
  };
  try {
    for (const c of candidates) {
      let t = await run(c, false);
      record(t);
      if (!t.fits || c.offloadType === "none" || options.fillResident === false) continue;
      // fill the headroom in rounds: each run's lower peak leaves room for more groups
      const resident = new Set(c.keepResident ?? []);
      for (let round = 0; round < FILL_ROUNDS; round++) {
        const add = moreResident(t, resident);
        if (add.length === 0) break;
        const next = await run({ ...c, keepResident: [...resident, ...add] }, false);
        record(next);
        if (!next.fits) break;
        for (const name of add) resident.add(name);
        t = next;
      }
    }

    const ranked = rankFitting(trials);
    // confirm under the budget as a hard memory limit: an out-of-memory error rejects a setting
    for (const best of ranked) {
      const check = await run(best.setting, true);
      if (check.fits) return finish(best, true);
      best.fits = false;
      best.reason = `failed under the limit: ${check.reason ?? "?"}`;
    }
    return finish(null, false);
  } finally {
    device.setMemoryLimit(limitBefore);
  }
}

/** A trial without the report and summary it was made from. */
function publicTrial(t: Trial): PlanTrial {
  const { report: _report, summary: _summary, ...rest } = t;
  return rest;
}
