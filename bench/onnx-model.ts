// Builds tiny ONNX models (one node) in memory for comparisons against
// onnxruntime-node. No protobuf library is installed, so this writes the
// few ModelProto fields it needs in the protobuf wire format directly
// (field numbers from onnx/onnx.proto).

type Field = Uint8Array;

function varint(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`protobuf varint out of range: ${n}`);
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}
function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
/** wire type 0 */
function intField(field: number, value: number): Field {
  return Uint8Array.from([...varint(field << 3), ...varint(value)]);
}
/** wire type 2: bytes, string or embedded message */
function bytesField(field: number, body: Uint8Array | string): Field {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(bytes.length)]), bytes]);
}
const message = (...fields: Field[]) => concat(fields);

/** ONNX TensorProto.DataType codes */
export const OnnxType = { float: 1, float16: 10, bfloat16: 16 } as const;

export interface OnnxValue { name: string; elemType: number; dims: readonly number[] }

function valueInfo(v: OnnxValue): Field {
  const shape = message(...v.dims.map((d) => bytesField(1, intField(1, d))));  // TensorShapeProto.dim{dim_value}
  const tensorType = message(intField(1, v.elemType), bytesField(2, shape));   // TypeProto.Tensor
  return message(bytesField(1, v.name), bytesField(2, bytesField(1, tensorType)));  // ValueInfoProto{name, type{tensor_type}}
}

export interface OnnxInitializer extends OnnxValue { data: ArrayBufferView }

function initializer(t: OnnxInitializer): Field {
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return message(...t.dims.map((d) => intField(1, d)), intField(2, t.elemType), bytesField(8, t.name), bytesField(9, raw));
}

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  /** integer attributes only (e.g. Gemm's transB) */
  intAttributes?: Record<string, number>;
}

function node(n: OnnxNode): Field {
  const attrs = Object.entries(n.intAttributes ?? {}).map(([name, i]) =>
    bytesField(5, message(bytesField(1, name), intField(3, i), intField(20, 2 /* AttributeType.INT */))));
  return message(...n.inputs.map((s) => bytesField(1, s)), ...n.outputs.map((s) => bytesField(2, s)),
    bytesField(3, n.opType.toLowerCase()), bytesField(4, n.opType), ...attrs);
}

/** A serialized ModelProto with one node (default opset 17, IR version 8). */
export function oneNodeModel(spec: {
  node: OnnxNode;
  inputs: readonly OnnxValue[];
  outputs: readonly OnnxValue[];
  initializers?: readonly OnnxInitializer[];
  opset?: number;
}): Uint8Array {
  const graph = message(
    bytesField(1, node(spec.node)),
    bytesField(2, "bench"),
    ...(spec.initializers ?? []).map((t) => bytesField(5, initializer(t))),
    ...spec.inputs.map((v) => bytesField(11, valueInfo(v))),
    ...spec.outputs.map((v) => bytesField(12, valueInfo(v))),
  );
  return message(
    intField(1, 8),  // ir_version
    bytesField(2, "vramlab-bench"),
    bytesField(7, graph),
    bytesField(8, message(bytesField(1, ""), intField(2, spec.opset ?? 17))),  // opset_import
  );
}
