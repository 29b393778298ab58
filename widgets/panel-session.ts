// The engine side of the control panel, with no widgets: it owns the model
// and its inputs and brings them to a PanelConfig the cheapest way — a new
// model (factory, compute dtype, quantization) only when the build settings
// change, otherwise new hooks (layerwise casting added, offloading replaced)
// — profiles under the VRAM budget with a progress callback, and plans
// offloading for a budget. Every step checks the AbortSignal, so a newer
// change stops a stale run at the next stage or module boundary.
import * as vl from "../engine/index.js";
import type { Module } from "../engine/module.js";
import type { ModelHook } from "../engine/hooks.js";
import type { Device } from "../engine/device.js";
import type { DType } from "../engine/dtype.js";
import { changeKind, describePlacement, hostDeviceFor, placementKey, PanelConfigError, type PanelComputeDType, type PanelConfig } from "./panel-config.js";

/** What a model factory is told: where to create the weights, in which dtype. */
export interface ModelContext {
  /** where the weights should rest: "meta" for dataless (sim:PROFILE:meta) devices, "cpu" otherwise */
  device: "cpu" | "meta";
  /** the compute dtype chosen in the panel (the panel casts float weights to it if the factory did not) */
  dtype: PanelComputeDType;
  /** the whole configuration being built */
  config: PanelConfig;
  signal: AbortSignal;
}

/** What an inputs factory is told: the device and dtype the inputs should have (the panel moves them there if not). */
export interface InputsContext {
  device: Device;
  dtype: DType;
  signal: AbortSignal;
}

export type ModelFactory<M extends Module = Module> = (context: ModelContext) => M | Promise<M>;
export type InputsFactory<M extends Module = Module, I = unknown> = (model: M, context: InputsContext) => I | Promise<I>;

export interface SessionOptions {
  /** measured forwards per profile (default 1) */
  steps?: number;
  /** unmeasured forwards first (default 1): offloading learns its order */
  warmup?: number;
  /** passed to vl.quantize: layers smaller than minElements are left alone (vl.quantize's default 65536) */
  quantize?: { minElements?: number; groupSize?: number };
}

/** Progress of a run: done of total units, and what is happening. */
export type ProgressCallback = (done: number, total: number, stage: string) => void;

/** What realize() did, for the status line. */
export interface RealizeSummary {
  action: "rebuild" | "rehook" | "reprofile" | "none";
  reasons: string[];
  notes: string[];
}

const PROGRESS_HOOK = "vramlab_panel_progress";

/** Counts finished module calls (the profile's "blocks") for the progress bar. */
class ProgressHook implements ModelHook {
  constructor(private readonly tick: () => void) {}
  postForward(_m: Module, output: unknown): unknown {
    this.tick();
    return output;
  }
}

function isPlainContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  if (Array.isArray(v)) return true;
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Tensors inside plain objects and arrays, each once. */
function tensorsOf(value: unknown, out = new Set<vl.Tensor>()): Set<vl.Tensor> {
  if (value instanceof vl.Tensor) out.add(value);
  else if (isPlainContainer(value)) for (const v of Array.isArray(value) ? value : Object.values(value)) tensorsOf(v, out);
  return out;
}

/** The same structure with every tensor on `device` (copies made; originals freed when `own`). */
function moveTensors<T>(value: T, device: Device, own: boolean): T {
  const move = (v: unknown): unknown => {
    if (v instanceof vl.Tensor) {
      if (v.device === device) return v;
      const moved = v.to(device);
      if (own) v.dispose();
      return moved;
    }
    if (Array.isArray(v)) return v.map(move);
    if (isPlainContainer(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, move(x)]));
    return v;
  };
  return move(value) as T;
}

function abortCheck(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new vl.AbortedError("the next stage", signal.reason);
}

export class ModelSession<M extends Module = Module, I = unknown> {
  model: M | null = null;
  inputs: I | null = null;
  /** the configuration the model and inputs are in now (null: no model, or a stage failed halfway) */
  private built: PanelConfig | null = null;
  /** placement of the model now (null: resting on the host with no offload hooks, or unknown after a failure) */
  private placed: PanelConfig | null = null;
  /** leaves pinned when the model was built, so unplacing unpins only what offloading pinned */
  private pinnedAtBuild = new Set<string>();
  /** where the weights rest when not placed (cpu, or meta for dataless devices) */
  private host: Device | null = null;
  private disposed = false;

  constructor(
    private readonly modelFactory: ModelFactory<M>,
    private readonly inputsSource: InputsFactory<M, I> | { value: I },
    private readonly options: SessionOptions = {},
  ) {}

  /** The configuration the model is in now, or null when it has no consistent one. */
  get current(): PanelConfig | null {
    return this.built && this.placed ? { ...this.built, ...placementOf(this.placed), budgetBytes: this.built.budgetBytes } : null;
  }

  /** Whether the inputs were given as tensors (then they stay on their device and are not the panel's to free). */
  get fixedInputs(): boolean {
    return "value" in this.inputsSource;
  }

  /** The device of given input tensors, if any. */
  fixedInputDevice(): string | null {
    if (!("value" in this.inputsSource)) return null;
    const first = tensorsOf(this.inputsSource.value).values().next().value;
    return first ? first.device.name : null;
  }

  /** Brings model and inputs to `config`: a new model when build settings change, new hooks when only placement or casting does. */
  async realize(config: PanelConfig, signal?: AbortSignal, progress?: ProgressCallback): Promise<RealizeSummary> {
    if (this.disposed) throw new Error("the panel was disposed");
    let kind: RealizeSummary["action"] = "rebuild";
    let reasons = ["no model yet"];
    if (this.built) {
      // compared as if placed as asked when nothing is placed now: placing is then always needed (below)
      ({ kind, reasons } = changeKind({ ...this.built, ...placementOf(this.placed ?? config) }, config));
      if (!this.placed && kind !== "rebuild") {
        kind = "rehook";
        reasons.push(`weights onto ${config.device}`);
      }
    }
    const notes: string[] = [];
    const tick = (stage: string, done: number) => progress?.(done, 3, stage);
    if (kind === "rebuild") {
      tick("building the model", 0);
      await this.rebuild(config, signal, notes);
    } else if (this.built && this.built.storageDtype !== config.storageDtype) {
      // casting added to a model that has none (a replaced or removed one means a rebuild, above)
      this.unplace();
      const built = this.built;
      this.built = null; // casting that fails halfway leaves hooks behind: the next run then builds afresh
      notes.push(this.applyCasting(config));
      this.built = { ...built, storageDtype: config.storageDtype };
    }
    abortCheck(signal);
    tick("placing the weights", 1);
    if (!this.placed || placementKey(this.placed) !== placementKey(config)) {
      await this.place(config, signal, notes);
    }
    if (this.built) this.built.budgetBytes = config.budgetBytes;
    tick("placed", 2);
    return { action: kind, reasons, notes };
  }

  private async rebuild(config: PanelConfig, signal: AbortSignal | undefined, notes: string[]): Promise<void> {
    this.release();
    const host = hostDeviceFor(config.device);
    const device = vl.getDevice(config.device);
    const made = await this.modelFactory({ device: host, dtype: config.computeDtype, config: { ...config }, signal: signal ?? new AbortController().signal });
    if (!(made instanceof vl.Module)) throw new TypeError(`the model factory must return a vramlab Module (e.g. () => vl.models.flux("tiny")), got ${Object.prototype.toString.call(made)}`);
    if ([...made.namedTensors()].some(([, t]) => t.isDisposed)) {
      throw new TypeError("the model factory returned a model whose weights were freed: the panel frees the old model on a rebuild, so the factory must make a new one on each call");
    }
    this.model = made;
    this.host = vl.getDevice(host);
    this.built = null;
    this.placed = null;
    abortCheck(signal);
    const m = this.model;
    if ([...m.namedTensors()].some(([, t]) => t.device.name !== host)) await m.to(host);
    if ([...m.namedParameters()].some(([, w]) => !vl.isTensorSubclass(w) && w.dtype !== config.computeDtype && (w.dtype === "float32" || w.dtype === "bfloat16" || w.dtype === "float16"))) {
      await m.to({ dtype: config.computeDtype });
    }
    abortCheck(signal);
    // inputs are made from the unquantized model in the compute dtype, then moved to the device
    if ("value" in this.inputsSource) this.inputs = this.inputsSource.value;
    else {
      const made = await this.inputsSource(m, { device, dtype: config.computeDtype, signal: signal ?? new AbortController().signal });
      this.inputs = moveTensors(made, device, true);
    }
    abortCheck(signal);
    if (config.scheme !== "none") {
      const q = vl.quantize(m, { scheme: config.scheme, ...(this.options.quantize ?? {}) });
      notes.push(`${config.scheme}: ${q.layers.length} Linear layer${q.layers.length === 1 ? "" : "s"} quantized (${vl.formatBytes(q.bytesBefore)} → ${vl.formatBytes(q.bytesAfter)})` +
        (q.skipped.length ? `, ${q.skipped.length} left as they are (${q.skipped[0]!.reason}${q.skipped.length > 1 ? ", …" : ""})` : ""));
    }
    this.pinnedAtBuild = new Set([...m.namedTensors()].filter(([, t]) => t.isPinned).map(([n]) => n));
    this.built = { ...config, storageDtype: "none" };
    if (config.storageDtype !== "none") {
      notes.push(this.applyCasting(config));
      this.built.storageDtype = config.storageDtype;
    }
  }

  private applyCasting(config: PanelConfig): string {
    const s = this.model!.enableLayerwiseCasting({ storageDtype: config.storageDtype as DType, computeDtype: config.computeDtype, onWarning: () => {} });
    return `layerwise casting: ${s.layers.length} layers stored in ${config.storageDtype}, ${s.skipped.length} skipped` + (s.warnings.length ? ` (${s.warnings.length} overflow warnings)` : "");
  }

  /** Takes the offload hooks off and brings every weight back to the host (unpinning what offloading pinned). */
  unplace(): void {
    const m = this.model;
    this.placed = null;
    if (!m) return;
    for (const [, mod] of m.namedModules()) mod.hooks.remove(PROGRESS_HOOK);
    vl.removeGroupOffloading(m);
    vl.removeModelCpuOffload(m);
    const host = this.host;
    if (host) {
      // a resident model, or weights a failed hook left on the device: move them home leaf by leaf
      for (const [, w, , owner, local] of [...m.namedWeights()]) {
        if (vl.flattenWeight(w).every(([, t]) => t.device === host)) continue;
        owner.setTensor(local, vl.untracked(() => vl.mapWeight(w, (t) => t.to(host))));
        w.dispose();
      }
    }
    for (const [name, t] of m.namedTensors()) if (t.isPinned && !this.pinnedAtBuild.has(name)) t.unpin();
  }

  private async place(config: PanelConfig, signal: AbortSignal | undefined, notes: string[]): Promise<void> {
    const m = this.model;
    if (!m || !this.built) throw new Error("no model to place");
    this.unplace();
    abortCheck(signal);
    const device = vl.getDevice(config.device);
    const host = hostDeviceFor(config.device);
    if (this.inputs !== null && !this.fixedInputs) this.inputs = moveTensors(this.inputs, device, true);
    const grouped = { onloadDevice: device, offloadDevice: host };
    switch (config.offloadType) {
      case "none":
        await m.to(device);
        break;
      case "block_level":
      case "leaf_level": {
        const s = m.enableGroupOffload({
          ...grouped,
          offloadType: config.offloadType,
          ...(config.offloadType === "block_level" ? { numBlocksPerGroup: config.numBlocksPerGroup } : {}),
          useStream: config.useStream,
          prefetchDepth: config.prefetchDepth,
          ...(config.keepResident.length ? { keepResident: config.keepResident } : {}),
        });
        notes.push(`${describePlacement(config)}: ${s.groups.filter((g) => g.name !== "<unmatched>").length} groups`);
        break;
      }
      case "model_cpu_offload":
        notes.push(`model cpu offload: ${vl.formatBytes(m.enableModelCpuOffload(grouped).bytes)} move per forward`);
        break;
      case "sequential_cpu_offload":
        notes.push(`sequential cpu offload: ${m.enableSequentialCpuOffload(grouped).groups.length} leaf groups`);
        break;
    }
    this.placed = { ...config };
  }

  /** Runs `fn` with the budget as the device's memory limit (simulated devices), restoring the limit after. */
  async underBudget<T>(config: PanelConfig, fn: () => Promise<T>): Promise<T> {
    const device = vl.getDevice(config.device);
    if (config.budgetBytes === null || !(device instanceof vl.SimDevice)) return fn();
    if (config.budgetBytes > device.capacityBytes) {
      throw new PanelConfigError(`a VRAM budget of ${vl.formatBytes(config.budgetBytes)} is more than ${device.name} has for tensors (${vl.formatBytes(device.capacityBytes)}); pick a smaller budget or a larger device`);
    }
    const before = device.memoryLimitOverride;
    device.setMemoryLimit(config.budgetBytes);
    try {
      return await fn();
    } finally {
      device.setMemoryLimit(before);
    }
  }

  /** Profiles the model as it is placed now; progress counts the profiled blocks of every forward. */
  async profile(config: PanelConfig, signal?: AbortSignal, progress?: ProgressCallback): Promise<vl.Report> {
    const m = this.model;
    if (!m || this.inputs === null) throw new Error("no model to profile");
    const steps = this.options.steps ?? 1;
    const warmup = this.options.warmup ?? 1;
    const select = vl.moduleSelector("blocks");
    const blocks = [...m.namedModules()].filter(([p, mod]) => select(p, mod)).map(([, mod]) => mod);
    const total = blocks.length * (steps + warmup);
    let done = 0;
    for (const b of blocks) b.hooks.register(PROGRESS_HOOK, new ProgressHook(() => progress?.(Math.min(++done, total), total, done <= blocks.length * warmup ? "warm-up forward" : "measured forward")));
    try {
      progress?.(0, total, "warm-up forward");
      return await vl.profile(m, this.inputs, { steps, warmup, device: config.device, signal });
    } finally {
      for (const b of blocks) b.hooks.remove(PROGRESS_HOOK);
    }
  }

  /** vl.planOffload for the budget: the model is unplaced first and left unplaced (place it with the plan's setting). */
  async plan(config: PanelConfig, onTrial?: (trial: vl.PlanTrial) => void): Promise<vl.OffloadPlan> {
    const m = this.model;
    if (!m || this.inputs === null) throw new Error("no model to plan for");
    if (!(vl.getDevice(config.device) instanceof vl.SimDevice)) throw new PanelConfigError(`planning runs modelled forwards on a simulated device; ${config.device} is not one (pick sim:… or sim:…:meta)`);
    if (config.budgetBytes === null) throw new PanelConfigError('enter a VRAM budget (e.g. "12 GB") to plan offloading for it');
    this.unplace();
    // block_level candidates up to the longest block list: larger groups would repeat the same trial
    let longest = 1;
    for (const [, child] of m.namedChildren()) if (child.className === "ModuleList") longest = Math.max(longest, [...child.namedChildren()].length);
    return vl.planOffload(m, this.inputs, { device: config.device, budgetBytes: config.budgetBytes, onTrial, maxBlocksPerGroup: Math.min(4, longest) });
  }

  /** Frees the model and the inputs the panel made. */
  private release(): void {
    if (this.model) {
      this.unplace();
      this.model.dispose();
    }
    if (this.inputs !== null && !this.fixedInputs) for (const t of tensorsOf(this.inputs)) if (!t.isDisposed) t.dispose();
    this.model = null;
    this.inputs = null;
    this.built = null;
    this.placed = null;
  }

  dispose(): void {
    this.release();
    this.disposed = true;
  }
}

function placementOf(c: PanelConfig): Pick<PanelConfig, "offloadType" | "numBlocksPerGroup" | "useStream" | "prefetchDepth" | "device" | "keepResident"> {
  return { offloadType: c.offloadType, numBlocksPerGroup: c.numBlocksPerGroup, useStream: c.useStream, prefetchDepth: c.prefetchDepth, device: c.device, keepResident: [...c.keepResident] };
}
