// FluxTransformer2DModel with diffusers' layout and parameter names.
import { Model } from "../../module.js";
import { Tensor, formatShape } from "../../tensor.js";
import { tensor } from "../../ops/creation.js";
import { cat, slice } from "../../ops/layout.js";
import { Linear, ModuleList } from "../../nn/layers.js";
import type { ParamFactory } from "../../nn/init.js";
import { getDevice, type DeviceSpec } from "../../device.js";
import type { DType } from "../../dtype.js";
import { AdaLayerNormContinuous, CombinedTimestepTextProjEmbeddings, FluxPosEmbed, hostValues, scaleTimestep } from "./embeddings.js";
import { FluxSingleTransformerBlock, FluxTransformerBlock } from "./blocks.js";
import type { FluxConfig } from "./config.js";
import type { Rotary } from "./attention.js";

/** The transformer's inputs, diffusers' argument names camelCased. */
export interface FluxInputs {
  /** packed image latents [batch, imageTokens, inChannels] */
  hiddenStates: Tensor;
  /** text encoder (T5) states [batch, textTokens, jointAttentionDim] */
  encoderHiddenStates: Tensor;
  /** pooled CLIP embedding [batch, pooledProjectionDim] */
  pooledProjections: Tensor;
  /** [batch], in [0, 1]; the model multiplies by 1000 */
  timestep: Tensor;
  /** [imageTokens, 3] or [1, imageTokens, 3] */
  imgIds: Tensor;
  /** [textTokens, 3] or [1, textTokens, 3] */
  txtIds: Tensor;
  /** [batch] guidance scale, for guidance-distilled models (dev) */
  guidance?: Tensor | null;
}

export class FluxTransformer2DModel extends Model<FluxInputs, Tensor> {
  readonly innerDim: number;
  readonly outChannels: number;
  /** diffusers' _skip_layerwise_casting_patterns for Flux */
  readonly skipLayerwiseCastingPatterns = ["pos_embed", "norm"];

  constructor(readonly config: FluxConfig, f: ParamFactory) {
    super();
    const c = config;
    const dim = (this.innerDim = c.numAttentionHeads * c.attentionHeadDim);
    this.outChannels = c.outChannels ?? c.inChannels;
    this.registerModule("pos_embed", new FluxPosEmbed(c.axesDimsRope));
    this.registerModule("time_text_embed", new CombinedTimestepTextProjEmbeddings(dim, c.pooledProjectionDim, c.guidanceEmbeds, f, "time_text_embed"));
    this.registerModule("context_embedder", new Linear(c.jointAttentionDim, dim, true, f, "context_embedder"));
    this.registerModule("x_embedder", new Linear(c.inChannels, dim, true, f, "x_embedder"));
    const blocks = this.registerModule("transformer_blocks", new ModuleList<FluxTransformerBlock>());
    for (let i = 0; i < c.numLayers; i++) blocks.append(new FluxTransformerBlock(dim, c.numAttentionHeads, c.attentionHeadDim, f, `transformer_blocks.${i}`));
    const singles = this.registerModule("single_transformer_blocks", new ModuleList<FluxSingleTransformerBlock>());
    for (let i = 0; i < c.numSingleLayers; i++) singles.append(new FluxSingleTransformerBlock(dim, c.numAttentionHeads, c.attentionHeadDim, f, `single_transformer_blocks.${i}`));
    this.registerModule("norm_out", new AdaLayerNormContinuous(dim, f, "norm_out"));
    this.registerModule("proj_out", new Linear(dim, c.patchSize * c.patchSize * this.outChannels, true, f, "proj_out"));
  }

  get transformerBlocks(): ModuleList<FluxTransformerBlock> {
    return this.child("transformer_blocks") as ModuleList<FluxTransformerBlock>;
  }
  get singleTransformerBlocks(): ModuleList<FluxSingleTransformerBlock> {
    return this.child("single_transformer_blocks") as ModuleList<FluxSingleTransformerBlock>;
  }

  private checkInputs(x: FluxInputs): void {
    const c = this.config;
    const need = (name: keyof FluxInputs, t: Tensor | null | undefined, rank: number, last?: number) => {
      if (!(t instanceof Tensor)) throw new TypeError(`Flux forward: inputs.${name} must be a Tensor (see vl.models.fluxInputs)`);
      if (t.ndim !== rank || (last !== undefined && t.shape[rank - 1] !== last)) {
        throw new TypeError(`Flux forward: inputs.${name} has shape ${formatShape(t.shape)}; expected ${rank} dims${last !== undefined ? ` ending in ${last}` : ""}`);
      }
    };
    need("hiddenStates", x.hiddenStates, 3, c.inChannels);
    need("encoderHiddenStates", x.encoderHiddenStates, 3, c.jointAttentionDim);
    need("pooledProjections", x.pooledProjections, 2, c.pooledProjectionDim);
    need("timestep", x.timestep, 1);
    for (const k of ["imgIds", "txtIds"] as const) {
      const t = x[k];
      if (!(t instanceof Tensor) || (t.ndim !== 2 && t.ndim !== 3) || t.shape[t.ndim - 1] !== 3) {
        throw new TypeError(`Flux forward: inputs.${k} must be [tokens, 3] (or [1, tokens, 3])${t instanceof Tensor ? `, got ${formatShape(t.shape)}` : ""}`);
      }
    }
    const imgTokens = x.imgIds.shape[x.imgIds.ndim - 2];
    const txtTokens = x.txtIds.shape[x.txtIds.ndim - 2];
    if (imgTokens !== x.hiddenStates.shape[1]) throw new TypeError(`Flux forward: imgIds has ${imgTokens} tokens but hiddenStates has ${x.hiddenStates.shape[1]}`);
    if (txtTokens !== x.encoderHiddenStates.shape[1]) throw new TypeError(`Flux forward: txtIds has ${txtTokens} tokens but encoderHiddenStates has ${x.encoderHiddenStates.shape[1]}`);
    if (c.guidanceEmbeds && !x.guidance) throw new TypeError("Flux forward: this model embeds guidance (guidance_embeds=true); pass inputs.guidance");
  }

  /** The rotary tables for [text ids; image ids]. */
  rotary(inputs: FluxInputs): Rotary {
    const txt = hostValues(inputs.txtIds);
    const img = hostValues(inputs.imgIds);
    const ids = new Float32Array(txt.length + img.length);
    ids.set(txt, 0);
    ids.set(img, txt.length);
    const pe = this.child("pos_embed") as FluxPosEmbed;
    return pe.forward(ids, ids.length / 3, inputs.hiddenStates.device);
  }

  protected override async compute(inputs: FluxInputs): Promise<Tensor> {
    this.checkInputs(inputs);
    const dtype = inputs.hiddenStates.dtype;
    const device = inputs.hiddenStates.device;
    let hidden = (await this.child("x_embedder").call(inputs.hiddenStates)) as Tensor;
    const ts = tensor(scaleTimestep(hostValues(inputs.timestep), dtype), { device });
    const guidance = inputs.guidance ? tensor(scaleTimestep(hostValues(inputs.guidance), dtype), { device }) : null;
    const temb = (await this.child("time_text_embed").call(ts, guidance, inputs.pooledProjections)) as Tensor;
    ts.dispose();
    guidance?.dispose();
    let encoder = (await this.child("context_embedder").call(inputs.encoderHiddenStates)) as Tensor;
    const rotary = this.rotary(inputs);

    for (const block of this.transformerBlocks) {
      const [e, h] = (await block.call(hidden, encoder, temb, rotary)) as [Tensor, Tensor];
      hidden.dispose();
      encoder.dispose();
      hidden = h;
      encoder = e;
    }
    const textLen = encoder.shape[1]!;
    let joint = cat([encoder, hidden], 1);
    encoder.dispose();
    hidden.dispose();
    for (const block of this.singleTransformerBlocks) {
      const next = (await block.call(joint, temb, rotary)) as Tensor;
      joint.dispose();
      joint = next;
    }
    const image = slice(joint, 1, textLen, joint.shape[1]!);
    joint.dispose();
    const normed = (await this.child("norm_out").call(image, temb)) as Tensor;
    image.dispose();
    temb.dispose();
    rotary.cos.dispose();
    rotary.sin.dispose();
    const out = (await this.child("proj_out").call(normed)) as Tensor;
    normed.dispose();
    void dtype;
    return out;
  }
}

export interface FluxCreateOptions {
  device?: DeviceSpec;
  dtype?: DType;
  seed?: number;
  /** "random" (default): seeded weights; "empty": uninitialised, for loaders */
  init?: "random" | "empty";
}

export function createFlux(config: FluxConfig, options: FluxCreateOptions = {}): FluxTransformer2DModel {
  const f: ParamFactory = {
    device: getDevice(options.device ?? "cpu"),
    dtype: options.dtype ?? "float32",
    init: options.init ?? "random",
    seed: options.seed ?? 0,
    created: [],
  };
  try {
    return new FluxTransformer2DModel(config, f);
  } catch (e) {
    for (const t of f.created!) t.dispose(); // e.g. out of memory halfway: free what was made
    throw e;
  } finally {
    delete f.created;
  }
}
