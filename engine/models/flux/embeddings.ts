// Flux's embeddings and AdaLN norms, as in diffusers' embeddings.py and
// normalization.py: sinusoidal timesteps, the timestep/guidance/text
// projection, rotary position embedding, and the modulated layer norms.
import { Module } from "../../module.js";
import type { Tensor } from "../../tensor.js";
import { tensor } from "../../ops/creation.js";
import { toFloat32Array, cast } from "../../ops/transfer.js";
import { add, modulate } from "../../ops/math.js";
import { Linear, LayerNorm, SiLU } from "../../nn/layers.js";
import type { ParamFactory } from "../../nn/init.js";
import { roundTo } from "../../scalar-round.js";
import { torchExpF32 } from "../../torch-math.js";
import type { DType } from "../../dtype.js";
import type { Device } from "../../device.js";

/** Values of a small host-side input (timesteps, ids); zeros on meta, where there are none. */
export function hostValues(t: Tensor): Float32Array {
  return t.device.hasData ? toFloat32Array(t) : new Float32Array(t.numel);
}

/**
 * diffusers' Timesteps(num_channels=256, flip_sin_to_cos=True, downscale_freq_shift=0):
 * [cos(t*f), sin(t*f)] with f = exp(-ln(10000) * i / half), computed in float32 as PyTorch does
 * (its exp included: see torch-math.ts).
 */
export class Timesteps extends Module {
  constructor(readonly numChannels: number) {
    super();
  }
  override forward(timesteps: Tensor): Tensor {
    const t = hostValues(timesteps);
    const half = this.numChannels / 2;
    const out = new Float32Array(t.length * this.numChannels);
    const logMax = Math.fround(-Math.log(10000));
    for (let i = 0; i < half; i++) {
      const exponent = Math.fround(Math.fround(logMax * i) / half);
      const freq = torchExpF32(exponent);
      for (let b = 0; b < t.length; b++) {
        const arg = Math.fround(t[b]! * freq);
        out[b * this.numChannels + i] = Math.cos(arg);
        out[b * this.numChannels + half + i] = Math.sin(arg);
      }
    }
    return tensor(out, { shape: [t.length, this.numChannels], device: timesteps.device });
  }
}

/** linear_1 -> SiLU -> linear_2 (diffusers' TimestepEmbedding; PixArtAlphaTextProjection has the same shape with act_1). */
export class TwoLayerMLP extends Module {
  constructor(inDim: number, hidden: number, outDim: number, f: ParamFactory, name: string, actName: "act" | "act_1") {
    super();
    this.registerModule("linear_1", new Linear(inDim, hidden, true, f, `${name}.linear_1`));
    this.registerModule(actName, new SiLU());
    this.registerModule("linear_2", new Linear(hidden, outDim, true, f, `${name}.linear_2`));
    this.actName = actName;
  }
  private readonly actName: string;
  override async forward(x: Tensor): Promise<Tensor> {
    const h = (await this.child("linear_1").call(x)) as Tensor;
    const a = (await this.child(this.actName).call(h)) as Tensor;
    h.dispose();
    return (await this.child("linear_2").call(a)) as Tensor;
  }
}

/** CombinedTimestepGuidanceTextProjEmbeddings (guidance) or CombinedTimestepTextProjEmbeddings. */
export class CombinedTimestepTextProjEmbeddings extends Module {
  constructor(dim: number, pooledDim: number, readonly guidance: boolean, f: ParamFactory, name: string) {
    super();
    this.registerModule("time_proj", new Timesteps(256));
    this.registerModule("timestep_embedder", new TwoLayerMLP(256, dim, dim, f, `${name}.timestep_embedder`, "act"));
    if (guidance) this.registerModule("guidance_embedder", new TwoLayerMLP(256, dim, dim, f, `${name}.guidance_embedder`, "act"));
    this.registerModule("text_embedder", new TwoLayerMLP(pooledDim, dim, dim, f, `${name}.text_embedder`, "act_1"));
  }
  private async embed(embedder: string, t: Tensor, dtype: DType): Promise<Tensor> {
    const proj = (await this.child("time_proj").call(t)) as Tensor;
    const projCast = proj.dtype === dtype ? proj : cast(proj, dtype);
    if (projCast !== proj) proj.dispose();
    const e = (await this.child(embedder).call(projCast)) as Tensor;
    projCast.dispose();
    return e;
  }
  override async forward(timestep: Tensor, guidance: Tensor | null, pooled: Tensor): Promise<Tensor> {
    let cond = await this.embed("timestep_embedder", timestep, pooled.dtype);
    if (this.guidance) {
      if (!guidance) throw new TypeError("this Flux model embeds guidance (guidance_embeds=true): pass inputs.guidance, e.g. 3.5 per batch item");
      const g = await this.embed("guidance_embedder", guidance, pooled.dtype);
      const sum = add(cond, g);
      cond.dispose();
      g.dispose();
      cond = sum;
    }
    const text = (await this.child("text_embedder").call(pooled)) as Tensor;
    const out = add(cond, text);
    cond.dispose();
    text.dispose();
    return out;
  }
}

/** Rotary tables for Flux (FluxPosEmbed, theta 10000): cos and sin [S, headDim] in float32, from float64 angles. */
export class FluxPosEmbed extends Module {
  constructor(readonly axesDim: readonly number[], readonly theta = 10000) {
    super();
  }
  override forward(ids: Float32Array, seq: number, device: Device): { cos: Tensor; sin: Tensor } {
    const nAxes = this.axesDim.length;
    const D = this.axesDim.reduce((a, b) => a + b, 0);
    const cos = new Float32Array(seq * D);
    const sin = new Float32Array(seq * D);
    let col = 0;
    for (let axis = 0; axis < nAxes; axis++) {
      const dim = this.axesDim[axis]!;
      for (let j = 0; j < dim / 2; j++) {
        const freq = 1 / Math.pow(this.theta, (2 * j) / dim);
        for (let s = 0; s < seq; s++) {
          const angle = ids[s * nAxes + axis]! * freq;
          const c = Math.cos(angle);
          const sn = Math.sin(angle);
          // repeat_interleave(2): both elements of a rotated pair share an angle
          cos[s * D + col + 2 * j] = c;
          cos[s * D + col + 2 * j + 1] = c;
          sin[s * D + col + 2 * j] = sn;
          sin[s * D + col + 2 * j + 1] = sn;
        }
      }
      col += dim;
    }
    return {
      cos: tensor(cos, { shape: [seq, D], device, owner: "pos_embed.cos" }),
      sin: tensor(sin, { shape: [seq, D], device, owner: "pos_embed.sin" }),
    };
  }
}

/** Shared body of the AdaLN norms: emb = linear(silu(temb)); x = norm(x) * (1 + scale) + shift. */
abstract class AdaNorm extends Module {
  constructor(dim: number, readonly chunks: number, f: ParamFactory, name: string) {
    super();
    this.registerModule("silu", new SiLU());
    this.registerModule("linear", new Linear(dim, chunks * dim, true, f, `${name}.linear`));
    this.registerModule("norm", new LayerNorm(dim, 1e-6, false, f, `${name}.norm`));
  }
  protected async modulation(temb: Tensor): Promise<Tensor> {
    const s = (await this.child("silu").call(temb)) as Tensor;
    const emb = (await this.child("linear").call(s)) as Tensor;
    s.dispose();
    return emb;
  }
  protected async normModulate(x: Tensor, emb: Tensor, scaleChunk: number, shiftChunk: number): Promise<Tensor> {
    const n = (await this.child("norm").call(x)) as Tensor;
    const out = modulate(n, emb, this.chunks, scaleChunk, shiftChunk);
    n.dispose();
    return out;
  }
}

/** AdaLayerNormZero: chunks (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp); returns [x, emb]. */
export class AdaLayerNormZero extends AdaNorm {
  constructor(dim: number, f: ParamFactory, name: string) {
    super(dim, 6, f, name);
  }
  override async forward(x: Tensor, temb: Tensor): Promise<[Tensor, Tensor]> {
    const emb = await this.modulation(temb);
    return [await this.normModulate(x, emb, 1, 0), emb];
  }
}

/** AdaLayerNormZeroSingle: chunks (shift_msa, scale_msa, gate_msa); returns [x, emb]. */
export class AdaLayerNormZeroSingle extends AdaNorm {
  constructor(dim: number, f: ParamFactory, name: string) {
    super(dim, 3, f, name);
  }
  override async forward(x: Tensor, temb: Tensor): Promise<[Tensor, Tensor]> {
    const emb = await this.modulation(temb);
    return [await this.normModulate(x, emb, 1, 0), emb];
  }
}

/** AdaLayerNormContinuous (norm_out): chunks (scale, shift) — scale first. */
export class AdaLayerNormContinuous extends AdaNorm {
  constructor(dim: number, f: ParamFactory, name: string) {
    super(dim, 2, f, name);
  }
  override async forward(x: Tensor, temb: Tensor): Promise<Tensor> {
    const emb = await this.modulation(temb);
    const out = await this.normModulate(x, emb, 0, 1);
    emb.dispose();
    return out;
  }
}

/** timestep.to(dtype) * 1000 with PyTorch's rounding in that dtype. */
export function scaleTimestep(values: Float32Array, dtype: DType): Float32Array {
  return values.map((v) => roundTo(dtype, roundTo(dtype, v) * 1000));
}
