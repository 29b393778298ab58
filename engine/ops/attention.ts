// Attention ops: scaled dot-product attention and rotary embeddings.
import { moduleLocation } from "../context.js";
import { Tensor, formatShape } from "../tensor.js";
import { requireCompute, sameDevice } from "./util.js";

/** F.scaled_dot_product_attention(q, k, v) for q [B, H, Lq, D], k/v [B, H, Lk, D]; scale defaults to 1/sqrt(D). */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, scale?: number): Tensor {
  const dev = sameDevice("scaledDotProductAttention", q, k, v);
  requireCompute("scaledDotProductAttention", q, "query");
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) {
    throw new TypeError(`scaledDotProductAttention: q, k, v must be [batch, heads, seq, headDim], got ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)}${moduleLocation()}`);
  }
  const [B, H, Lq, D] = q.shape as [number, number, number, number];
  const Lk = k.shape[2]!;
  const ok = k.shape[0] === B && k.shape[1] === H && k.shape[3] === D && v.shape.every((d, i) => d === k.shape[i]);
  if (!ok) throw new TypeError(`scaledDotProductAttention: shapes ${formatShape(q.shape)}, ${formatShape(k.shape)}, ${formatShape(v.shape)} do not match${moduleLocation()}`);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) throw new TypeError(`scaledDotProductAttention: q, k, v dtypes differ (${q.dtype}, ${k.dtype}, ${v.dtype})`);
  const out = Tensor.empty([B, H, Lq, D], q.dtype, dev);
  dev.backend.sdpa(out, q, k, v, B, H, Lq, Lk, D, scale ?? 1 / Math.sqrt(D));
  return out;
}

/** diffusers' apply_rotary_emb (use_real, unbind_dim=-1): x [B, H, S, D], cos/sin float32 [S, D]. */
export function applyRotaryEmbedding(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const dev = sameDevice("applyRotaryEmbedding", x, cos, sin);
  requireCompute("applyRotaryEmbedding", x);
  if (x.ndim !== 4) throw new TypeError(`applyRotaryEmbedding: x must be [batch, heads, seq, headDim], got ${formatShape(x.shape)}`);
  const [B, H, S, D] = x.shape as [number, number, number, number];
  for (const [n, t] of [["cos", cos], ["sin", sin]] as const) {
    if (t.ndim !== 2 || t.shape[0] !== S || t.shape[1] !== D || t.dtype !== "float32") {
      throw new TypeError(`applyRotaryEmbedding: ${n} must be float32 [${S}, ${D}], got ${t.dtype} ${formatShape(t.shape)}${moduleLocation()}`);
    }
  }
  const out = Tensor.empty(x.shape, x.dtype, dev);
  dev.backend.rope(out, x, cos, sin, B, H, S, D);
  return out;
}
