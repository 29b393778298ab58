// A trainable quantized weight with usages (TransformerEngine's model):
// "rowwise" is W quantized for the forward GEMM, "columnwise" is W^T
// quantized for the dgrad GEMM. Usages are only ever added; every view
// materialised is refreshed whenever the weight changes, so no GEMM can read
// a stale copy (TransformerEngine #2929); a recipe change that alters the
// layout re-quantizes from the master weight or fails with a clear error.
import type { Tensor } from "../tensor.js";
import { keep, untracked } from "../scope.js";
import { transpose } from "../ops/layout.js";
import { clone, copyInto } from "../ops/transfer.js";
import { linear, matmul } from "../ops/math.js";
import { getScheme, type SchemeName } from "./schemes.js";
import type { QTensor } from "./qtensor.js";

export type Usage = "rowwise" | "columnwise";

export interface Recipe {
  scheme: SchemeName;
  groupSize?: number;
}

function sameLayout(a: Recipe, b: Recipe): boolean {
  return a.scheme === b.scheme && (a.groupSize ?? null) === (b.groupSize ?? null);
}

export class QuantizedParameter {
  private views = new Map<Usage, { q: QTensor; version: number }>();
  private usageSet = new Set<Usage>();
  private versionCounter = 0;
  private recipeValue: Recipe;

  private constructor(
    /** the high-precision weight [out, in]; null when the weight was created quantized */
    private master: Tensor | null,
    recipe: Recipe,
    usages: Usage[],
    created?: QTensor,
  ) {
    this.recipeValue = { ...recipe };
    if (created) this.views.set("rowwise", { q: created, version: 0 });
    this.addUsages(...usages);
  }

  /** Keeps a master weight (the caller's tensor is copied) and quantizes views from it. */
  static fromMaster(weight: Tensor, recipe: Recipe, usages: Usage[] = ["rowwise"]): QuantizedParameter {
    return new QuantizedParameter(keep(untracked(() => clone(weight, "master weight"))), recipe, usages);
  }

  /** A weight created quantized: no master is kept; the rowwise payload is the weight. */
  static createQuantized(weight: Tensor, recipe: Recipe, usages: Usage[] = ["rowwise"]): QuantizedParameter {
    const q = untracked(() => getScheme(recipe.scheme).quantize(weight, { groupSize: recipe.groupSize }));
    return new QuantizedParameter(null, recipe, ["rowwise", ...usages], q);
  }

  get recipe(): Readonly<Recipe> {
    return this.recipeValue;
  }
  get usages(): Usage[] {
    return [...this.usageSet].sort();
  }
  get hasMaster(): boolean {
    return this.master !== null;
  }
  /** increases with every change of the weight's values */
  get version(): number {
    return this.versionCounter;
  }

  /** Adds usages (never removes: a weight reused across train and infer steps keeps what it had). */
  addUsages(...usages: Usage[]): void {
    for (const u of usages) {
      if (u !== "rowwise" && u !== "columnwise") throw new TypeError(`unknown usage "${String(u)}"; usages are rowwise and columnwise`);
      this.usageSet.add(u);
    }
    this.refresh();
  }

  /** The view for a usage, re-quantized first if the weight changed since it was made. */
  view(usage: Usage): QTensor {
    if (!this.usageSet.has(usage)) throw new Error(`this weight has no ${usage} usage; add it with addUsages("${usage}") before a GEMM needs it`);
    const v = this.views.get(usage);
    if (!v || v.version !== this.versionCounter) this.refresh();
    return this.views.get(usage)!.q;
  }

  /** The weight's current values in high precision (the master, or the rowwise payload dequantized). */
  values(): Tensor {
    if (this.master) return untracked(() => this.master!.reshape(this.master!.shape));
    return untracked(() => this.views.get("rowwise")!.q.dequantize());
  }

  /** Writes new weight values (e.g. an optimizer step) and re-quantizes every materialised view. */
  update(newValues: Tensor): void {
    if (this.master) {
      untracked(() => copyInto(this.master!, newValues));
    } else {
      const q = untracked(() => getScheme(this.recipeValue.scheme).quantize(newValues, { groupSize: this.recipeValue.groupSize }));
      this.views.get("rowwise")!.q.dispose();
      this.views.set("rowwise", { q, version: this.versionCounter + 1 });
    }
    this.versionCounter++;
    this.refresh();
  }

  /** Changes the recipe; a different layout re-quantizes from the master or fails without one. */
  setRecipe(recipe: Recipe): void {
    getScheme(recipe.scheme);
    if (sameLayout(recipe, this.recipeValue)) return;
    if (!this.master) {
      throw new Error(
        `cannot change the recipe from ${this.recipeValue.scheme} to ${recipe.scheme}: this weight was created quantized and has no ` +
          `high-precision master to re-quantize from (re-quantizing quantized values would compound the error). Create it with a master weight.`,
      );
    }
    this.recipeValue = { ...recipe };
    for (const v of this.views.values()) v.q.dispose();
    this.views.clear();
    this.refresh();
  }

  private quantizeView(usage: Usage, values: Tensor): QTensor {
    const scheme = getScheme(this.recipeValue.scheme);
    const config = { groupSize: this.recipeValue.groupSize };
    if (usage === "rowwise") return scheme.quantize(values, config);
    const t = transpose(values, 0, 1);
    try {
      return scheme.quantize(t, config);
    } finally {
      t.dispose();
    }
  }

  /** Makes every view of every usage current. */
  private refresh(): void {
    untracked(() => {
      for (const usage of ["rowwise", "columnwise"] as const) {
        if (!this.usageSet.has(usage)) continue;
        const v = this.views.get(usage);
        if (v && v.version === this.versionCounter) continue;
        if (!this.master && usage === "rowwise") continue; // the rowwise payload is the weight itself
        const source = this.values();
        try {
          const q = this.quantizeView(usage, source);
          v?.q.dispose();
          this.views.set(usage, { q, version: this.versionCounter });
        } finally {
          source.dispose();
        }
      }
    });
  }

  dispose(): void {
    for (const v of this.views.values()) v.q.dispose();
    this.views.clear();
    this.master?.dispose();
    this.master = null;
  }
}

/** Forward of a Linear on a quantized parameter: y = x @ W^T + b with the rowwise view. */
export function quantizedLinearForward(x: Tensor, weight: QuantizedParameter, bias: Tensor | null = null): Tensor {
  return linear(x, weight.view("rowwise"), bias);
}

/**
 * Backward of y = x @ W^T + b for x [M, K], W [N, K], dy [M, N]:
 * dgrad dx = dy @ W through the columnwise view (W^T quantized, [K, N]); wgrad dW = dy^T @ x
 * from the saved high-precision input; db = column sums of dy.
 */
export function quantizedLinearBackward(dy: Tensor, x: Tensor, weight: QuantizedParameter): { dx: Tensor; dW: Tensor } {
  const dx = linear(dy, weight.view("columnwise"));
  const dyT = transpose(dy, 0, 1);
  try {
    return { dx, dW: matmul(dyT, x) };
  } finally {
    dyT.dispose();
  }
}
