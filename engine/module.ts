// Module: named parameters, buffers and children; call() runs the hook
// chain around forward(). Calls are async and give the event loop a turn
// between modules, and an AbortSignal stops a run at the next module
// boundary, leaving every parameter in place so the model stays usable.
import { currentContext, maybeYield, throwIfAborted, withContext, yieldDue, type ExecContext } from "./context.js";
import { HookRegistry, type ModelHook } from "./hooks.js";
import { applyModelCpuOffload, applySequentialCpuOffload, type CpuOffloadOptions } from "./techniques/cpu-offload.js";
import { applyGroupOffloading, type GroupOffloadingOptions, type GroupOffloadingSummary } from "./techniques/group-offloading.js";
import { applyLayerwiseCasting, type LayerwiseCastingOptions, type LayerwiseCastingSummary } from "./techniques/layerwise-casting.js";
import { keep, scopeIn, untracked } from "./scope.js";
import { Tensor, formatShape } from "./tensor.js";
import { getDevice, type Device, type DeviceSpec } from "./device.js";
import type { DType } from "./dtype.js";
import { to as moveTensor } from "./ops/transfer.js";
import { flattenWeight, isTensorSubclass, leafName, mapWeight, weightBytes, weightNumel, type Weight } from "./weight.js";

export type TensorSlot = "parameter" | "buffer";

export class Module {
  private readonly params = new Map<string, Weight | null>();
  private readonly bufs = new Map<string, Tensor | null>();
  private readonly kids = new Map<string, Module>();
  private parentRef: Module | null = null;
  private nameInParent = "";
  private hookRegistry: HookRegistry | null = null;
  /** path, computed once; registerModule clears it for the whole moved subtree */
  private pathCache: string | null = null;

  /** dotted path from the root module ("" for the root) */
  get path(): string {
    if (this.pathCache !== null) return this.pathCache;
    if (!this.parentRef) return (this.pathCache = "");
    const p = this.parentRef.path;
    return (this.pathCache = p ? `${p}.${this.nameInParent}` : this.nameInParent);
  }
  get parent(): Module | null {
    return this.parentRef;
  }
  get className(): string {
    return this.constructor.name;
  }

  get hooks(): HookRegistry {
    return (this.hookRegistry ??= new HookRegistry(this));
  }
  get hasHooks(): boolean {
    return (this.hookRegistry?.size ?? 0) > 0;
  }

  // ---- registration -------------------------------------------------------

  protected registerParameter(name: string, t: Weight | null): void {
    this.checkSlotName(name);
    this.params.set(name, t ? keepWeight(t) : null);
    if (t) labelWeight(t, this.qualified(name));
  }

  protected registerBuffer(name: string, t: Tensor | null): void {
    this.checkSlotName(name);
    this.bufs.set(name, t ? keep(t) : null);
    if (t) t.owner = this.qualified(name);
  }

  registerModule<M extends Module>(name: string, child: M): M {
    this.checkSlotName(name);
    if (child.parentRef) throw new Error(`module ${child.className} is already a child of ${child.parentRef.path || "<root>"}`);
    child.parentRef = this;
    child.nameInParent = name;
    this.kids.set(name, child);
    child.relabelOwners();
    return child;
  }

  private checkSlotName(name: string): void {
    if (!name || name.includes(".")) throw new TypeError(`invalid name "${name}": names are non-empty and contain no dots`);
    if (this.params.has(name) || this.bufs.has(name) || this.kids.has(name)) throw new Error(`${this.className} already has a member named "${name}"`);
  }

  private qualified(name: string): string {
    const p = this.path;
    return p ? `${p}.${name}` : name;
  }

  private relabelOwners(): void {
    this.pathCache = null;
    for (const [n, t] of this.params) if (t && !t.isDisposed) labelWeight(t, this.qualified(n));
    for (const [n, t] of this.bufs) if (t && !t.isDisposed) t.owner = this.qualified(n);
    for (const c of this.kids.values()) c.relabelOwners();
  }

  // ---- access ---------------------------------------------------------------

  /** A plain parameter or buffer of this module; throws if missing or if it is a tensor subclass. */
  tensor(name: string): Tensor {
    const t = this.optionalTensor(name);
    if (!t) throw new Error(`${this.className} ${this.path || "<root>"} has no tensor "${name}"`);
    return t;
  }
  optionalTensor(name: string): Tensor | null {
    const w = this.params.get(name) ?? this.bufs.get(name) ?? null;
    if (w && isTensorSubclass(w)) {
      throw new Error(`${this.path || "<root>"}.${name} is a ${String(w.metadata()["scheme"] ?? "tensor subclass")} weight; read it with weight("${name}") or dequantize() it`);
    }
    return w as Tensor | null;
  }
  /** A parameter (plain or a tensor subclass such as a QTensor) or buffer; throws if missing. */
  weight(name: string): Weight {
    const w = this.params.get(name) ?? this.bufs.get(name);
    if (!w) throw new Error(`${this.className} ${this.path || "<root>"} has no parameter "${name}"`);
    return w;
  }
  optionalWeight(name: string): Weight | null {
    return this.params.get(name) ?? this.bufs.get(name) ?? null;
  }

  /**
   * Replaces a parameter or buffer (hooks use this to swap in cast or moved weights).
   * The previous tensor is returned, not disposed: the caller decides.
   */
  setTensor(name: string, t: Weight): Weight | null {
    if (this.params.has(name)) {
      const prev = this.params.get(name) ?? null;
      this.params.set(name, keepWeight(t));
      labelWeight(t, this.qualified(name));
      this.onWeightReplaced(name, t);
      return prev;
    }
    if (this.bufs.has(name)) {
      if (isTensorSubclass(t)) throw new Error(`${this.path || "<root>"}.${name} is a buffer; buffers hold plain tensors`);
      const prev = this.bufs.get(name) ?? null;
      this.bufs.set(name, keep(t));
      t.owner = this.qualified(name);
      return prev;
    }
    throw new Error(`${this.className} ${this.path || "<root>"} has no parameter or buffer "${name}"`);
  }

  child(name: string): Module {
    const c = this.kids.get(name);
    if (!c) throw new Error(`${this.className} ${this.path || "<root>"} has no child "${name}"`);
    return c;
  }

  /** Own and descendant parameters (plain or subclass) with dotted names, in registration order. */
  *namedParameters(prefix = "", recurse = true): Generator<[string, Weight]> {
    for (const [n, t] of this.params) if (t) yield [prefix + n, t];
    if (recurse) for (const [cn, c] of this.kids) yield* c.namedParameters(`${prefix}${cn}.`, true);
  }
  *namedBuffers(prefix = "", recurse = true): Generator<[string, Tensor]> {
    for (const [n, t] of this.bufs) if (t) yield [prefix + n, t];
    if (recurse) for (const [cn, c] of this.kids) yield* c.namedBuffers(`${prefix}${cn}.`, true);
  }
  /** Parameters then buffers as weights, with slot kind, owning module and local name. */
  *namedWeights(prefix = "", recurse = true): Generator<[string, Weight, TensorSlot, Module, string]> {
    for (const [n, t] of this.params) if (t) yield [prefix + n, t, "parameter", this, n];
    for (const [n, t] of this.bufs) if (t) yield [prefix + n, t, "buffer", this, n];
    if (recurse) for (const [cn, c] of this.kids) yield* c.namedWeights(`${prefix}${cn}.`, true);
  }
  /**
   * Every leaf tensor, flattened through the flatten protocol: a plain weight as its name,
   * a subclass's inner tensors as "name.inner" (e.g. "to_q.weight.qdata").
   */
  *namedTensors(prefix = "", recurse = true): Generator<[string, Tensor, TensorSlot, Module, string]> {
    for (const [n, w, slot, m, local] of this.namedWeights(prefix, recurse)) {
      for (const [inner, t] of flattenWeight(w)) yield [leafName(n, inner), t, slot, m, local];
    }
  }
  *namedChildren(): Generator<[string, Module]> {
    yield* this.kids;
  }
  /** This module and its descendants (depth first) with paths relative to it. */
  *namedModules(prefix = ""): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, c] of this.kids) yield* c.namedModules(prefix ? `${prefix}.${n}` : n);
  }
  get isLeaf(): boolean {
    return this.kids.size === 0;
  }

  /** Logical parameter count (a quantized weight counts its [out, in] elements). */
  numParameters(): number {
    let n = 0;
    for (const [, w] of this.namedParameters()) n += weightNumel(w);
    return n;
  }
  /** Bytes of parameters and buffers as stored (a quantized weight counts its payload). */
  numBytes(): number {
    let n = 0;
    for (const [, w] of this.namedWeights()) n += weightBytes(w);
    return n;
  }

  /** Device of the first parameter (or buffer). */
  get device(): Device {
    for (const [, t] of this.namedTensors()) return t.device;
    throw new Error(`${this.className} has no tensors, so it has no device`);
  }
  get dtype(): DType {
    for (const [, t] of this.namedParameters()) return t.dtype;
    throw new Error(`${this.className} has no parameters, so it has no dtype`);
  }

  // ---- running ----------------------------------------------------------------

  /** The computation; subclasses implement it. Call modules through call(), never forward() directly. */
  forward(..._args: unknown[]): unknown {
    throw new Error(`${this.className} does not implement forward()`);
  }

  /** Runs the hook chain around forward(); intermediate tensors forward() made and did not return are freed. */
  async call(...args: unknown[]): Promise<unknown> {
    this.checkNotAborted();
    // a turn for the event loop (heartbeats, interrupts) only when one is due: an await costs
    if (yieldDue()) {
      await maybeYield();
      this.checkNotAborted();
    }
    const outer = currentContext();
    const ctx: ExecContext = { ...outer, modulePath: this.path, moduleClass: this.className, module: this };
    const hooks = this.hookRegistry;
    // no hooks: the module's context and the forward's scope are entered in one step
    if (!hooks || hooks.size === 0) return scopeIn(ctx, () => this.forward(...args));
    return withContext(ctx, async () => {
      let a = args;
      const entered: ModelHook[] = []; // hooks whose preForward ran, outermost first
      try {
        for (const h of hooks.preOrder()) {
          entered.push(h);
          if (!h.preForward) continue;
          const r = await untracked(() => h.preForward!(this, a));
          if (r) a = r;
        }
        let out = await scopeIn(ctx, () => this.forward(...a));
        for (const h of hooks.postOrder()) if (h.postForward) out = await untracked(() => h.postForward!(this, out));
        return out;
      } catch (e) {
        for (const h of entered.reverse()) untracked(() => h.onError?.(this, e));
        throw e;
      }
    });
  }

  private checkNotAborted(): void {
    const signal = currentContext().signal;
    if (signal?.aborted) throwIfAborted(`module ${this.path || "<root>"} (${this.className})`);
  }

  // ---- moving and freeing ---------------------------------------------------

  /**
   * Moves (and/or casts) every parameter and buffer; the old copies are freed as each
   * new one is made, so a move never needs twice the model's memory.
   */
  async to(target: DeviceSpec | { device?: DeviceSpec; dtype?: DType }): Promise<this> {
    const opts = typeof target === "string" || target instanceof Object && "backend" in target ? { device: target as DeviceSpec } : (target as { device?: DeviceSpec; dtype?: DType });
    const device = opts.device !== undefined ? getDevice(opts.device) : undefined;
    const convert = (w: Weight): Weight => {
      // dtype applies to plain float weights; a subclass's payload keeps its dtypes
      const cast = opts.dtype !== undefined && !isTensorSubclass(w) && (w.dtype === "float32" || w.dtype === "float16" || w.dtype === "bfloat16");
      return untracked(() => mapWeight(w, (t) => moveTensor(t, { device, dtype: cast ? opts.dtype : undefined })));
    };
    const slots = [...this.namedWeights()].map(([, w, , owner, local]) => ({ w, owner, local }));
    const crossDevice = device !== undefined && slots.some(({ w }) => flattenWeight(w).some(([, t]) => t.device !== device));
    if (!crossDevice) {
      // same device (a dtype change): swap weight by weight, so memory never holds two models
      for (const { w, owner, local } of slots) {
        owner.setTensor(local, convert(w));
        w.dispose();
        await maybeYield();
      }
      return this;
    }
    // across devices: copy everything first, then swap, so running out of memory on the
    // target (or an interrupt) leaves the model whole on its old device
    const moved: Weight[] = [];
    try {
      for (const { w } of slots) {
        moved.push(convert(w));
        await maybeYield();
      }
    } catch (e) {
      for (const m of moved) m.dispose();
      throw e;
    }
    slots.forEach(({ w, owner, local }, i) => {
      owner.setTensor(local, moved[i]!);
      w.dispose();
    });
    return this;
  }

  // ---- derived weight copies (prepacked panels) ------------------------------

  /**
   * Prepacks the weights of every Linear in this module for the CPU GEMM (onnxruntime packs
   * constant weights at session load the same way): each cpu Linear keeps its weight's
   * micro-kernel panels (float32, about the size of an fp32 weight, counted by vl.memory as
   * "<weight>.prepacked") and reuses them in every forward instead of packing per call.
   * Results are bit-identical. A layer packs at its second multi-row forward with the same
   * weight; panels are released when the weight is replaced (to, casting, offloading,
   * quantize), written into, or the module disposed. Returns how many layers take part.
   */
  enableWeightPrepacking(): { layers: number } {
    let layers = 0;
    for (const [, m] of this.namedModules()) if (m.setWeightPrepacking(true)) layers++;
    return { layers };
  }
  /** Turns weight prepacking off and frees the panels. */
  disableWeightPrepacking(): void {
    for (const [, m] of this.namedModules()) m.setWeightPrepacking(false);
  }
  /** Bytes of prepacked weight panels held by this module and its descendants. */
  get prepackedBytes(): number {
    let n = 0;
    for (const [, m] of this.namedModules()) n += m.heldPrepackedBytes;
    return n;
  }

  /** Layers that can prepack their weights override this; returns whether this module takes part. */
  protected setWeightPrepacking(_enabled: boolean): boolean {
    return false;
  }
  /** Prepacked bytes this module itself holds (not its children). */
  protected get heldPrepackedBytes(): number {
    return 0;
  }
  /** A parameter slot now holds `next` (setTensor): layers drop copies derived from the old weight. */
  protected onWeightReplaced(_name: string, _next: Weight): void {}
  /** Frees copies derived from the weights (dispose). */
  protected releaseDerived(): void {}

  /** Frees every parameter and buffer; the module cannot run afterwards. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      m.releaseDerived();
      m.hookRegistry?.resetState();
      for (const map of [m.params, m.bufs]) for (const t of map.values()) t?.dispose();
    }
  }

  /** Leaf tensors by dotted name (the tensors themselves, not copies; subclasses flattened). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedTensors()].map(([n, t]) => [n, t]));
  }

  /** diffusers' model.enable_layerwise_casting: see applyLayerwiseCasting. */
  enableLayerwiseCasting(options: LayerwiseCastingOptions): LayerwiseCastingSummary {
    return applyLayerwiseCasting(this, options);
  }

  /** diffusers' model.enable_group_offload: see applyGroupOffloading. */
  enableGroupOffload(options: GroupOffloadingOptions): GroupOffloadingSummary {
    return applyGroupOffloading(this, options);
  }

  /** diffusers' enable_model_cpu_offload: the whole model on the device only during forward. */
  enableModelCpuOffload(options: CpuOffloadOptions): { bytes: number } {
    return applyModelCpuOffload(this, options);
  }

  /** diffusers' enable_sequential_cpu_offload: one leaf at a time. */
  enableSequentialCpuOffload(options: CpuOffloadOptions): GroupOffloadingSummary {
    return applySequentialCpuOffload(this, options);
  }

  /** Structure as text, like printing a torch module. */
  toString(): string {
    const lines: string[] = [];
    const walk = (m: Module, name: string, depth: number) => {
      const own = [...m.namedWeights("", false)].map(([n, t]) => `${n}: ${isTensorSubclass(t) ? String(t.metadata()["scheme"]) + " " : ""}${t.dtype}${formatShape(t.shape)}`).join(", ");
      lines.push(`${"  ".repeat(depth)}${name ? name + ": " : ""}${m.className}${own ? ` (${own})` : ""}`);
      for (const [n, c] of m.kids) walk(c, n, depth + 1);
    };
    walk(this, "", 0);
    return lines.join("\n");
  }
}

export interface RunOptions {
  /** stops the run at the next module boundary */
  signal?: AbortSignal;
}

/**
 * A top-level model: model.forward(inputs, {signal}) runs the root's hooks and
 * sets up the run (signal), then compute() does the work.
 */
export abstract class Model<I, O> extends Module {
  protected abstract compute(inputs: I): Promise<O>;

  override async forward(inputs: I, options: RunOptions = {}): Promise<O> {
    const ctx = currentContext();
    if (ctx.module === this) return this.compute(inputs);
    const runCtx: ExecContext = { ...ctx, signal: options.signal ?? ctx.signal };
    return withContext(runCtx, () => this.call(inputs)) as Promise<O>;
  }
}

/** Exempts every leaf of a weight from the enclosing scopes (the module owns it). */
function keepWeight(w: Weight): Weight {
  for (const [, t] of flattenWeight(w)) keep(t);
  return w;
}

/** Memory attribution: "path.weight" for a plain tensor, "path.weight.qdata" for subclass leaves. */
function labelWeight(w: Weight, name: string): void {
  for (const [inner, t] of flattenWeight(w)) if (!t.isDisposed) t.owner = leafName(name, inner);
}
