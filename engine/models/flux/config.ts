// FluxTransformer2DModel configuration (diffusers' names, camelCased) and presets.

export interface FluxConfig {
  patchSize: number;
  inChannels: number;
  outChannels?: number | null;
  numLayers: number;
  numSingleLayers: number;
  attentionHeadDim: number;
  numAttentionHeads: number;
  jointAttentionDim: number;
  pooledProjectionDim: number;
  guidanceEmbeds: boolean;
  axesDimsRope: [number, number, number];
}

export const fluxPresets = {
  /** the shape of shared/fixtures/flux-diffusers-a: for tests, a forward in milliseconds */
  tiny: {
    patchSize: 1, inChannels: 16, numLayers: 2, numSingleLayers: 2, attentionHeadDim: 16, numAttentionHeads: 4,
    jointAttentionDim: 32, pooledProjectionDim: 24, guidanceEmbeds: true, axesDimsRope: [4, 6, 6],
  },
  /** ~100M parameters, for CPU benchmarks and the demo */
  small: {
    patchSize: 1, inChannels: 64, numLayers: 2, numSingleLayers: 6, attentionHeadDim: 64, numAttentionHeads: 12,
    jointAttentionDim: 1024, pooledProjectionDim: 768, guidanceEmbeds: true, axesDimsRope: [8, 28, 28],
  },
  /** FLUX.1-dev: 19 double + 38 single blocks, 11,901,408,320 parameters */
  "flux-dev": {
    patchSize: 1, inChannels: 64, numLayers: 19, numSingleLayers: 38, attentionHeadDim: 128, numAttentionHeads: 24,
    jointAttentionDim: 4096, pooledProjectionDim: 768, guidanceEmbeds: true, axesDimsRope: [16, 56, 56],
  },
  /** FLUX.1-schnell: as dev without the guidance embedder */
  "flux-schnell": {
    patchSize: 1, inChannels: 64, numLayers: 19, numSingleLayers: 38, attentionHeadDim: 128, numAttentionHeads: 24,
    jointAttentionDim: 4096, pooledProjectionDim: 768, guidanceEmbeds: false, axesDimsRope: [16, 56, 56],
  },
} satisfies Record<string, FluxConfig>;

export type FluxPreset = keyof typeof fluxPresets;

const snake: Record<keyof FluxConfig, string> = {
  patchSize: "patch_size", inChannels: "in_channels", outChannels: "out_channels", numLayers: "num_layers",
  numSingleLayers: "num_single_layers", attentionHeadDim: "attention_head_dim", numAttentionHeads: "num_attention_heads",
  jointAttentionDim: "joint_attention_dim", pooledProjectionDim: "pooled_projection_dim", guidanceEmbeds: "guidance_embeds",
  axesDimsRope: "axes_dims_rope",
};

/** Reads diffusers' config.json (snake_case) into a FluxConfig, with diffusers' defaults for missing keys. */
export function fluxConfigFromDiffusers(json: Record<string, unknown>, source = "config.json"): FluxConfig {
  const defaults: FluxConfig = {
    patchSize: 1, inChannels: 64, outChannels: null, numLayers: 19, numSingleLayers: 38, attentionHeadDim: 128,
    numAttentionHeads: 24, jointAttentionDim: 4096, pooledProjectionDim: 768, guidanceEmbeds: false, axesDimsRope: [16, 56, 56],
  };
  const out = { ...defaults } as Record<string, unknown>;
  for (const [key, name] of Object.entries(snake)) if (name in json) out[key] = json[name];
  return validateFluxConfig(out as unknown as FluxConfig, source);
}

export function fluxConfigToDiffusers(c: FluxConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { _class_name: "FluxTransformer2DModel", _diffusers_version: "0.30.3" };
  for (const [key, name] of Object.entries(snake)) {
    const v = c[key as keyof FluxConfig];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export function validateFluxConfig(c: FluxConfig, source = "config"): FluxConfig {
  const posInt = (k: keyof FluxConfig) => {
    const v = c[k];
    if (!Number.isInteger(v) || (v as number) < (k === "numLayers" || k === "numSingleLayers" ? 0 : 1)) {
      throw new TypeError(`${source}: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  };
  for (const k of ["patchSize", "inChannels", "numLayers", "numSingleLayers", "attentionHeadDim", "numAttentionHeads", "jointAttentionDim", "pooledProjectionDim"] as const) posInt(k);
  if (!Array.isArray(c.axesDimsRope) || c.axesDimsRope.length !== 3 || c.axesDimsRope.some((d) => !Number.isInteger(d) || d <= 0 || d % 2)) {
    throw new TypeError(`${source}: axesDimsRope must be three positive even integers, got ${JSON.stringify(c.axesDimsRope)}`);
  }
  const ropeSum = c.axesDimsRope.reduce((a, b) => a + b, 0);
  if (ropeSum !== c.attentionHeadDim) {
    throw new TypeError(`${source}: axesDimsRope ${JSON.stringify(c.axesDimsRope)} sums to ${ropeSum}, but attentionHeadDim is ${c.attentionHeadDim}; they must be equal`);
  }
  if (c.patchSize !== 1) throw new TypeError(`${source}: patchSize ${c.patchSize} is not supported (Flux uses 1; the pipeline packs 2x2 latents into channels)`);
  return { ...c, guidanceEmbeds: Boolean(c.guidanceEmbeds), axesDimsRope: [...c.axesDimsRope] as [number, number, number] };
}

export function resolveFluxConfig(presetOrConfig: FluxPreset | Partial<FluxConfig> & { preset?: FluxPreset }): FluxConfig {
  if (typeof presetOrConfig === "string") {
    const p = (fluxPresets as Record<string, FluxConfig>)[presetOrConfig];
    if (!p) throw new TypeError(`unknown Flux preset "${presetOrConfig}"; presets: ${Object.keys(fluxPresets).join(", ")}`);
    return validateFluxConfig({ ...p, axesDimsRope: [...p.axesDimsRope] as [number, number, number] }, `preset ${presetOrConfig}`);
  }
  const base = presetOrConfig.preset ? resolveFluxConfig(presetOrConfig.preset) : resolveFluxConfig("tiny");
  const { preset: _p, ...rest } = presetOrConfig;
  return validateFluxConfig({ ...base, ...rest } as FluxConfig);
}
