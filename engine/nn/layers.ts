// Leaf layers with PyTorch's parameter names: Linear, LayerNorm, RMSNorm,
// activations, Dropout (identity at inference) and ModuleList.
import { Module } from "../module.js";
import type { Tensor } from "../tensor.js";
import type { NativeStorage } from "../native-binding.js";
import { linear, geluTanh, silu, gelu } from "../ops/math.js";
import { PrepackedWeight, linearPrepacked } from "../ops/linear.js";
import { gemmInfo } from "../kernels/gemm.js";
import { isTensorSubclass, type Weight } from "../weight.js";
import { layerNorm, rmsNorm } from "../ops/norm.js";
import { makeParam, type ParamFactory } from "./init.js";

let gemvRows = -1;
/** Rows up to which the cpu GEMM multiplies by dot products, never packing the weight. */
function gemvMaxRows(): number {
  return gemvRows >= 0 ? gemvRows : (gemvRows = gemmInfo().gemvMaxRows);
}

/**
 * nn.Linear: y = x W^T + b with weight [out, in]. Random init ~ N(0, 1/in), bias ~ N(0, 0.05^2).
 *
 * With weight prepacking on (Module.enableWeightPrepacking), a plain float weight on a device
 * that supports it (cpu) is packed for the GEMM the second time in a row the same weight is
 * multiplied with more than a few rows (a weight swapped in afresh for every call, as layerwise
 * casting's upcast copies are, is never packed; one-row products read the weight directly).
 */
export class Linear extends Module {
  private prepacking = false;
  private prepack: PrepackedWeight | null = null;
  /** storage of the weight the previous multi-row forward used unpacked */
  private seenUnpacked: NativeStorage | null = null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias: boolean, f: ParamFactory, name: string) {
    super();
    this.registerParameter("weight", makeParam(f, `${name}.weight`, [outFeatures, inFeatures], { kind: "normal", std: 1 / Math.sqrt(inFeatures) }));
    this.registerParameter("bias", bias ? makeParam(f, `${name}.bias`, [outFeatures], { kind: "normal", std: 0.05 }) : null);
  }
  override forward(x: Tensor): Tensor {
    const w = this.weight("weight");
    const bias = this.optionalTensor("bias");
    if (this.prepacking && !isTensorSubclass(w)) {
      const p = this.prepackedFor(w, x);
      if (p) return linearPrepacked(x, w, p, bias);
    }
    return linear(x, w, bias);
  }

  protected override get heldPrepackedBytes(): number {
    return this.prepack?.bytes ?? 0;
  }

  private prepackedFor(w: Tensor, x: Tensor): PrepackedWeight | null {
    if (this.prepack && !this.prepack.matches(w)) this.releasePrepacked();
    if (this.prepack) return this.prepack;
    if (w.ndim !== 2 || x.numel / w.shape[1]! <= gemvMaxRows() || !PrepackedWeight.supported(w.device)) return null;
    const storage = w.native;
    if (storage !== this.seenUnpacked) {
      this.seenUnpacked = storage;
      return null;
    }
    this.seenUnpacked = null;
    this.prepack = PrepackedWeight.create(w);
    return this.prepack;
  }

  private releasePrepacked(): void {
    this.prepack?.release();
    this.prepack = null;
  }

  protected override setWeightPrepacking(enabled: boolean): boolean {
    this.prepacking = enabled;
    if (!enabled) {
      this.releasePrepacked();
      this.seenUnpacked = null;
    }
    return true;
  }
  protected override onWeightReplaced(name: string, next: Weight): void {
    if (name === "weight" && this.prepack && (isTensorSubclass(next) || !this.prepack.matches(next))) this.releasePrepacked();
  }
  protected override releaseDerived(): void {
    this.releasePrepacked();
    this.seenUnpacked = null;
  }
}

/** nn.LayerNorm over the last dimension; elementwiseAffine=false has no parameters. */
export class LayerNorm extends Module {
  constructor(readonly dim: number, readonly eps: number, elementwiseAffine: boolean, f: ParamFactory, name: string) {
    super();
    this.registerParameter("weight", elementwiseAffine ? makeParam(f, `${name}.weight`, [dim], { kind: "normal", mean: 1, std: 0.1 }) : null);
    this.registerParameter("bias", elementwiseAffine ? makeParam(f, `${name}.bias`, [dim], { kind: "normal", std: 0.05 }) : null);
  }
  override forward(x: Tensor): Tensor {
    return layerNorm(x, this.optionalTensor("weight"), this.optionalTensor("bias"), this.eps);
  }
}

/** diffusers' RMSNorm: x * rsqrt(mean(x^2) + eps) * weight. */
export class RMSNorm extends Module {
  constructor(readonly dim: number, readonly eps: number, f: ParamFactory, name: string) {
    super();
    this.registerParameter("weight", makeParam(f, `${name}.weight`, [dim], { kind: "normal", mean: 1, std: 0.1 }));
  }
  override forward(x: Tensor): Tensor {
    return rmsNorm(x, this.optionalTensor("weight"), this.eps);
  }
}

export class SiLU extends Module {
  override forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** nn.GELU; approximate "tanh" as Flux uses. */
export class GELU extends Module {
  constructor(readonly approximate: "none" | "tanh" = "none") {
    super();
  }
  override forward(x: Tensor): Tensor {
    return this.approximate === "tanh" ? geluTanh(x) : gelu(x);
  }
}

/** nn.Dropout at inference: the identity (returns a view, so the caller may dispose either). */
export class Dropout extends Module {
  override forward(x: Tensor): Tensor {
    return x.reshape(x.shape);
  }
}

/** nn.ModuleList: children named "0", "1", ... */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];
  constructor(items: M[] = []) {
    super();
    for (const m of items) this.append(m);
  }
  append(m: M): M {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return m;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new RangeError(`ModuleList ${this.path}: index ${i} out of range (length ${this.items.length})`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
