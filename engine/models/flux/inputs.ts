// Builds matching Flux inputs: packed latents, text states, pooled
// projection, timestep, guidance and the RoPE ids ((0, row, col) per image
// token, zeros per text token), as diffusers' FluxPipeline prepares them.
import { randn, tensor } from "../../ops/creation.js";
import type { DeviceSpec } from "../../device.js";
import type { DType } from "../../dtype.js";
import type { FluxInputs, FluxTransformer2DModel } from "./transformer.js";

export interface FluxInputOptions {
  batch?: number;
  /** image size in pixels (the VAE downsamples 8x and the pipeline packs 2x2 latents: one token per 16x16 pixels) */
  height?: number;
  width?: number;
  /** or the token grid directly [rows, cols] */
  grid?: [number, number];
  textLength?: number;
  seed?: number;
  device?: DeviceSpec;
  dtype?: DType;
  timestep?: number;
  guidance?: number;
}

export function fluxInputs(model: FluxTransformer2DModel, options: FluxInputOptions = {}): FluxInputs {
  const c = model.config;
  const batch = options.batch ?? 1;
  let rows: number;
  let cols: number;
  if (options.grid) [rows, cols] = options.grid;
  else {
    const h = options.height ?? 256;
    const w = options.width ?? 256;
    if (h % 16 || w % 16) throw new TypeError(`fluxInputs: height and width must be multiples of 16 pixels, got ${h}x${w}`);
    rows = h / 16;
    cols = w / 16;
  }
  const textLength = options.textLength ?? 16;
  const device = options.device ?? safeDevice(model);
  const dtype = options.dtype ?? safeDtype(model);
  const seed = options.seed ?? 0;
  const tokens = rows * cols;
  const imgIds = new Float32Array(tokens * 3);
  for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) {
    imgIds[(r * cols + q) * 3 + 1] = r;
    imgIds[(r * cols + q) * 3 + 2] = q;
  }
  return {
    hiddenStates: randn([batch, tokens, c.inChannels], { seed: seed + 1, dtype, device, owner: "input.hidden_states" }),
    encoderHiddenStates: randn([batch, textLength, c.jointAttentionDim], { seed: seed + 2, dtype, device, owner: "input.encoder_hidden_states" }),
    pooledProjections: randn([batch, c.pooledProjectionDim], { seed: seed + 3, dtype, device, owner: "input.pooled_projections" }),
    timestep: tensor(new Float32Array(batch).fill(options.timestep ?? 0.5), { device, owner: "input.timestep" }),
    guidance: c.guidanceEmbeds ? tensor(new Float32Array(batch).fill(options.guidance ?? 3.5), { device, owner: "input.guidance" }) : null,
    imgIds: tensor(imgIds, { shape: [tokens, 3], device, owner: "input.img_ids" }),
    txtIds: tensor(new Float32Array(textLength * 3), { shape: [textLength, 3], device, owner: "input.txt_ids" }),
  };
}

function safeDevice(model: FluxTransformer2DModel) {
  return model.device;
}
function safeDtype(model: FluxTransformer2DModel): DType {
  const d = model.dtype;
  return d === "float16" || d === "bfloat16" ? d : "float32";
}

/** Frees every tensor of an inputs object. */
export function disposeInputs(inputs: FluxInputs): void {
  for (const t of Object.values(inputs)) if (t && typeof t === "object" && "dispose" in t) t.dispose();
}
