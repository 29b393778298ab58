export { QTensor } from "./qtensor.js";
export { SCHEMES, SCHEME_NAMES, getScheme, type SchemeName, type SchemeConfig, type QuantScheme, type InnerSpec } from "./schemes.js";
export { quantize, quantizeTensor, DEFAULT_MIN_ELEMENTS, type QuantizeOptions, type QuantizeSummary, type QuantizedLayer, type QuantizationPlan } from "./quantize.js";
export { sqnrDb } from "./sqnr.js";
export { autoquant, type AutoquantOptions, type AutoquantResult, type AutoquantPlan, type LayerDecision, type CandidateResult } from "./autoquant.js";
export { QuantizedParameter, quantizedLinearForward, quantizedLinearBackward, type Usage, type Recipe } from "./quantized-parameter.js";
