// vl.autoquant: torchao's autoquant for this engine. One forward records the
// input of every Linear; then, per layer shape, each candidate scheme is
// timed on the current device, and per layer its output SQNR is measured.
// Each layer gets the fastest candidate within the error budget (or stays
// unquantized when that is fastest); the plan is JSON and reapplies without timing.
import { readFileSync, writeFileSync } from "node:fs";
import type { Model, Module } from "../module.js";
import { Linear } from "../nn/layers.js";
import type { Tensor } from "../tensor.js";
import { keep, untracked } from "../scope.js";
import { clone } from "../ops/transfer.js";
import { linear } from "../ops/math.js";
import { isTensorSubclass } from "../weight.js";
import { formatShape } from "../tensor.js";
import { getScheme, type SchemeName } from "./schemes.js";
import { quantize, DEFAULT_MIN_ELEMENTS, type QuantizationPlan, type QuantizeSummary } from "./quantize.js";
import { sqnrDb } from "./sqnr.js";

export interface AutoquantOptions {
  /** schemes to try (default int8wo, int8dq, fp8wo, fp8dqrow, int4wo) */
  candidates?: SchemeName[];
  /** group size for int4wo candidates (default 128) */
  groupSize?: number;
  /** smallest acceptable output SQNR per layer, dB (default 30) */
  minSqnrDb?: number;
  /** a saved plan (object or JSON file path): applied without timing */
  plan?: QuantizationPlan | string;
  /** write the plan here as JSON */
  savePlan?: string;
  /** timed repetitions per candidate and shape (default 5; the median is used) */
  repeats?: number;
  minElements?: number;
}

export interface CandidateResult {
  scheme: SchemeName | "none";
  ms: number;
  sqnrDb: number;
}

export interface LayerDecision {
  path: string;
  weightShape: number[];
  inputShape: number[];
  chosen: SchemeName | "none";
  candidates: CandidateResult[];
}

export interface AutoquantPlan extends QuantizationPlan {
  version: 1;
  device: string;
  minSqnrDb: number;
  decisions: LayerDecision[];
}

export interface AutoquantResult {
  plan: QuantizationPlan;
  summary: QuantizeSummary;
  /** empty when a saved plan was applied */
  decisions: LayerDecision[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function loadPlan(plan: QuantizationPlan | string): QuantizationPlan {
  if (typeof plan !== "string") return plan;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(plan, "utf8"));
  } catch (e) {
    throw new Error(`autoquant: cannot read the plan ${plan}: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || typeof (parsed as QuantizationPlan).layers !== "object") {
    throw new Error(`autoquant: ${plan} is not a quantization plan (it needs a "layers" object)`);
  }
  return parsed as QuantizationPlan;
}

export async function autoquant<I, O>(model: Model<I, O>, inputs: I, options: AutoquantOptions = {}): Promise<AutoquantResult> {
  if (options.plan !== undefined) {
    const plan = loadPlan(options.plan);
    return { plan, summary: quantize(model, plan), decisions: [] };
  }
  const candidates = options.candidates ?? ["int8wo", "int8dq", "fp8wo", "fp8dqrow", "int4wo"];
  for (const c of candidates) getScheme(c);
  const minSqnr = options.minSqnrDb ?? 30;
  const repeats = options.repeats ?? 5;
  const minElements = options.minElements ?? DEFAULT_MIN_ELEMENTS;
  const groupSize = options.groupSize ?? 128;

  // 1. one forward, recording each eligible Linear's first input
  const recorded = new Map<string, { layer: Linear; input: Tensor }>();
  const hooked: Linear[] = [];
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof Linear)) continue;
    const w = m.weight("weight");
    if (isTensorSubclass(w) || w.shape[0]! * w.shape[1]! < minElements) continue;
    if (!w.device.hasData) throw new Error(`autoquant times kernels, so it needs real data; ${path} is on ${w.device.name}. Run it on cpu (or a simulated device).`);
    m.hooks.register("autoquant-recorder", {
      preForward: (_mod, args) => {
        if (!recorded.has(path)) recorded.set(path, { layer: m, input: keep(clone(args[0] as Tensor, `autoquant.${path}.input`)) });
      },
    });
    hooked.push(m);
  }
  try {
    const out = await model.forward(inputs);
    for (const t of collect(out)) t.dispose();
  } finally {
    for (const m of hooked) m.hooks.remove("autoquant-recorder");
  }

  // 2. time candidates once per (weight shape, input shape, dtype); SQNR per layer
  const timings = new Map<string, Map<string, number>>();
  const decisions: LayerDecision[] = [];
  const plan: AutoquantPlan = { version: 1, device: "", minSqnrDb: minSqnr, layers: {}, decisions };
  try {
    for (const [path, { layer, input }] of recorded) {
      const w = layer.tensor("weight");
      const bias = layer.optionalTensor("bias");
      plan.device = w.device.name;
      const key = `${formatShape(w.shape)}|${formatShape(input.shape)}|${w.dtype}`;
      const known = timings.get(key);
      const times = known ?? new Map<string, number>();
      const results: CandidateResult[] = [];
      const reference = untracked(() => linear(input, w, bias));
      const timeIt = (fn: () => Tensor): number => {
        fn().dispose(); // warm-up (packing, caches)
        const ms: number[] = [];
        for (let i = 0; i < repeats; i++) {
          const t0 = performance.now();
          const y = fn();
          ms.push(performance.now() - t0);
          y.dispose();
        }
        return median(ms);
      };
      if (!known) times.set("none", timeIt(() => untracked(() => linear(input, w, bias))));
      results.push({ scheme: "none", ms: times.get("none")!, sqnrDb: Infinity });
      for (const name of candidates) {
        const scheme = getScheme(name);
        const config = name === "int4wo" ? { groupSize } : {};
        if (scheme.unsupported(w.shape, config)) continue;
        const q = untracked(() => scheme.quantize(w, config));
        try {
          if (!known) times.set(name, timeIt(() => untracked(() => linear(input, q, bias))));
          const y = untracked(() => linear(input, q, bias));
          results.push({ scheme: name, ms: times.get(name)!, sqnrDb: sqnrDb(reference, y) });
          y.dispose();
        } finally {
          q.dispose();
        }
      }
      reference.dispose();
      timings.set(key, times);
      const ok = results.filter((r) => r.sqnrDb >= minSqnr).sort((a, b) => a.ms - b.ms);
      const chosen = ok[0]?.scheme ?? "none";
      decisions.push({ path, weightShape: [...w.shape], inputShape: [...input.shape], chosen, candidates: results });
      if (chosen !== "none") plan.layers[path] = chosen === "int4wo" ? { scheme: chosen, groupSize } : { scheme: chosen };
    }
  } finally {
    for (const { input } of recorded.values()) input.dispose();
  }
  if (options.savePlan) writeFileSync(options.savePlan, JSON.stringify(plan, (_k, v) => (v === Infinity ? "Infinity" : v), 2) + "\n");
  return { plan, summary: quantize(model, plan), decisions };
}

function collect(x: unknown): Tensor[] {
  if (x && typeof x === "object" && "dispose" in x && "shape" in x) return [x as Tensor];
  if (Array.isArray(x)) return x.flatMap(collect);
  return [];
}

export type { Module };
