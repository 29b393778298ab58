// Attention ops: scaled dot-product attention and rotary embeddings.
import type { AttentionLayout } from "../backend.js";
import { moduleLocation } from "../context.js";
import { Tensor, formatShape } from "../tensor.js";
import { requireCompute, sameDevice } from "./util.js";

export interface AttentionOptions {
  /** defaults to 1/sqrt(headDim) */
  scale?: number;
  /**
   * "BHLD" (default): q [B, H, Lq, D], k/v [B, H, Lk, D] as torch's SDPA takes them; "BLHD": q [B, Lq, H, D],
   * k/v [B, Lk, H, D] and out [B, Lq, H, D], i.e. Linear outputs viewed per head, with no transposes
   * (the same values bit for bit).
   */
  layout?: AttentionLayout;
}

function checkLayout(op: string, layout: AttentionLayout): void {
  if (layout !== "BHLD" && layout !== "BLHD") throw new TypeError(`${op}: layout must be "BHLD" or "BLHD", got ${JSON.stringify(layout)}`);
}

/** F.scaled_dot_product_attention(q, k, v) without mask or dropout; a number as the 4th argument is the scale. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions | number = {}): Tensor {
  const { scale, layout = "BHLD" } = typeof options === "number" ? { scale: options } : options;
  checkLayout("scaledDotProductAttention", layout);
  const dev = sameDevice("scaledDotProductAttention", q, k, v);
  requireCompute("scaledDotProductAttention", q, "query");
  const dims = layout === "BHLD" ? "[batch, heads, seq, headDim]" : "[batch, seq, heads, headDim]";
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) {
    throw new TypeError(`scaledDotProductAttention: q, k, v must be ${dims} (layout ${layout}), got ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)}${moduleLocation()}`);
  }
  const [seqDim, headDim] = layout === "BHLD" ? [2, 1] : [1, 2];
  const B = q.shape[0]!, H = q.shape[headDim]!, Lq = q.shape[seqDim]!, D = q.shape[3]!;
  const Lk = k.shape[seqDim]!;
  const ok = k.shape[0] === B && k.shape[headDim] === H && k.shape[3] === D && v.shape.every((d, i) => d === k.shape[i]);
  if (!ok) throw new TypeError(`scaledDotProductAttention: shapes ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)} do not match as ${dims} (layout ${layout})${moduleLocation()}`);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) throw new TypeError(`scaledDotProductAttention: q, k, v dtypes differ (${q.dtype}, ${k.dtype}, ${v.dtype})`);
  const out = Tensor.empty(q.shape, q.dtype, dev);
  dev.backend.sdpa(out, q, k, v, B, H, Lq, Lk, D, scale ?? 1 / Math.sqrt(D), layout);
  return out;
}

/**
 * diffusers' apply_rotary_emb (use_real, unbind_dim=-1): x [B, H, S, D] (layout "BHLD") or
 * [B, S, H, D] ("BLHD"), cos/sin float32 [S, D].
 */
export function applyRotaryEmbedding(x: Tensor, cos: Tensor, sin: Tensor, layout: AttentionLayout = "BHLD"): Tensor {
  checkLayout("applyRotaryEmbedding", layout);
  const dev = sameDevice("applyRotaryEmbedding", x, cos, sin);
  requireCompute("applyRotaryEmbedding", x);
  if (x.ndim !== 4) throw new TypeError(`applyRotaryEmbedding: x must be ${layout === "BHLD" ? "[batch, heads, seq, headDim]" : "[batch, seq, heads, headDim]"} (layout ${layout}), got ${formatShape(x.shape)}`);
  const [B, H, S] = layout === "BHLD" ? [x.shape[0]!, x.shape[1]!, x.shape[2]!] : [x.shape[0]!, x.shape[2]!, x.shape[1]!];
  const D = x.shape[3]!;
  for (const [n, t] of [["cos", cos], ["sin", sin]] as const) {
    if (t.ndim !== 2 || t.shape[0] !== S || t.shape[1] !== D || t.dtype !== "float32") {
      throw new TypeError(`applyRotaryEmbedding: ${n} must be float32 [${S}, ${D}], got ${t.dtype} ${formatShape(t.shape)}${moduleLocation()}`);
    }
  }
  const out = Tensor.empty(x.shape, x.dtype, dev);
  dev.backend.rope(out, x, cos, sin, B, H, S, D, layout);
  return out;
}
