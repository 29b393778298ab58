// Builds one-node ONNX models in memory for comparisons against
// onnxruntime-node (bench/cpu-gemm), encoded with onnx-proto (protobufjs
// bindings of onnx.proto), the library the exporter uses.
import onnxProto from "onnx-proto";
import { OnnxDataType } from "../engine/io/onnx-graph.js";

const { onnx } = onnxProto;

/** ONNX TensorProto.DataType codes */
export const OnnxType = { float: OnnxDataType.FLOAT, float16: OnnxDataType.FLOAT16, bfloat16: OnnxDataType.BFLOAT16 } as const;

export interface OnnxValue { name: string; elemType: number; dims: readonly number[] }

export interface OnnxInitializer extends OnnxValue { data: ArrayBufferView }

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** integer attributes only (e.g. Gemm's transB) */
  intAttributes?: Record<string, number>;
}

const valueInfo = (v: OnnxValue) => ({ name: v.name, type: { tensorType: { elemType: v.elemType, shape: { dim: v.dims.map((d) => ({ dimValue: d })) } } } });

/** A serialized ModelProto with one node (default opset 17, IR version 8). */
export function oneNodeModel(spec: {
  node: OnnxNode;
  inputs: readonly OnnxValue[];
  outputs: readonly OnnxValue[];
  initializers?: readonly OnnxInitializer[];
  opset?: number;
}): Uint8Array {
  const n = spec.node;
  return onnx.ModelProto.encode({
    irVersion: 8,
    producerName: "vramlab-bench",
    opsetImport: [{ domain: "", version: spec.opset ?? 17 }],
    graph: {
      name: "bench",
      node: [{
        opType: n.opType, name: n.opType.toLowerCase(), input: [...n.inputs], output: [...n.outputs],
        attribute: Object.entries(n.intAttributes ?? {}).map(([name, i]) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i })),
      }],
      initializer: (spec.initializers ?? []).map((t) => ({
        name: t.name, dataType: t.elemType, dims: [...t.dims], rawData: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  }).finish();
}
