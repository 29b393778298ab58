// diffusers' Attention with FluxAttnProcessor2_0: per-head RMS-normed q/k,
// joint attention over [text, image] tokens with rotary embeddings.
import { Module } from "../../module.js";
import type { Tensor } from "../../tensor.js";
import { Linear, RMSNorm, Dropout, ModuleList } from "../../nn/layers.js";
import type { ParamFactory } from "../../nn/init.js";
import { cat, slice } from "../../ops/layout.js";
import { applyRotaryEmbedding, scaledDotProductAttention } from "../../ops/attention.js";

export interface Rotary {
  cos: Tensor;
  sin: Tensor;
}

export class FluxAttention extends Module {
  constructor(
    readonly dim: number,
    readonly heads: number,
    readonly headDim: number,
    /** double-stream blocks also project the text tokens (added_kv_proj_dim) and output both streams */
    readonly joint: boolean,
    f: ParamFactory,
    name: string,
  ) {
    super();
    const inner = heads * headDim;
    for (const p of ["to_q", "to_k", "to_v"]) this.registerModule(p, new Linear(dim, inner, true, f, `${name}.${p}`));
    this.registerModule("norm_q", new RMSNorm(headDim, 1e-6, f, `${name}.norm_q`));
    this.registerModule("norm_k", new RMSNorm(headDim, 1e-6, f, `${name}.norm_k`));
    if (joint) {
      for (const p of ["add_q_proj", "add_k_proj", "add_v_proj"]) this.registerModule(p, new Linear(dim, inner, true, f, `${name}.${p}`));
      this.registerModule("norm_added_q", new RMSNorm(headDim, 1e-6, f, `${name}.norm_added_q`));
      this.registerModule("norm_added_k", new RMSNorm(headDim, 1e-6, f, `${name}.norm_added_k`));
      this.registerModule("to_out", new ModuleList([new Linear(inner, dim, true, f, `${name}.to_out.0`), new Dropout()]));
      this.registerModule("to_add_out", new Linear(inner, dim, true, f, `${name}.to_add_out`));
    }
  }

  /**
   * proj(x) viewed per head as [B, L, H, D] (no transpose: rotary embedding and attention take this
   * token-major layout), then optionally RMS-normed over D.
   */
  private async projectHeads(proj: string, norm: string | null, x: Tensor): Promise<Tensor> {
    const [B, L] = x.shape as [number, number];
    const p = (await this.child(proj).call(x)) as Tensor;
    const v = p.reshape([B, L, this.heads, this.headDim]);
    p.dispose();
    if (!norm) return v;
    const n = (await this.child(norm).call(v)) as Tensor;
    v.dispose();
    return n;
  }

  /** [text, image] along the token dimension (diffusers concatenates before rotary embedding). */
  private joined(text: Tensor | null, image: Tensor): Tensor {
    if (!text) return image;
    const c = cat([text, image], 1);
    text.dispose();
    image.dispose();
    return c;
  }

  override async forward(hidden: Tensor, encoder: Tensor | null, rotary: Rotary): Promise<Tensor | [Tensor, Tensor]> {
    const B = hidden.shape[0]!;
    const useText = this.joint && encoder !== null;
    let q = await this.projectHeads("to_q", "norm_q", hidden);
    let k = await this.projectHeads("to_k", "norm_k", hidden);
    let v = await this.projectHeads("to_v", null, hidden);
    if (useText) {
      q = this.joined(await this.projectHeads("add_q_proj", "norm_added_q", encoder!), q);
      k = this.joined(await this.projectHeads("add_k_proj", "norm_added_k", encoder!), k);
      v = this.joined(await this.projectHeads("add_v_proj", null, encoder!), v);
    }
    const qr = applyRotaryEmbedding(q, rotary.cos, rotary.sin, "BLHD");
    q.dispose();
    const kr = applyRotaryEmbedding(k, rotary.cos, rotary.sin, "BLHD");
    k.dispose();
    const o = scaledDotProductAttention(qr, kr, v, { layout: "BLHD" });
    qr.dispose();
    kr.dispose();
    v.dispose();
    const S = o.shape[1]!;
    const merged = o.reshape([B, S, this.heads * this.headDim]);
    o.dispose();
    if (!useText) return merged;
    const textLen = encoder!.shape[1]!;
    const textPart = slice(merged, 1, 0, textLen);
    const imagePart = slice(merged, 1, textLen, S);
    merged.dispose();
    const toOut = this.child("to_out") as ModuleList;
    const h1 = (await toOut.at(0).call(imagePart)) as Tensor;
    imagePart.dispose();
    const h2 = (await toOut.at(1).call(h1)) as Tensor;
    h1.dispose();
    const e = (await this.child("to_add_out").call(textPart)) as Tensor;
    textPart.dispose();
    return [h2, e];
  }
}
