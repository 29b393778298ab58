import { resolveFluxConfig, type FluxConfig, type FluxPreset } from "./config.js";
import { createFlux, type FluxCreateOptions, type FluxTransformer2DModel } from "./transformer.js";

export * from "./config.js";
export * from "./transformer.js";
export * from "./inputs.js";
export { FluxTransformerBlock, FluxSingleTransformerBlock, FeedForward } from "./blocks.js";
export { FluxAttention } from "./attention.js";

/** A Flux transformer from a preset name or config, with seeded random weights. */
export async function flux(presetOrConfig: FluxPreset | (Partial<FluxConfig> & { preset?: FluxPreset }) = "tiny", options: FluxCreateOptions = {}): Promise<FluxTransformer2DModel> {
  const model = createFlux(resolveFluxConfig(presetOrConfig), options);
  await new Promise<void>((r) => setImmediate(r));
  return model;
}
