// vl.quantize(model, scheme) and vl.quantizeTensor(weight, scheme): replace
// Linear weights by QTensors (like torchao's quantize_), with a summary.
import type { Module } from "../module.js";
import { Linear } from "../nn/layers.js";
import { Tensor, formatShape } from "../tensor.js";
import { isTensorSubclass } from "../weight.js";
import { untracked } from "../scope.js";
import { getScheme, type SchemeConfig, type SchemeName } from "./schemes.js";
import type { QTensor } from "./qtensor.js";

/**
 * The default size rule: a Linear is quantized when its weight has at least this many elements
 * (256 x 256). Smaller layers save under 200 KB each, while dynamic schemes add a quantization
 * step per call that costs more than their GEMM saves.
 */
export const DEFAULT_MIN_ELEMENTS = 65_536;

export interface QuantizeOptions extends SchemeConfig {
  scheme: SchemeName;
  /** choose layers by path; default: every Linear passing the size rule */
  filter?: (path: string, module: Module) => boolean;
  /** smallest weight (elements) worth quantizing; default 65,536 */
  minElements?: number;
}

/** A per-layer plan: scheme (and group size) by module path; what autoquant saves. */
export interface QuantizationPlan {
  layers: Record<string, { scheme: SchemeName; groupSize?: number }>;
}

export interface QuantizedLayer {
  path: string;
  scheme: SchemeName;
  groupSize?: number;
  shape: number[];
  bytesBefore: number;
  bytesAfter: number;
}

export interface QuantizeSummary {
  layers: QuantizedLayer[];
  skipped: { path: string; reason: string }[];
  /** bytes of all parameters and buffers before and after */
  bytesBefore: number;
  bytesAfter: number;
  toString(): string;
}

export function quantizeTensor(weight: Tensor, scheme: SchemeName, config: SchemeConfig = {}): QTensor {
  return getScheme(scheme).quantize(weight, config);
}

function isPlan(x: unknown): x is QuantizationPlan {
  return typeof x === "object" && x !== null && "layers" in x && typeof (x as QuantizationPlan).layers === "object";
}

/**
 * Quantizes a model's Linear layers in place with one scheme, or applies a per-layer plan.
 * Already quantized layers are left as they are (re-quantizing would compound the error).
 */
export function quantize(model: Module, spec: SchemeName | QuantizeOptions | QuantizationPlan): QuantizeSummary {
  const bytesBefore = model.numBytes();
  const layers: QuantizedLayer[] = [];
  const skipped: { path: string; reason: string }[] = [];
  const choose = (path: string, m: Module): { scheme: SchemeName; groupSize?: number } | string | null => {
    if (isPlan(spec)) return spec.layers[path] ?? null;
    const opts: QuantizeOptions = typeof spec === "string" ? { scheme: spec } : spec;
    if (opts.filter && !opts.filter(path, m)) return null;
    const w = m.weight("weight");
    const min = opts.minElements ?? DEFAULT_MIN_ELEMENTS;
    if (w.shape.reduce((a, b) => a * b, 1) < min) return `weight ${formatShape(w.shape)} is smaller than ${min} elements (minElements)`;
    return { scheme: opts.scheme, groupSize: opts.groupSize };
  };
  if (isPlan(spec)) {
    for (const path of Object.keys(spec.layers)) {
      const found = [...model.namedModules()].find(([p]) => p === path);
      if (!found || !(found[1] instanceof Linear)) throw new Error(`quantize: the plan names ${path}, which is not a Linear layer of this model; was the plan made for another model?`);
    }
  }
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof Linear)) continue;
    const choice = choose(path, m);
    if (choice === null) continue;
    if (typeof choice === "string") {
      skipped.push({ path, reason: choice });
      continue;
    }
    const w = m.weight("weight");
    if (isTensorSubclass(w)) {
      skipped.push({ path, reason: `already quantized (${String(w.metadata()["scheme"])})` });
      continue;
    }
    const scheme = getScheme(choice.scheme);
    const config = choice.groupSize !== undefined ? { groupSize: choice.groupSize } : {};
    const why = scheme.unsupported(w.shape, config);
    if (why) {
      skipped.push({ path, reason: why });
      continue;
    }
    const q = untracked(() => scheme.quantize(w, config));
    m.setTensor("weight", q);
    w.dispose();
    layers.push({ path, scheme: scheme.name, groupSize: q.config.groupSize, shape: [...w.shape], bytesBefore: w.nbytes, bytesAfter: q.nbytes });
  }
  const bytesAfter = model.numBytes();
  return {
    layers,
    skipped,
    bytesBefore,
    bytesAfter,
    toString() {
      const mb = (n: number) => (n / 2 ** 20).toFixed(1);
      return `quantized ${layers.length} Linear layers (${skipped.length} skipped): ${mb(bytesBefore)} MiB -> ${mb(bytesAfter)} MiB (${(bytesBefore / Math.max(1, bytesAfter)).toFixed(2)}x smaller)`;
    },
  };
}
