// vl.exportOnnx(module, args): a model or any module subtree as an ONNX
// model with its weights, traced from one forward on the cpu (see
// onnx-trace.ts for how ops map). Quantized Linears export to the matching
// ONNX / onnxruntime ops:
//   int8dq            DynamicQuantizeLinear + MatMulInteger (or, with
//                     int8Activations "per-token", vramlab's own per-token
//                     symmetric int8 in standard ops + MatMulInteger)
//   int4wo            com.microsoft MatMulNBits (bits 4, float zero points)
//   int8wo, fp8wo     DequantizeLinear (axis 1, per-output-channel scale) + MatMul
//   fp8dq, fp8dqrow   Cast to FLOAT8E4M3FN (saturate) for activations, DequantizeLinear for weights
//   fp6/fp5/fp4       no ONNX type: weights dequantized to float32 at export
// Shapes are static (those of the traced arguments).
import { writeFileSync } from "node:fs";
import type { DType } from "../dtype.js";
import type { Module } from "../module.js";
import { traceModule, type Int8ActivationMode, type TracedInput } from "./onnx-trace.js";

export interface OnnxExportOptions {
  /** opset of the default ONNX domain; default 21 (>= 17 for LayerNormalization, >= 19 for float8, >= 20 for Gelu) */
  opset?: number;
  /**
   * How int8dq activations are quantized in the graph:
   * - "dynamic-quantize-linear" (default): ONNX DynamicQuantizeLinear, one asymmetric uint8 scale and zero
   *   point per tensor, the path onnxruntime's own dynamic quantization emits and fuses;
   * - "per-token": vramlab's arithmetic (symmetric int8, scale amax/127 per token) in standard ops, so
   *   onnxruntime computes the same integers as vramlab.
   */
  int8Activations?: Int8ActivationMode;
  /** MatMulNBits accuracy_level for int4wo (0 = float32 activations, as vramlab computes; 4 = int8 activations); default 0 */
  int4AccuracyLevel?: number;
  /** graph name stored in the model; default the module's class name */
  graphName?: string;
  /** also write the model to this file */
  path?: string;
}

/** A graph input or output. */
export interface OnnxValueInfo {
  name: string;
  dtype: DType;
  shape: number[];
}

/** A graph input and where its values come from. */
export interface OnnxInputInfo extends OnnxValueInfo {
  /**
   * "argument": a tensor passed to the forward (origin = its path in the arguments, e.g. "hiddenStates");
   * "host": a tensor the forward computed in JS and wrote (origin = its owner, e.g. "pos_embed.cos"): feed
   * it from onnxFeeds(), which runs the same host code.
   */
  source: "argument" | "host";
  origin: string;
}

/** Values for one input, in the arguments new ort.Tensor(type, data, dims) takes. */
export interface OnnxFeed {
  type: "float32" | "float16" | "int8" | "uint8" | "int32";
  data: Float32Array | Uint16Array | Int8Array | Uint8Array | Int32Array;
  dims: number[];
}

export interface OnnxExportSummary {
  nodes: number;
  /** node count per op type, most frequent first */
  opCounts: Record<string, number>;
  initializers: number;
  initializerBytes: number;
  /** weights stored dequantized (float32) because ONNX has no type for their format */
  dequantizedAtExport: string[];
  bytes: number;
}

export interface OnnxExport {
  /** the serialized ModelProto */
  model: Uint8Array;
  inputs: OnnxInputInfo[];
  outputs: OnnxValueInfo[];
  /** input values for the traced arguments, by input name */
  feeds: Record<string, OnnxFeed>;
  summary: OnnxExportSummary;
}

const DEFAULTS = { opset: 21, int8Activations: "dynamic-quantize-linear" as Int8ActivationMode, int4AccuracyLevel: 0 };

function resolved(options: OnnxExportOptions) {
  const opset = options.opset ?? DEFAULTS.opset;
  if (!Number.isInteger(opset) || opset < 17) throw new RangeError(`exportOnnx: opset must be an integer >= 17 (LayerNormalization), got ${opset}`);
  const int8Activations = options.int8Activations ?? DEFAULTS.int8Activations;
  if (int8Activations !== "dynamic-quantize-linear" && int8Activations !== "per-token") {
    throw new TypeError(`exportOnnx: int8Activations must be "dynamic-quantize-linear" or "per-token", got ${JSON.stringify(int8Activations)}`);
  }
  const int4AccuracyLevel = options.int4AccuracyLevel ?? DEFAULTS.int4AccuracyLevel;
  if (![0, 1, 2, 3, 4].includes(int4AccuracyLevel)) throw new RangeError(`exportOnnx: int4AccuracyLevel must be 0-4, got ${int4AccuracyLevel}`);
  return { opset, int8Activations, int4AccuracyLevel };
}

function feedOf(input: TracedInput): OnnxFeed {
  const b = input.bytes;
  const buf = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  const dims = [...input.shape];
  switch (input.dtype) {
    case "float32": return { type: "float32", data: new Float32Array(buf), dims };
    case "float16": return { type: "float16", data: new Uint16Array(buf), dims };
    case "int8": return { type: "int8", data: new Int8Array(buf), dims };
    case "uint8": return { type: "uint8", data: new Uint8Array(buf), dims };
    case "int32": return { type: "int32", data: new Int32Array(buf), dims };
    default: throw new TypeError(`ONNX export: no feed type for ${input.dtype} input ${input.name}`);
  }
}

function toArgs(args: unknown): unknown[] {
  return Array.isArray(args) ? args : [args];
}

/**
 * Exports `module` (a model or any submodule) to ONNX by tracing module.call(...args) on the cpu.
 * `args` are the forward's arguments: an array of positional arguments, or one value (e.g. a Flux
 * inputs object, whose tensor fields become inputs named by their keys). The graph has the traced
 * shapes. Weights and arguments must be on the cpu. Tensors the forward computes in JS (Flux's
 * timestep sinusoids and rotary tables) become extra inputs; `feeds` holds all input values for
 * these arguments and onnxFeeds() makes them for others.
 */
export async function exportOnnx(module: Module, args: unknown, options: OnnxExportOptions = {}): Promise<OnnxExport> {
  const opts = resolved(options);
  const { backend, outputs } = await traceModule(module, toArgs(args), opts);
  const g = backend.graph;
  const model = g.encode({ opset: opts.opset, producerVersion: "0.1.0", graphName: options.graphName ?? module.className, docString: `exported by vramlab from ${module.className}${module.path ? ` (${module.path})` : ""}` });
  if (options.path) writeFileSync(options.path, model);
  const opCounts: Record<string, number> = {};
  for (const n of g.nodes) opCounts[n.opType] = (opCounts[n.opType] ?? 0) + 1;
  const live = new Set(g.inputs.map((v) => v.name));
  const inputs = backend.inputs.filter((i) => live.has(i.name));
  return {
    model,
    inputs: inputs.map((i) => ({ name: i.name, dtype: i.dtype, shape: [...i.shape], source: i.source, origin: i.origin })),
    outputs: outputs.map((o) => ({ ...o })),
    feeds: Object.fromEntries(inputs.map((i) => [i.name, feedOf(i)])),
    summary: {
      nodes: g.nodes.length,
      opCounts: Object.fromEntries(Object.entries(opCounts).sort((a, b) => b[1] - a[1])),
      initializers: g.initializers.size,
      initializerBytes: g.initializerBytes(),
      dequantizedAtExport: [...backend.dequantizedAtExport],
      bytes: model.byteLength,
    },
  };
}

/**
 * Input values of an exported graph for new arguments (same shapes as the export's): runs the
 * forward's trace again, so host-computed inputs (rotary tables, timestep projections) come out
 * exactly as vramlab computes them. Pass the options the model was exported with.
 */
export async function onnxFeeds(module: Module, args: unknown, options: OnnxExportOptions = {}): Promise<Record<string, OnnxFeed>> {
  const { backend } = await traceModule(module, toArgs(args), resolved(options));
  const live = new Set(backend.graph.inputs.map((v) => v.name));
  return Object.fromEntries(backend.inputs.filter((i) => live.has(i.name)).map((i) => [i.name, feedOf(i)]));
}
