// An ONNX graph under construction: nodes, initializers (whose bytes are
// produced only when the model is encoded), inputs and outputs, with every
// value's static shape and type. It encodes through onnx-proto (protobufjs
// bindings generated from onnx.proto). The helpers here turn vramlab's
// strided views of a flat buffer (offset + strides + shape) into
// Reshape / Slice / Transpose / Expand chains.
import onnxProto from "onnx-proto";
import type { DType } from "../dtype.js";

const { onnx } = onnxProto;

/** TensorProto.DataType codes (onnx.proto; FLOAT8E4M3FN = 17 is newer than onnx-proto's enum, the wire format is the same int). */
export const OnnxDataType = {
  FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16, FLOAT8E4M3FN: 17, FLOAT8E5M2: 19,
} as const;

const DTYPE_TO_ONNX: Partial<Record<DType, number>> = {
  float32: OnnxDataType.FLOAT, float16: OnnxDataType.FLOAT16, bfloat16: OnnxDataType.BFLOAT16,
  float8_e4m3fn: OnnxDataType.FLOAT8E4M3FN, float8_e5m2: OnnxDataType.FLOAT8E5M2,
  int8: OnnxDataType.INT8, uint8: OnnxDataType.UINT8, int32: OnnxDataType.INT32,
};

/** The ONNX element type of a vramlab dtype; packed sub-byte dtypes (int4, fp6, ...) have none. */
export function onnxDataType(d: DType): number {
  const t = DTYPE_TO_ONNX[d];
  if (t === undefined) throw new TypeError(`ONNX export: dtype ${d} has no ONNX tensor type (packed formats are exported through their quantized ops or dequantized)`);
  return t;
}

/** Element byte size of an ONNX type this exporter writes. */
function onnxElementBytes(t: number): number {
  switch (t) {
    case OnnxDataType.DOUBLE: case OnnxDataType.INT64: return 8;
    case OnnxDataType.FLOAT: case OnnxDataType.INT32: return 4;
    case OnnxDataType.FLOAT16: case OnnxDataType.BFLOAT16: return 2;
    default: return 1;
  }
}

export type Attribute =
  | { kind: "int"; value: number }
  | { kind: "float"; value: number }
  | { kind: "ints"; value: readonly number[] }
  | { kind: "string"; value: string };

export const attr = {
  int: (value: number): Attribute => ({ kind: "int", value }),
  float: (value: number): Attribute => ({ kind: "float", value }),
  ints: (value: readonly number[]): Attribute => ({ kind: "ints", value }),
  string: (value: string): Attribute => ({ kind: "string", value }),
};

export interface GraphNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, Attribute>;
}

export interface GraphInitializer {
  name: string;
  dataType: number;
  dims: number[];
  /** produces the raw little-endian bytes when the model is encoded */
  data: () => Uint8Array;
  docString?: string;
}

export interface GraphValue {
  name: string;
  dataType: number;
  dims: number[];
}

export interface EncodeOptions {
  opset: number;
  producerVersion: string;
  graphName: string;
  docString?: string;
}

export const MICROSOFT_DOMAIN = "com.microsoft";

/** protobuf messages, and so ONNX models without external data, stop at 2 GiB */
const PROTOBUF_LIMIT = 2 ** 31 - 2 ** 20;

const numelOf = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const sameDims = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export class OnnxGraph {
  readonly nodes: GraphNode[] = [];
  readonly initializers = new Map<string, GraphInitializer>();
  readonly inputs: GraphValue[] = [];
  readonly outputs: GraphValue[] = [];
  /** static shape and element type of every value (inputs, initializers, node outputs) */
  private readonly values = new Map<string, { dataType: number; dims: number[] }>();
  private readonly used = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;
  /** prefix of node names (the module path of the op being traced) */
  scope = "";

  constructor(readonly opset: number) {}

  /** A name no value or node uses yet, close to `hint`. */
  uniqueName(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  dims(name: string): number[] {
    const v = this.values.get(name);
    if (!v) throw new Error(`ONNX export: internal error, value ${name} has no recorded shape`);
    return v.dims;
  }
  dataType(name: string): number {
    const v = this.values.get(name);
    if (!v) throw new Error(`ONNX export: internal error, value ${name} has no recorded type`);
    return v.dataType;
  }

  addInput(hint: string, dataType: number, dims: readonly number[]): string {
    const name = this.uniqueName(hint);
    this.values.set(name, { dataType, dims: [...dims] });
    this.inputs.push({ name, dataType, dims: [...dims] });
    return name;
  }

  addInitializer(hint: string, dataType: number, dims: readonly number[], data: () => Uint8Array, docString?: string): string {
    const name = this.uniqueName(hint);
    this.values.set(name, { dataType, dims: [...dims] });
    this.initializers.set(name, { name, dataType, dims: [...dims], data, docString });
    return name;
  }

  /** A graph output carrying `value` under `hint` (an Identity, so outputs always have their own name). */
  addOutput(hint: string, value: string): string {
    const [name] = this.node("Identity", [value], { outputNames: [hint] });
    this.outputs.push({ name: name!, dataType: this.dataType(value), dims: this.dims(value) });
    return name!;
  }

  /**
   * Appends a node; outputs get fresh names unless given. Each output's shape and type come from
   * `shapes` / `types` (default: the first input's type; shapes are required for every op).
   */
  node(
    opType: string,
    inputs: readonly string[],
    options: { attributes?: Record<string, Attribute>; domain?: string; outputNames?: string[]; shapes?: number[][]; types?: number[] } = {},
  ): string[] {
    const count = options.outputNames?.length ?? options.shapes?.length ?? 1;
    const n = this.counter++;
    const outputs = Array.from({ length: count }, (_, i) => this.uniqueName(options.outputNames?.[i] ?? `${opType.toLowerCase()}_${n}${count > 1 ? `_${i}` : ""}`));
    const shapes = options.shapes ?? (opType === "Identity" ? [this.dims(inputs[0]!)] : undefined);
    if (!shapes || shapes.length !== count) throw new Error(`ONNX export: internal error, node ${opType} needs the shape of each output`);
    outputs.forEach((o, i) => this.values.set(o, { dataType: options.types?.[i] ?? this.dataType(inputs.find((x) => x !== "")!), dims: shapes[i]! }));
    this.nodes.push({
      name: this.uniqueName(`${this.scope ? this.scope + "/" : ""}${opType}_${n}`),
      opType, domain: options.domain ?? "", inputs: [...inputs], outputs, attributes: options.attributes ?? {},
    });
    return outputs;
  }

  /** One-output node. */
  op(opType: string, inputs: readonly string[], dims: readonly number[], options: { attributes?: Record<string, Attribute>; domain?: string; type?: number } = {}): string {
    return this.node(opType, inputs, { ...options, shapes: [[...dims]], types: options.type === undefined ? undefined : [options.type] })[0]!;
  }

  /** Elementwise binary op with numpy broadcasting; the result shape is the broadcast shape. */
  binary(opType: "Add" | "Sub" | "Mul" | "Div" | "Max" | "Pow", a: string, b: string): string {
    return this.op(opType, [a, b], broadcastDims(this.dims(a), this.dims(b)));
  }
  unary(opType: string, x: string, attributes?: Record<string, Attribute>): string {
    return this.op(opType, [x], this.dims(x), { attributes });
  }

  // ---- constants --------------------------------------------------------------

  /** A cached int64 1-D constant (shapes, axes, slice bounds). */
  int64s(values: readonly number[]): string {
    const key = `i64:${values.join(",")}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const bytes = new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer);
    const name = this.addInitializer("const_i64", OnnxDataType.INT64, [values.length], () => bytes);
    this.constCache.set(key, name);
    return name;
  }

  /** A cached scalar constant of an ONNX float or integer type. */
  scalar(value: number, dataType: number): string {
    const key = `s:${dataType}:${Object.is(value, -0) ? "-0" : value}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const bytes = scalarBytes(value, dataType);
    const name = this.addInitializer("const", dataType, [], () => bytes);
    this.constCache.set(key, name);
    return name;
  }

  // ---- shape helpers ---------------------------------------------------------------

  reshape(x: string, dims: readonly number[]): string {
    const from = this.dims(x);
    if (sameDims(from, dims)) return x;
    if (numelOf(from) !== numelOf(dims)) throw new Error(`ONNX export: internal error, reshape [${from}] -> [${dims}]`);
    return this.op("Reshape", [x, this.int64s(dims)], dims);
  }

  transpose(x: string, perm: readonly number[]): string {
    if (perm.every((p, i) => p === i)) return x;
    const d = this.dims(x);
    return this.op("Transpose", [x], perm.map((p) => d[p]!), { attributes: { perm: attr.ints(perm) } });
  }

  cast(x: string, to: number, saturate?: boolean): string {
    if (this.dataType(x) === to) return x;
    const attributes: Record<string, Attribute> = { to: attr.int(to) };
    if (saturate !== undefined && (to === OnnxDataType.FLOAT8E4M3FN || to === OnnxDataType.FLOAT8E5M2)) attributes["saturate"] = attr.int(saturate ? 1 : 0);
    return this.op("Cast", [x], this.dims(x), { attributes, type: to });
  }

  expand(x: string, dims: readonly number[]): string {
    if (sameDims(this.dims(x), dims)) return x;
    return this.op("Expand", [x, this.int64s(dims)], dims);
  }

  /** Reduction over the last axis with keepdims (axes as an input from opset 18, an attribute before). */
  reduceLast(opType: "ReduceMax" | "ReduceMean", x: string): string {
    const d = this.dims(x);
    const out = [...d.slice(0, -1), 1];
    if (this.opset >= 18) return this.op(opType, [x, this.int64s([-1])], out, { attributes: { keepdims: attr.int(1) } });
    return this.op(opType, [x], out, { attributes: { axes: attr.ints([-1]), keepdims: attr.int(1) } });
  }

  /**
   * The elements of flat buffer `x` (any shape, `numel` elements, row-major) at
   * offset + sum_i idx_i * strides[i] for idx in `shape`. Dimensions with stride 0
   * (broadcasts) come out as size 1, then are expanded when `expand` is set, so binary
   * ops can rely on ONNX broadcasting instead. Strides of the dimensions that move must
   * divide one another (views made by reshape, permute, slice, chunk and broadcast do).
   */
  stridedView(x: string, offset: number, strides: readonly number[], shape: readonly number[], expand: boolean): string {
    const numel = numelOf(this.dims(x));
    const contiguous = contiguousStrides(shape);
    if (offset === 0 && numelOf(shape) === numel && shape.every((d, i) => d === 1 || strides[i] === contiguous[i])) {
      return this.reshape(x, shape);
    }
    const ones = shape.map(() => 1);
    const moving = shape.map((_, i) => i).filter((i) => shape[i]! > 1 && strides[i] !== 0);
    if (moving.length === 0) {
      // one element, broadcast
      if (offset < 0 || offset >= numel) throw new RangeError(`ONNX export: strided view at offset ${offset} is outside its ${numel}-element buffer`);
      const flat = this.reshape(x, [numel]);
      const one = numel === 1 ? flat : this.op("Slice", [flat, this.int64s([offset]), this.int64s([offset + 1]), this.int64s([0])], [1]);
      const v = this.reshape(one, ones);
      return expand ? this.expand(v, shape) : v;
    }
    const order = [...moving].sort((a, b) => strides[b]! - strides[a]!);
    const sorted = order.map((i) => strides[i]!);
    for (let j = 0; j < sorted.length; j++) {
      if (sorted[j]! <= 0 || (j > 0 && (sorted[j]! >= sorted[j - 1]! || sorted[j - 1]! % sorted[j]! !== 0))) {
        throw new TypeError(`ONNX export: a strided view (strides [${strides}], shape [${shape}]) is not a reshape/slice/permute/broadcast of its buffer`);
      }
    }
    // Split the flat buffer into axes whose strides are the moving strides (plus a
    // trailing axis when the smallest stride is not 1), then slice each axis.
    if (numel % sorted[0]! !== 0) throw new TypeError(`ONNX export: a strided view of a ${numel}-element buffer with stride ${sorted[0]} crosses its end`);
    const base: number[] = [numel / sorted[0]!];
    for (let j = 1; j < sorted.length; j++) base.push(sorted[j - 1]! / sorted[j]!);
    const last = sorted[sorted.length - 1]!;
    if (last > 1) base.push(last);
    const sizes = base.map((_, a) => (a < sorted.length ? shape[order[a]!]! : 1));
    const axisStrides = contiguousStrides(base);
    const starts: number[] = [];
    let rem = offset;
    for (let a = 0; a < base.length; a++) {
      starts.push(Math.floor(rem / axisStrides[a]!));
      rem %= axisStrides[a]!;
    }
    for (let a = 0; a < base.length; a++) {
      if (starts[a]! + sizes[a]! > base[a]!) throw new RangeError(`ONNX export: strided view (offset ${offset}, strides [${strides}], shape [${shape}]) reads past its ${numel}-element buffer`);
    }
    let v = this.reshape(x, base);
    const sliced = base.map((_, a) => a).filter((a) => starts[a] !== 0 || sizes[a] !== base[a]);
    if (sliced.length) {
      v = this.op("Slice", [v, this.int64s(sliced.map((a) => starts[a]!)), this.int64s(sliced.map((a) => starts[a]! + sizes[a]!)), this.int64s(sliced)], sizes);
    }
    // drop the trailing axis, then put the moving dims back in their original order
    v = this.reshape(v, sizes.slice(0, sorted.length));
    v = this.transpose(v, moving.map((dim) => order.indexOf(dim)));
    v = this.reshape(v, shape.map((d, i) => (moving.includes(i) ? d : 1)));
    return expand ? this.expand(v, shape) : v;
  }

  // ---- finishing -------------------------------------------------------------

  /** Drops nodes, initializers and inputs that no output depends on. */
  prune(): void {
    const needed = new Set(this.outputs.map((o) => o.name));
    const keep: GraphNode[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (!n.outputs.some((o) => needed.has(o))) continue;
      keep.push(n);
      for (const x of n.inputs) if (x) needed.add(x);
    }
    this.nodes.splice(0, this.nodes.length, ...keep.reverse());
    for (const name of [...this.initializers.keys()]) if (!needed.has(name)) this.initializers.delete(name);
    const inputs = this.inputs.filter((v) => needed.has(v.name));
    this.inputs.splice(0, this.inputs.length, ...inputs);
  }

  /** Bytes of all initializer data. */
  initializerBytes(): number {
    let n = 0;
    for (const t of this.initializers.values()) n += numelOf(t.dims) * onnxElementBytes(t.dataType);
    return n;
  }

  /** Domains used by the nodes. */
  domains(): Set<string> {
    return new Set(this.nodes.map((n) => n.domain));
  }

  /** Serialized ModelProto. */
  encode(options: EncodeOptions): Uint8Array {
    const weightBytes = this.initializerBytes();
    if (weightBytes >= PROTOBUF_LIMIT) {
      throw new RangeError(`ONNX export: the weights take ${(weightBytes / 2 ** 30).toFixed(2)} GiB, past protobuf's 2 GiB message limit (ONNX external data is not supported yet); quantize the model or export a subtree`);
    }
    const valueInfo = (v: GraphValue) => ({ name: v.name, type: { tensorType: { elemType: v.dataType, shape: { dim: v.dims.map((d) => ({ dimValue: d })) } } } });
    const encodeAttribute = (name: string, a: Attribute) => {
      const T = onnx.AttributeProto.AttributeType;
      switch (a.kind) {
        case "int": return { name, type: T.INT, i: a.value };
        case "float": return { name, type: T.FLOAT, f: a.value };
        case "ints": return { name, type: T.INTS, ints: [...a.value] };
        case "string": return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
      }
    };
    const opsetImport = [{ domain: "", version: options.opset }];
    if (this.domains().has(MICROSOFT_DOMAIN)) opsetImport.push({ domain: MICROSOFT_DOMAIN, version: 1 });
    const initializer = [...this.initializers.values()].map((t) => {
      const raw = t.data();
      const expected = numelOf(t.dims) * onnxElementBytes(t.dataType);
      if (raw.byteLength !== expected) throw new Error(`ONNX export: initializer ${t.name} has ${raw.byteLength} bytes, expected ${expected}`);
      return { name: t.name, dataType: t.dataType, dims: t.dims, rawData: raw, docString: t.docString };
    });
    const model = {
      // IR 10 goes with opset 21 (ONNX 1.16), IR 9 with opsets 19-20 (float8 types), IR 8 before
      irVersion: options.opset >= 21 ? 10 : options.opset >= 19 ? 9 : 8,
      producerName: "vramlab",
      producerVersion: options.producerVersion,
      docString: options.docString,
      opsetImport,
      graph: {
        name: options.graphName,
        node: this.nodes.map((n) => ({
          name: n.name, opType: n.opType, domain: n.domain, input: n.inputs, output: n.outputs,
          attribute: Object.entries(n.attributes).map(([k, a]) => encodeAttribute(k, a)),
        })),
        initializer,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
    };
    const bytes = onnx.ModelProto.encode(model).finish(); // a Buffer under Node: hand out a plain Uint8Array view
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

export function broadcastDims(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`ONNX export: internal error, shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

function scalarBytes(value: number, dataType: number): Uint8Array {
  switch (dataType) {
    case OnnxDataType.FLOAT: return new Uint8Array(Float32Array.of(value).buffer);
    case OnnxDataType.DOUBLE: return new Uint8Array(Float64Array.of(value).buffer);
    case OnnxDataType.INT32: return new Uint8Array(Int32Array.of(value).buffer);
    case OnnxDataType.INT64: return new Uint8Array(BigInt64Array.of(BigInt(value)).buffer);
    case OnnxDataType.INT8: return new Uint8Array(Int8Array.of(value).buffer);
    case OnnxDataType.UINT8: return Uint8Array.of(value);
    default: throw new TypeError(`ONNX export: no scalar constants of ONNX type ${dataType}`);
  }
}
