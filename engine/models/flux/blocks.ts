// FluxTransformerBlock (double stream) and FluxSingleTransformerBlock, as in
// diffusers' transformer_flux.py. Intermediates are freed as soon as the
// next step no longer needs them, so memory peaks follow PyTorch's.
import { Module } from "../../module.js";
import type { Tensor } from "../../tensor.js";
import { GELU, Linear, LayerNorm, Dropout, ModuleList } from "../../nn/layers.js";
import type { ParamFactory } from "../../nn/init.js";
import { clamp, gatedResidual, modulate } from "../../ops/math.js";
import { cat } from "../../ops/layout.js";
import { AdaLayerNormZero, AdaLayerNormZeroSingle } from "./embeddings.js";
import { FluxAttention, type Rotary } from "./attention.js";

/** diffusers clips float16 block outputs to the finite range (inf would poison the next block). */
function clipFloat16(x: Tensor): Tensor {
  if (x.dtype !== "float16") return x;
  const c = clamp(x, -65504, 65504);
  x.dispose();
  return c;
}

/** diffusers' GELU module: proj then the activation (FeedForward's net.0). */
export class GELUProjection extends Module {
  constructor(dimIn: number, dimOut: number, f: ParamFactory, name: string) {
    super();
    this.registerModule("proj", new Linear(dimIn, dimOut, true, f, `${name}.proj`));
    this.registerModule("act", new GELU("tanh"));
  }
  override async forward(x: Tensor): Promise<Tensor> {
    const h = (await this.child("proj").call(x)) as Tensor;
    const a = (await this.child("act").call(h)) as Tensor;
    h.dispose();
    return a;
  }
}

/** FeedForward(dim, dim_out=dim, mult=4, activation_fn="gelu-tanh"): net = [GELU, Dropout, Linear]. */
export class FeedForward extends Module {
  constructor(dim: number, f: ParamFactory, name: string) {
    super();
    this.registerModule("net", new ModuleList<Module>([
      new GELUProjection(dim, dim * 4, f, `${name}.net.0`),
      new Dropout(),
      new Linear(dim * 4, dim, true, f, `${name}.net.2`),
    ]));
  }
  override async forward(x: Tensor): Promise<Tensor> {
    const net = this.child("net") as ModuleList;
    let h = x;
    for (let i = 0; i < net.length; i++) {
      const next = (await net.at(i).call(h)) as Tensor;
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
  }
}

export class FluxTransformerBlock extends Module {
  constructor(dim: number, heads: number, headDim: number, f: ParamFactory, name: string) {
    super();
    this.registerModule("norm1", new AdaLayerNormZero(dim, f, `${name}.norm1`));
    this.registerModule("norm1_context", new AdaLayerNormZero(dim, f, `${name}.norm1_context`));
    this.registerModule("attn", new FluxAttention(dim, heads, headDim, true, f, `${name}.attn`));
    this.registerModule("norm2", new LayerNorm(dim, 1e-6, false, f, `${name}.norm2`));
    this.registerModule("ff", new FeedForward(dim, f, `${name}.ff`));
    this.registerModule("norm2_context", new LayerNorm(dim, 1e-6, false, f, `${name}.norm2_context`));
    this.registerModule("ff_context", new FeedForward(dim, f, `${name}.ff_context`));
  }

  /** norm(x) * (1 + scale_mlp) + shift_mlp, then the feed-forward. */
  private async mlp(norm: string, ff: string, x: Tensor, emb: Tensor): Promise<Tensor> {
    const n = (await this.child(norm).call(x)) as Tensor;
    const m = modulate(n, emb, 6, 4, 3);
    n.dispose();
    const out = (await this.child(ff).call(m)) as Tensor;
    m.dispose();
    return out;
  }

  /** Returns [encoderHiddenStates, hiddenStates] like diffusers. */
  override async forward(hidden: Tensor, encoder: Tensor, temb: Tensor, rotary: Rotary): Promise<[Tensor, Tensor]> {
    const [normH, embH] = (await this.child("norm1").call(hidden, temb)) as [Tensor, Tensor];
    const [normE, embE] = (await this.child("norm1_context").call(encoder, temb)) as [Tensor, Tensor];
    const [attnOut, ctxAttnOut] = (await this.child("attn").call(normH, normE, rotary)) as [Tensor, Tensor];
    normH.dispose();
    normE.dispose();

    const h1 = gatedResidual(hidden, attnOut, embH, 6, 2);
    attnOut.dispose();
    const ffOut = await this.mlp("norm2", "ff", h1, embH);
    const h2 = gatedResidual(h1, ffOut, embH, 6, 5);
    h1.dispose();
    ffOut.dispose();
    embH.dispose();

    const e1 = gatedResidual(encoder, ctxAttnOut, embE, 6, 2);
    ctxAttnOut.dispose();
    const ctxFf = await this.mlp("norm2_context", "ff_context", e1, embE);
    const e2 = gatedResidual(e1, ctxFf, embE, 6, 5);
    e1.dispose();
    ctxFf.dispose();
    embE.dispose();
    return [clipFloat16(e2), h2];
  }
}

export class FluxSingleTransformerBlock extends Module {
  constructor(dim: number, heads: number, headDim: number, f: ParamFactory, name: string) {
    super();
    const mlpHidden = dim * 4;
    this.registerModule("norm", new AdaLayerNormZeroSingle(dim, f, `${name}.norm`));
    this.registerModule("proj_mlp", new Linear(dim, mlpHidden, true, f, `${name}.proj_mlp`));
    this.registerModule("act_mlp", new GELU("tanh"));
    this.registerModule("proj_out", new Linear(dim + mlpHidden, dim, true, f, `${name}.proj_out`));
    this.registerModule("attn", new FluxAttention(dim, heads, headDim, false, f, `${name}.attn`));
  }

  override async forward(hidden: Tensor, temb: Tensor, rotary: Rotary): Promise<Tensor> {
    const [normH, emb] = (await this.child("norm").call(hidden, temb)) as [Tensor, Tensor];
    const p = (await this.child("proj_mlp").call(normH)) as Tensor;
    const mlp = (await this.child("act_mlp").call(p)) as Tensor;
    p.dispose();
    const attn = (await this.child("attn").call(normH, null, rotary)) as Tensor;
    normH.dispose();
    const joined = cat([attn, mlp], 2);
    attn.dispose();
    mlp.dispose();
    const proj = (await this.child("proj_out").call(joined)) as Tensor;
    joined.dispose();
    const out = gatedResidual(hidden, proj, emb, 3, 2);
    proj.dispose();
    emb.dispose();
    return clipFloat16(out);
  }
}
