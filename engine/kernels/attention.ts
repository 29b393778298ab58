// Attention kernels (engine/native/src/attention.cpp): scaled dot-product
// attention and Flux's rotary embedding, on float32/float16/bfloat16.
import type { AttentionLayout } from "../backend.js";
import { dtypeCode, type DType } from "../dtype.js";
import { native, type NativeStorage } from "../native-binding.js";

declare module "../native-binding.js" {
  interface NativeBinding {
    sdpa(
      out: NativeStorage, outDtype: number, q: NativeStorage, k: NativeStorage, v: NativeStorage, qkvDtype: number,
      batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number, tokenMajor?: boolean,
    ): void;
    rope(
      out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number, cos: NativeStorage, sin: NativeStorage,
      batch: number, heads: number, seq: number, headDim: number, tokenMajor?: boolean,
    ): void;
  }
}

/**
 * F.scaled_dot_product_attention without mask or dropout:
 * out = softmax(q k^T * scale) v for q [batch, heads, lq, headDim],
 * k and v [batch, heads, lk, headDim], out [batch, heads, lq, headDim], all
 * contiguous ("BHLD"), or all [batch, L, heads, headDim] ("BLHD": bit for bit
 * the same values, without transposes around the call). Computed in float32 over tiles of 64 queries x at most 512 keys with an
 * online softmax, so scratch memory is fixed (per thread, for headDim 128:
 * 192 KiB with float32 inputs, 704 KiB with float16/bfloat16) whatever lq and lk are. `out` may be `q` itself, not k or v.
 */
export function sdpa(
  out: NativeStorage, outDtype: DType, q: NativeStorage, k: NativeStorage, v: NativeStorage, qkvDtype: DType,
  batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number, layout: AttentionLayout = "BHLD",
): void {
  native.sdpa(out, dtypeCode(outDtype), q, k, v, dtypeCode(qkvDtype), batch, heads, lq, lk, headDim, scale, layout === "BLHD");
}

/**
 * diffusers' apply_rotary_emb(use_real=True, use_real_unbind_dim=-1) as in
 * Flux: x [batch, heads, seq, headDim] (or [batch, seq, heads, headDim] with
 * layout "BLHD"), cos and sin float32 [seq, headDim]; out may be x;
 * out = x * cos + rotate(x) * sin with rotate(x)[2i] = -x[2i+1],
 * rotate(x)[2i+1] = x[2i], in float32 with each product and the sum rounded.
 */
export function rope(
  out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType, cos: NativeStorage, sin: NativeStorage,
  batch: number, heads: number, seq: number, headDim: number, layout: AttentionLayout = "BHLD",
): void {
  native.rope(out, dtypeCode(outDtype), x, dtypeCode(xDtype), cos, sin, batch, heads, seq, headDim, layout === "BLHD");
}
