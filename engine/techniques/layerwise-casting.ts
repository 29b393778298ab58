// Layerwise casting (diffusers' apply_layerwise_casting): weights are stored
// in a low-precision dtype (e.g. float8_e4m3fn) and upcast to the compute
// dtype only while their layer runs, so one leaf at a time holds its weights
// in compute precision. Works on any weight through the flatten protocol:
// plain float weights are cast; tensor subclasses (quantized payloads) are
// already compact and are left as they are.
import type { Module } from "../module.js";
import type { ModelHook } from "../hooks.js";
import { dtypeInfo, isComputeDType, type DType } from "../dtype.js";
import { Tensor } from "../tensor.js";
import { cast } from "../ops/transfer.js";
import { untracked } from "../scope.js";
import { isTensorSubclass, type Weight } from "../weight.js";

export const LAYERWISE_CASTING_HOOK = "layerwise_casting";

/** diffusers' DEFAULT_SKIP_MODULES_PATTERN. */
export const DEFAULT_SKIP_MODULES_PATTERN = ["pos_embed", "patch_embed", "norm", "^proj_in$", "^proj_out$"];

export interface LayerwiseCastingOptions {
  storageDtype: DType;
  /** dtype the layer computes in (default: the weight's current dtype) */
  computeDtype?: DType;
  /** regexes searched in module paths; "auto" = diffusers' defaults plus the model's own list */
  skipModulesPattern?: (string | RegExp)[] | "auto";
  /** class names to skip (e.g. "LayerNorm") */
  skipModulesClasses?: string[];
  /** accepted for diffusers compatibility; casts here are synchronous on the current stream */
  nonBlocking?: boolean;
  /** receives overflow warnings (default console.warn) */
  onWarning?: (message: string) => void;
}

export interface LayerwiseCastingSummary {
  layers: string[];
  skipped: { path: string; reason: string }[];
  warnings: string[];
}

/** Largest finite magnitude of a float dtype. */
function maxFinite(d: DType): number {
  switch (d) {
    case "float8_e4m3fn": return 448;
    case "float8_e5m2": return 57344;
    case "float16": return 65504;
    case "bfloat16": return 3.3895313892515355e38;
    case "float32": return 3.4028234663852886e38;
    default: throw new TypeError(`layerwise casting stores weights in a float dtype; ${d} is not one (quantize the model for integer storage)`);
  }
}

class LayerwiseCastingHook implements ModelHook {
  /** names of the parameters this hook casts (plain float parameters at apply time) */
  private names: string[] = [];
  /** during a call: the storage-dtype tensors the upcast copies replaced */
  private resting = new Map<string, Weight>();
  constructor(readonly storageDtype: DType, readonly computeDtype: DType, private readonly warn: (m: string) => void, private readonly warnings: string[]) {}

  /** plain float parameters of this module (not its children); subclasses are left alone */
  private castable(m: Module): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [, w, slot, , local] of m.namedWeights("", false)) {
      if (slot !== "parameter" || isTensorSubclass(w) || !dtypeInfo(w.dtype).isFloat) continue;
      out.push([local, w]);
    }
    return out;
  }

  initialize(m: Module): void {
    untracked(() => {
      for (const [name, w] of this.castable(m)) {
        if (w.device.hasData && w.dtype !== this.storageDtype) {
          let amax = 0;
          for (const v of w.toFloat32Array()) if (Math.abs(v) > amax) amax = Math.abs(v);
          const limit = maxFinite(this.storageDtype);
          if (amax > limit) {
            const msg = `layerwise casting: ${m.path ? m.path + "." : ""}${name} has |w| up to ${amax.toPrecision(4)}, beyond ${this.storageDtype}'s largest value ${limit}; those weights become inf/NaN. Skip this layer (skipModulesPattern) or quantize it instead.`;
            this.warnings.push(msg);
            this.warn(msg);
          }
        }
        if (w.dtype !== this.storageDtype) {
          m.setTensor(name, cast(w, this.storageDtype));
          w.dispose();
        }
        this.names.push(name);
      }
    });
  }

  /** Upcasts whatever the slots hold now (another hook may have moved them to a device). */
  preForward(m: Module): void {
    if (this.resting.size) return; // re-entrant call: already upcast
    untracked(() => {
      for (const name of this.names) {
        const s = m.weight(name) as Tensor;
        m.setTensor(name, s.dtype === this.computeDtype ? s.reshape(s.shape) : cast(s, this.computeDtype));
        this.resting.set(name, s);
      }
    });
  }

  postForward(m: Module, output: unknown): unknown {
    this.restore(m);
    return output;
  }

  /** Puts the storage-dtype weights back and frees the compute copies. */
  private restore(m: Module): void {
    for (const [name, s] of this.resting) {
      const upcast = m.setTensor(name, s);
      if (upcast && upcast !== s) upcast.dispose();
    }
    this.resting.clear();
  }

  onError(m: Module): void {
    this.restore(m); // the forward failed: weights go back to storage, nothing stays upcast
  }

  deinitialize(m: Module): void {
    this.restore(m);
    untracked(() => {
      for (const name of this.names) {
        const s = m.weight(name) as Tensor;
        if (s.dtype === this.computeDtype) continue;
        m.setTensor(name, cast(s, this.computeDtype));
        s.dispose();
      }
    });
    this.names = [];
  }
}

/** Layers diffusers casts (Linear, Conv): leaf modules with a weight of rank 2 or more. */
function isWeightLayer(m: Module): boolean {
  if (!m.isLeaf) return false;
  const w = m.optionalWeight("weight");
  return w !== null && w.shape.length >= 2;
}

function compilePatterns(p: (string | RegExp)[]): RegExp[] {
  return p.map((x) => (x instanceof RegExp ? x : new RegExp(x)));
}

/** Modules a model asks to skip, like diffusers' _skip_layerwise_casting_patterns. */
export interface HasSkipPatterns {
  skipLayerwiseCastingPatterns?: readonly string[];
}

export function applyLayerwiseCasting(module: Module, options: LayerwiseCastingOptions): LayerwiseCastingSummary {
  const storage = options.storageDtype;
  maxFinite(storage);
  let compute = options.computeDtype;
  const patterns = compilePatterns(
    options.skipModulesPattern === undefined || options.skipModulesPattern === "auto"
      ? [...DEFAULT_SKIP_MODULES_PATTERN, ...((module as HasSkipPatterns).skipLayerwiseCastingPatterns ?? [])]
      : options.skipModulesPattern,
  );
  const classes = new Set(options.skipModulesClasses ?? []);
  const summary: LayerwiseCastingSummary = { layers: [], skipped: [], warnings: [] };
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  const visit = (m: Module, path: string) => {
    if (path && patterns.some((re) => re.test(path))) {
      summary.skipped.push({ path, reason: "matches skipModulesPattern" });
      return;
    }
    if (classes.has(m.className)) {
      summary.skipped.push({ path, reason: `class ${m.className} is in skipModulesClasses` });
      return;
    }
    if (isWeightLayer(m)) {
      if (m.hooks.has(LAYERWISE_CASTING_HOOK)) throw new Error(`layerwise casting is already applied to ${path || "<root>"}; remove it first`);
      const w = m.weight("weight");
      const c = compute ?? w.dtype;
      if (!isComputeDType(c)) throw new TypeError(`layerwise casting: computeDtype must be float32, float16 or bfloat16, got ${c}`);
      compute ??= c;
      m.hooks.register(LAYERWISE_CASTING_HOOK, new LayerwiseCastingHook(storage, c, warn, summary.warnings), { position: "innermost" });
      summary.layers.push(path);
      return;
    }
    for (const [name, child] of m.namedChildren()) visit(child, path ? `${path}.${name}` : name);
  };
  visit(module, "");
  return summary;
}

/** Removes layerwise casting everywhere under module, upcasting weights back to the compute dtype. */
export function removeLayerwiseCasting(module: Module): number {
  let n = 0;
  for (const [, m] of module.namedModules()) if (m.hooks.remove(LAYERWISE_CASTING_HOOK)) n++;
  return n;
}
