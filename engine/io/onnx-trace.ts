// Tracing a module's forward into an ONNX graph. The module runs for real on
// a private "onnx-trace" device whose backend delegates every kernel to the
// cpu backend (same storages, so values are real) and records the matching
// ONNX nodes. Because every op of every module ends in a backend call, any
// module subtree exports without per-module code, quantized Linears
// included (their backend calls name the quantized payload).
//
// What becomes what:
// - module weights -> initializers (a Linear weight stored transposed [in, out]
//   for MatMul; quantized payloads in the layout of the matching ONNX op);
// - tensor arguments read by the graph -> graph inputs;
// - tensors the forward fills from host-side JS (Flux's timestep sinusoids and
//   rotary tables, computed in float64/PyTorch-exact float32 on the host) ->
//   graph inputs too, named after their owner, with their traced values as feeds;
// - ops whose inputs are all weights are folded (run once, stored as constants).
// Host code that reads a computed value cannot be expressed and throws.
import type { AttentionLayout, Backend, BinaryOp, QuantMode, UnaryOp } from "../backend.js";
import { HostBackend } from "../backends/cpu.js";
import { currentContext } from "../context.js";
import { Device } from "../device.js";
import { byteSize, dtypeInfo, type DType } from "../dtype.js";
import { copyStrided } from "../kernels/layout.js";
import * as quantKernels from "../kernels/quant.js";
import { native, type NativeStorage } from "../native-binding.js";
import { readBytes, toFloat32Array } from "../ops/transfer.js";
import { keep } from "../scope.js";
import { Storage, Tensor } from "../tensor.js";
import type { Module } from "../module.js";
import { flattenWeight, leafName, mapWeight, type Weight } from "../weight.js";
import { MICROSOFT_DOMAIN, OnnxDataType, OnnxGraph, attr, contiguousStrides, onnxDataType, type Attribute } from "./onnx-graph.js";

export type Int8ActivationMode = "dynamic-quantize-linear" | "per-token";

export interface TraceOptions {
  opset: number;
  int8Activations: Int8ActivationMode;
  int4AccuracyLevel: number;
}

/** A value the graph reads from outside: a tensor argument or a host-computed tensor. */
export interface TracedInput {
  name: string;
  dtype: DType;
  shape: number[];
  source: "argument" | "host";
  /** the argument path (e.g. "hiddenStates") or the owner of the host-written tensor (e.g. "pos_embed.cos") */
  origin: string;
  bytes: Uint8Array;
}

interface Piece { offset: number; strides: number[]; shape: number[]; value: string }
interface WeightLeaf { name: string; tensor: Tensor }
interface HostValue { hint: string; origin: string; dtype: DType; shape: number[]; bytes: Uint8Array; source: "argument" | "host" }
interface ConstValue { dtype: DType; shape: number[]; bytes: Uint8Array }
/** an activation quantized in the forward: its float32 [rows, cols] value, for DynamicQuantizeLinear */
interface QuantRecord { x: string }

const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const FLOAT = OnnxDataType.FLOAT;
const FLOAT32_EPS = 1.1920928955078125e-7;

/**
 * A weight [rows, cols] transposed to [cols, rows] in `dtype` (float16/bfloat16 widen exactly to
 * float32), by the native strided-copy kernel: export transposes every Linear weight, and a JS loop
 * over a 1.5 GB model takes seconds.
 */
export function transposedBytes(t: Tensor, dtype: DType): Uint8Array {
  const [rows, cols] = t.shape as [number, number];
  const nbytes = byteSize(dtype, rows * cols);
  const out = new native.Storage(nbytes, false);
  try {
    copyStrided(out, dtype, 0, [rows, 1], t.native!, t.dtype, 0, [1, cols], [cols, rows]);
    return new Uint8Array(native.read(out, 0, nbytes));
  } finally {
    out.free();
  }
}

export class TraceBackend implements Backend {
  readonly hasData = true;
  readonly graph: OnnxGraph;
  private readonly cpu = new HostBackend();
  private readonly own = new Set<NativeStorage>();
  private readonly zeroed = new Set<NativeStorage>();
  private readonly values = new Map<NativeStorage, string>();
  /** storages whose current value some node computed (not a weight, input or constant) */
  private readonly computed = new Set<NativeStorage>();
  private readonly pieces = new Map<NativeStorage, Piece[]>();
  private readonly partialHostWrites = new Set<NativeStorage>();
  readonly weights = new Map<NativeStorage, WeightLeaf>();
  private readonly external = new Map<NativeStorage, HostValue>();
  private readonly consts = new Map<NativeStorage, ConstValue>();
  private readonly quantRecords = new Map<NativeStorage, QuantRecord>();
  private readonly initCache = new Map<string, string>();
  private readonly hintCount = new Map<string, number>();
  /** graph inputs in the order they were created */
  readonly inputs: TracedInput[] = [];
  /** weights that had no ONNX op for their format and were stored dequantized (float32) */
  readonly dequantizedAtExport: string[] = [];

  constructor(readonly options: TraceOptions) {
    this.graph = new OnnxGraph(options.opset);
  }

  // ---- registration ----------------------------------------------------------

  registerWeight(t: Tensor, name: string): void {
    if (!this.weights.has(t.native!)) this.weights.set(t.native!, { name, tensor: t });
  }
  registerArgument(t: Tensor, name: string): void {
    if (this.external.has(t.native!)) return;
    this.external.set(t.native!, { hint: name, origin: name, dtype: t.dtype, shape: [...t.shape], bytes: readBytes(t), source: "argument" });
  }

  // ---- values ------------------------------------------------------------------

  private nativeOf(t: Tensor): NativeStorage {
    const n = t.native;
    if (!n) throw new Error(`ONNX export: ${t} has no storage`);
    return n;
  }

  /** The graph value holding a tensor's storage (any shape with its element count). */
  private storageValue(t: Tensor): string {
    const n = this.nativeOf(t);
    const v = this.values.get(n);
    if (v !== undefined) return v;
    const pieces = this.pieces.get(n);
    if (pieces) return this.assemble(t, pieces);
    const w = this.weights.get(n);
    if (w) return this.cachedInitializer(`plain:${w.name}`, () => this.graph.addInitializer(w.name, onnxDataType(w.tensor.dtype), w.tensor.shape, () => readBytes(w.tensor)));
    const ext = this.external.get(n);
    if (ext) {
      const name = this.graph.addInput(ext.hint, onnxDataType(ext.dtype), ext.shape);
      this.inputs.push({ name, dtype: ext.dtype, shape: ext.shape, source: ext.source, origin: ext.origin, bytes: ext.bytes });
      this.values.set(n, name);
      return name;
    }
    const c = this.consts.get(n);
    if (c) {
      const name = this.graph.addInitializer(`${this.graph.scope || "const"}/folded`, onnxDataType(c.dtype), c.shape, () => c.bytes);
      this.values.set(n, name);
      return name;
    }
    if (this.zeroed.has(n)) {
      const zero = this.graph.expand(this.graph.reshape(this.graph.cast(this.graph.scalar(0, FLOAT), onnxDataType(t.dtype)), [1]), [t.numel]);
      this.values.set(n, zero);
      return zero;
    }
    if (this.partialHostWrites.has(n)) throw new TypeError(`ONNX export: ${t} was partly written from host memory; the export supports whole-tensor host writes only${this.where()}`);
    throw new Error(`ONNX export: the forward reads ${t}${t.owner ? ` (${t.owner})` : ""}, whose values the trace never saw being computed or written${this.where()}`);
  }

  /** A tensor's value with the tensor's own shape. */
  private value(t: Tensor): string {
    return this.graph.reshape(this.storageValue(t), t.shape);
  }

  /** A value with the given shape (for kernels that view inputs as [rows, cols]). */
  private valueAs(t: Tensor, shape: readonly number[]): string {
    return this.graph.reshape(this.storageValue(t), shape);
  }

  private view(t: Tensor, offset: number, strides: readonly number[], shape: readonly number[], expand: boolean): string {
    return this.graph.stridedView(this.storageValue(t), offset, strides, shape, expand);
  }

  private setValue(t: Tensor, value: string): void {
    const n = this.nativeOf(t);
    this.pieces.delete(n);
    this.computed.add(n);
    this.values.set(n, this.graph.reshape(value, t.shape));
  }

  /** Records that `value` (shaped `shape`) was written at offset/strides of t's storage. */
  private writeRegion(t: Tensor, offset: number, strides: readonly number[], shape: readonly number[], value: string): void {
    const n = this.nativeOf(t);
    const contiguous = contiguousStrides(shape);
    if (offset === 0 && numelOf(shape) === t.numel && shape.every((d, i) => d === 1 || strides[i] === contiguous[i])) {
      this.setValue(t, value);
      return;
    }
    if (this.values.has(n) || this.zeroed.has(n)) {
      throw new TypeError(`ONNX export: a kernel updates part of ${t} in place; the export supports filling a new tensor piece by piece (cat) only${this.where()}`);
    }
    const list = this.pieces.get(n) ?? [];
    list.push({ offset, strides: [...strides], shape: [...shape], value: this.graph.reshape(value, shape) });
    this.pieces.set(n, list);
  }

  /**
   * A tensor written in pieces (cat): every piece must be a slab of the same full shape
   * along one axis (its strides are the full shape's contiguous strides), together covering it.
   */
  private assemble(t: Tensor, list: Piece[]): string {
    const fail = (why: string) => new TypeError(`ONNX export: ${t} was written in ${list.length} pieces that ${why}${this.where()}`);
    const s = list[0]!.strides;
    if (s[s.length - 1] !== 1 || list.some((p) => p.strides.length !== s.length || p.strides.some((x, i) => x !== s[i]))) throw fail("are not slabs of one contiguous tensor");
    const full = s.map((x, i) => (i === 0 ? t.numel / x : s[i - 1]! / x));
    if (full.some((d) => !Number.isInteger(d))) throw fail("do not tile it");
    const axes = new Set<number>();
    for (const p of list) p.shape.forEach((d, i) => d !== full[i] && axes.add(i));
    if (axes.size > 1) throw fail("differ in more than one dimension");
    const axis = axes.size ? [...axes][0]! : 0;
    const placed = list.map((p) => ({ start: p.offset / s[axis]!, p })).sort((a, b) => a.start - b.start);
    let at = 0;
    for (const { start, p } of placed) {
      if (start !== at || (axis > 0 && p.offset >= s[axis - 1]!)) throw fail("leave gaps or overlap");
      at += p.shape[axis]!;
    }
    if (at !== full[axis]) throw fail(`cover ${at} of ${full[axis]} along dimension ${axis}`);
    const parts = placed.map(({ p }) => p.value);
    const v = parts.length === 1 ? parts[0]! : this.graph.op("Concat", parts, full, { attributes: { axis: attr.int(axis) } });
    this.setValue(t, v);
    return this.values.get(this.nativeOf(t))!;
  }

  private cachedInitializer(key: string, make: () => string): string {
    const hit = this.initCache.get(key);
    if (hit) return hit;
    const name = make();
    this.initCache.set(key, name);
    return name;
  }

  private isConst(t: Tensor | null): boolean {
    if (!t) return true;
    const n = this.nativeOf(t);
    return !this.computed.has(n) && !this.pieces.has(n) && (this.weights.has(n) || this.consts.has(n));
  }

  private weightOf(t: Tensor, what: string): WeightLeaf {
    const n = this.nativeOf(t);
    const w = this.computed.has(n) ? undefined : this.weights.get(n);
    if (!w) throw new TypeError(`ONNX export: ${what} must be a module weight (an initializer), but ${t}${t.owner ? ` (${t.owner})` : ""} is computed in the forward${this.where()}`);
    return w;
  }

  private where(): string {
    const p = currentContext().modulePath;
    return p ? ` (in module ${p})` : "";
  }

  /**
   * Runs an op: when every input is a weight or folded constant, only runs it and keeps the
   * outputs as constants; otherwise records its nodes (reading inputs first) and runs it.
   */
  private traced(inputs: (Tensor | null)[], outputs: Tensor[], emit: () => void, run: () => void): void {
    this.graph.scope = currentContext().modulePath ?? "";
    if (inputs.every((t) => this.isConst(t))) {
      run();
      for (const o of outputs) {
        const n = this.nativeOf(o);
        this.values.delete(n);
        this.computed.delete(n);
        this.pieces.delete(n);
        this.consts.set(n, { dtype: o.dtype, shape: [...o.shape], bytes: new Uint8Array(native.read(n, 0, o.nbytes)) });
      }
      return;
    }
    emit();
    run();
  }

  /** Names a forward result as a graph output; returns the output's name. */
  addOutput(name: string, t: Tensor): string {
    this.graph.scope = "";
    return this.graph.addOutput(name, this.value(t));
  }

  // ---- Backend: memory -------------------------------------------------------------

  allocate(nbytes: number, zero: boolean): NativeStorage {
    const s = new native.Storage(nbytes, zero);
    this.own.add(s);
    if (zero) this.zeroed.add(s);
    return s;
  }
  release(storage: NativeStorage | null): void {
    if (!storage) return;
    this.values.delete(storage);
    this.computed.delete(storage);
    this.pieces.delete(storage);
    if (this.own.delete(storage)) storage.free();
  }
  write(t: Tensor, byteOffset: number, bytes: Uint8Array): void {
    const n = this.nativeOf(t);
    if (byteOffset === 0 && bytes.byteLength === t.nbytes) {
      const owner = t.owner.replace(/:activation$/, "");
      const hint = owner && owner !== "activation" && owner !== "staging" ? owner : currentContext().modulePath || "host";
      const k = this.hintCount.get(hint) ?? 0;
      this.hintCount.set(hint, k + 1);
      this.values.delete(n);
      this.computed.delete(n);
      this.pieces.delete(n);
      this.external.set(n, { hint: k ? `${hint}_${k}` : hint, origin: owner || hint, dtype: t.dtype, shape: [...t.shape], bytes: bytes.slice(), source: "host" });
    } else {
      this.partialHostWrites.add(n);
    }
    this.cpu.write(t, byteOffset, bytes);
  }
  read(t: Tensor, byteOffset: number, nbytes: number): Uint8Array {
    const n = this.nativeOf(t);
    if (this.computed.has(n) || this.pieces.has(n)) {
      throw new TypeError(`ONNX export: the forward reads the computed values of ${t}${t.owner ? ` (${t.owner})` : ""} on the host; the exported graph cannot follow host code that depends on computed values${this.where()}`);
    }
    return this.cpu.read(t, byteOffset, nbytes);
  }

  // ---- Backend: layout and casts --------------------------------------------------------

  copyBytes(dst: Tensor, dstByteOffset: number, src: Tensor, srcByteOffset: number, nbytes: number): void {
    this.graph.scope = currentContext().modulePath ?? "";
    const eb = dtypeInfo(src.dtype).bits / 8;
    if (src.dtype !== dst.dtype || !Number.isInteger(eb) || dstByteOffset % eb || srcByteOffset % eb || nbytes % eb) {
      throw new TypeError(`ONNX export: a byte copy from ${src} to ${dst} is not a whole-element copy${this.where()}`);
    }
    const n = nbytes / eb;
    const v = srcByteOffset === 0 && n === src.numel ? this.value(src) : this.view(src, srcByteOffset / eb, [1], [n], false);
    this.writeRegion(dst, dstByteOffset / eb, [1], [n], v);
    this.cpu.copyBytes(dst, dstByteOffset, src, srcByteOffset, nbytes);
  }

  cast(dst: Tensor, dstOffset: number, src: Tensor, srcOffset: number, n: number, saturate: boolean): void {
    this.graph.scope = currentContext().modulePath ?? "";
    const v = srcOffset === 0 && n === src.numel ? this.value(src) : this.view(src, srcOffset, [1], [n], false);
    const c = this.graph.cast(v, onnxDataType(dst.dtype), saturate);
    this.writeRegion(dst, dstOffset, [1], [n], c);
    this.cpu.cast(dst, dstOffset, src, srcOffset, n, saturate);
  }

  copyStrided(dst: Tensor, dstOffset: number, dstStrides: number[], src: Tensor, srcOffset: number, srcStrides: number[], shape: number[]): void {
    this.graph.scope = currentContext().modulePath ?? "";
    const v = this.view(src, srcOffset, srcStrides, shape, true);
    this.writeRegion(dst, dstOffset, dstStrides, shape, v);
    this.cpu.copyStrided(dst, dstOffset, dstStrides, src, srcOffset, srcStrides, shape);
  }

  fill(dst: Tensor, offset: number, n: number, value: number): void {
    this.graph.scope = currentContext().modulePath ?? "";
    const g = this.graph;
    const c = g.expand(g.reshape(g.cast(g.scalar(value, FLOAT), onnxDataType(dst.dtype)), [1]), [n]);
    this.writeRegion(dst, offset, [1], [n], c);
    this.cpu.fill(dst, offset, n, value);
  }

  // ---- Backend: math -------------------------------------------------------------------

  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, N: number, K: number, transB: boolean): void {
    this.traced([a, b, bias], [out], () => {
      const g = this.graph;
      const type = onnxDataType(a.dtype);
      const av = a.shape[a.ndim - 1] === K ? this.value(a) : this.valueAs(a, [M, K]);
      let bv: string;
      if (transB && this.isConst(b) && this.weights.has(this.nativeOf(b))) {
        bv = this.transposedWeight(b, a.dtype);
      } else {
        bv = g.cast(this.valueAs(b, transB ? [N, K] : [K, N]), type);
        if (transB) bv = g.transpose(bv, [1, 0]);
      }
      let y = g.op("MatMul", [av, bv], [...g.dims(av).slice(0, -1), N]);
      if (bias) y = g.binary("Add", y, g.cast(this.value(bias), type));
      this.setValue(out, g.cast(y, onnxDataType(out.dtype)));
    }, () => this.cpu.matmul(out, a, b, bias, M, N, K, transB));
  }

  /** A Linear weight [N, K] as a [K, N] initializer in `dtype` (converted exactly when it is stored narrower). */
  private transposedWeight(b: Tensor, dtype: DType): string {
    const w = this.weightOf(b, "the weight");
    const [N, K] = w.tensor.shape as [number, number];
    return this.cachedInitializer(`T:${w.name}:${dtype}`, () =>
      this.graph.addInitializer(`${w.name}.T`, onnxDataType(dtype), [K, N], () => {
        if (w.tensor.dtype !== dtype && dtype !== "float32") throw new TypeError(`ONNX export: a ${w.tensor.dtype} weight used with ${dtype} activations`);
        return transposedBytes(w.tensor, dtype);
      }, `${w.name} transposed to [in, out] for MatMul`));
  }

  binary(op: BinaryOp, out: Tensor, a: Tensor, aOffset: number, aStrides: number[], b: Tensor, bOffset: number, bStrides: number[], shape: number[]): void {
    this.traced([a, b], [out], () => {
      const g = this.graph;
      const type = onnxDataType(out.dtype);
      const av = g.cast(this.view(a, aOffset, aStrides, shape, false), type);
      const bv = g.cast(this.view(b, bOffset, bStrides, shape, false), type);
      const opType = { add: "Add", sub: "Sub", mul: "Mul", div: "Div" }[op] as "Add" | "Sub" | "Mul" | "Div";
      this.setValue(out, g.expand(g.binary(opType, av, bv), shape));
    }, () => this.cpu.binary(op, out, a, aOffset, aStrides, b, bOffset, bStrides, shape));
  }

  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    this.traced([x], [out], () => {
      const g = this.graph;
      const xv = g.cast(this.value(x), onnxDataType(out.dtype));
      const c = (v: number) => g.scalar(v, g.dataType(xv));
      let y: string;
      switch (op) {
        case "gelu_tanh":
          if (this.options.opset >= 20) y = g.unary("Gelu", xv, { approximate: attr.string("tanh") });
          else {
            const inner = g.binary("Mul", g.binary("Add", xv, g.binary("Mul", g.binary("Pow", xv, c(3)), c(0.044715))), c(Math.sqrt(2 / Math.PI)));
            y = g.binary("Mul", g.binary("Mul", xv, c(0.5)), g.binary("Add", g.unary("Tanh", inner), c(1)));
          }
          break;
        case "gelu":
          y = this.options.opset >= 20 ? g.unary("Gelu", xv)
            : g.binary("Mul", g.binary("Mul", xv, c(0.5)), g.binary("Add", g.unary("Erf", g.binary("Div", xv, c(Math.SQRT2))), c(1)));
          break;
        case "silu": y = g.binary("Mul", xv, g.unary("Sigmoid", xv)); break;
        case "relu": y = g.unary("Relu", xv); break;
        case "neg": y = g.unary("Neg", xv); break;
        case "exp": y = g.unary("Exp", xv); break;
        case "sqrt": y = g.unary("Sqrt", xv); break;
        case "rsqrt": y = g.unary("Reciprocal", g.unary("Sqrt", xv)); break;
        case "sin": y = g.unary("Sin", xv); break;
        case "cos": y = g.unary("Cos", xv); break;
        default: throw new TypeError(`ONNX export: unary op ${String(op)} has no ONNX mapping`);
      }
      this.setValue(out, y);
    }, () => this.cpu.unary(op, out, x));
  }

  clamp(out: Tensor, x: Tensor, lo: number, hi: number): void {
    this.traced([x], [out], () => {
      const g = this.graph;
      const xv = g.cast(this.value(x), onnxDataType(out.dtype));
      const type = g.dataType(xv);
      const bound = (v: number) => g.cast(g.scalar(v, FLOAT), type);
      this.setValue(out, g.op("Clip", [xv, bound(lo), bound(hi)], g.dims(xv)));
    }, () => this.cpu.clamp(out, x, lo, hi));
  }

  scalarOp(op: BinaryOp, out: Tensor, x: Tensor, scalar: number, scalarFirst: boolean): void {
    this.traced([x], [out], () => {
      const g = this.graph;
      const xv = g.cast(this.value(x), onnxDataType(out.dtype));
      const s = g.scalar(scalar, g.dataType(xv));
      const opType = { add: "Add", sub: "Sub", mul: "Mul", div: "Div" }[op] as "Add" | "Sub" | "Mul" | "Div";
      this.setValue(out, scalarFirst ? g.binary(opType, s, xv) : g.binary(opType, xv, s));
    }, () => this.cpu.scalarOp(op, out, x, scalar, scalarFirst));
  }

  modulate(out: Tensor, x: Tensor, mod: Tensor, batch: number, tokens: number, dim: number, scaleOffset: number, shiftOffset: number, modStride: number): void {
    this.traced([x, mod], [out], () => {
      const g = this.graph;
      const type = onnxDataType(out.dtype);
      const xv = g.cast(this.valueAs(x, [batch, tokens, dim]), type);
      const scale = g.cast(this.view(mod, scaleOffset, [modStride, 0, 1], [batch, tokens, dim], false), type);
      const shift = g.cast(this.view(mod, shiftOffset, [modStride, 0, 1], [batch, tokens, dim], false), type);
      const y = g.binary("Add", g.binary("Mul", xv, g.binary("Add", scale, g.scalar(1, type))), shift);
      this.setValue(out, y);
    }, () => this.cpu.modulate(out, x, mod, batch, tokens, dim, scaleOffset, shiftOffset, modStride));
  }

  layerNorm(out: Tensor, x: Tensor, weight: Tensor | null, bias: Tensor | null, rows: number, cols: number, eps: number): void {
    this.traced([x, weight, bias], [out], () => {
      const g = this.graph;
      if (this.options.opset < 17) throw new TypeError("ONNX export: LayerNormalization needs opset 17 or newer");
      const type = onnxDataType(out.dtype);
      const xv = g.cast(x.shape[x.ndim - 1] === cols ? this.value(x) : this.valueAs(x, [rows, cols]), type);
      const scale = weight ? g.cast(this.value(weight), type) : g.expand(g.reshape(g.scalar(1, type), [1]), [cols]);
      const inputs = [xv, scale];
      if (bias) inputs.push(g.cast(this.value(bias), type));
      const y = g.op("LayerNormalization", inputs, g.dims(xv), { attributes: { axis: attr.int(-1), epsilon: attr.float(eps) } });
      this.setValue(out, y);
    }, () => this.cpu.layerNorm(out, x, weight, bias, rows, cols, eps));
  }

  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, rows: number, cols: number, eps: number): void {
    this.traced([x, weight], [out], () => {
      const g = this.graph;
      const type = onnxDataType(out.dtype);
      const xv = g.cast(x.shape[x.ndim - 1] === cols ? this.value(x) : this.valueAs(x, [rows, cols]), type);
      // x / sqrt(mean(x^2) + eps) * w: the pattern onnxruntime fuses into SimplifiedLayerNormalization
      const ms = g.reduceLast("ReduceMean", g.binary("Pow", xv, g.scalar(2, type)));
      let y = g.binary("Div", xv, g.unary("Sqrt", g.binary("Add", ms, g.scalar(eps, type))));
      if (weight) y = g.binary("Mul", y, g.cast(this.value(weight), type));
      this.setValue(out, y);
    }, () => this.cpu.rmsNorm(out, x, weight, rows, cols, eps));
  }

  softmax(out: Tensor, x: Tensor, rows: number, cols: number): void {
    this.traced([x], [out], () => {
      const g = this.graph;
      const xv = g.cast(x.shape[x.ndim - 1] === cols ? this.value(x) : this.valueAs(x, [rows, cols]), onnxDataType(out.dtype));
      this.setValue(out, g.unary("Softmax", xv, { axis: attr.int(-1) }));
    }, () => this.cpu.softmax(out, x, rows, cols));
  }

  sdpa(out: Tensor, q: Tensor, k: Tensor, v: Tensor, batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number, layout: AttentionLayout): void {
    this.traced([q, k, v], [out], () => {
      const g = this.graph;
      const type = onnxDataType(out.dtype);
      const tokenMajor = layout === "BLHD";
      // MatMul wants [B, H, L, D]; token-major operands are transposed in the graph
      const operand = (t: Tensor, len: number, perm: number[]): string => tokenMajor
        ? g.transpose(g.cast(this.valueAs(t, [batch, len, heads, headDim]), type), perm)
        : g.cast(this.valueAs(t, [batch, heads, len, headDim]), type);
      const qv = operand(q, lq, [0, 2, 1, 3]);
      const kt = tokenMajor ? operand(k, lk, [0, 2, 3, 1]) : g.transpose(operand(k, lk, []), [0, 1, 3, 2]);
      const vv = operand(v, lk, [0, 2, 1, 3]);
      const scores = g.binary("Mul", g.op("MatMul", [qv, kt], [batch, heads, lq, lk]), g.scalar(scale, type));
      const p = g.unary("Softmax", scores, { axis: attr.int(-1) });
      const o = g.op("MatMul", [p, vv], [batch, heads, lq, headDim]);
      this.setValue(out, tokenMajor ? g.transpose(o, [0, 2, 1, 3]) : o);
    }, () => this.cpu.sdpa(out, q, k, v, batch, heads, lq, lk, headDim, scale, layout));
  }

  rope(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor, batch: number, heads: number, seq: number, headDim: number, layout: AttentionLayout): void {
    this.traced([x, cos, sin], [out], () => {
      const g = this.graph;
      const type = onnxDataType(out.dtype);
      const dims = layout === "BLHD" ? [batch, seq, heads, headDim] : [batch, heads, seq, headDim];
      const pairs = [...dims.slice(0, 3), headDim / 2, 2];
      const xp = g.cast(this.valueAs(x, pairs), type);
      const half = [...dims.slice(0, 3), headDim / 2, 1];
      const [re, im] = g.node("Split", [xp, g.int64s([1, 1])], { attributes: { axis: attr.int(-1) }, shapes: [half, half] });
      // diffusers' apply_rotary_emb: x * cos + stack([-imag, real]) * sin
      const rotated = g.reshape(g.op("Concat", [g.unary("Neg", im!), re!], pairs, { attributes: { axis: attr.int(-1) } }), dims);
      const x4 = g.reshape(xp, dims);
      // cos/sin [seq, headDim] broadcast over heads (as [seq, 1, headDim] when token-major)
      const table = layout === "BLHD" ? [seq, 1, headDim] : [seq, headDim];
      const c = g.cast(this.valueAs(cos, table), type);
      const s = g.cast(this.valueAs(sin, table), type);
      this.setValue(out, g.binary("Add", g.binary("Mul", x4, c), g.binary("Mul", rotated, s)));
    }, () => this.cpu.rope(out, x, cos, sin, batch, heads, seq, headDim, layout));
  }

  // ---- Backend: quantization -------------------------------------------------------------

  quantize(src: Tensor, rows: number, cols: number, groupSize: number, qdata: Tensor, scale: Tensor, zero: Tensor | null, mode: QuantMode, qmin: number, qmax: number): void {
    const outs = zero ? [qdata, scale, zero] : [qdata, scale];
    this.traced([src], outs, () => {
      const g = this.graph;
      if (mode !== "symmetric" || zero) throw new TypeError(`ONNX export: only symmetric quantization of activations is exported (got ${mode})${this.where()}`);
      const x = g.cast(this.valueAs(src, [rows, cols]), FLOAT);
      const groups = g.reshape(x, [rows, cols / groupSize, groupSize]);
      const amax = g.reduceLast("ReduceMax", g.unary("Abs", groups));
      let q: string, s: string;
      if (qdata.dtype === "int8") {
        // scale = max(amax / ((qmax - qmin) / 2), eps); q = clamp(round(x / scale), qmin, qmax)
        s = g.binary("Max", g.binary("Div", amax, g.scalar((qmax - qmin) / 2, FLOAT)), g.scalar(FLOAT32_EPS, FLOAT));
        const r = g.unary("Round", g.binary("Div", groups, s));
        q = g.cast(g.op("Clip", [r, g.scalar(qmin, FLOAT), g.scalar(qmax, FLOAT)], g.dims(r)), OnnxDataType.INT8);
      } else if (qdata.dtype === "float8_e4m3fn") {
        if (this.options.opset < 19) throw new TypeError("ONNX export: float8 activations need opset 19 or newer");
        // scale = max(amax / 448, 1e-12); q = saturating round-to-nearest-even cast of x / scale
        s = g.binary("Max", g.binary("Div", amax, g.scalar(448, FLOAT)), g.scalar(1e-12, FLOAT));
        q = g.cast(g.binary("Div", groups, s), OnnxDataType.FLOAT8E4M3FN, true);
      } else {
        throw new TypeError(`ONNX export: activations quantized to ${qdata.dtype} have no ONNX type${this.where()}`);
      }
      this.setValue(qdata, q);
      this.setValue(scale, s);
      this.quantRecords.set(this.nativeOf(qdata), { x });
    }, () => this.cpu.quantize(src, rows, cols, groupSize, qdata, scale, zero, mode, qmin, qmax));
  }

  dequantize(qdata: Tensor, scale: Tensor, zero: Tensor | null, rows: number, cols: number, groupSize: number, scaleRowStride: number, out: Tensor): void {
    this.traced([qdata, scale, zero], [out], () => {
      throw new TypeError(`ONNX export: dequantizing a computed tensor in the forward is not supported; only module weights are${this.where()}`);
    }, () => this.cpu.dequantize(qdata, scale, zero, rows, cols, groupSize, scaleRowStride, out));
  }

  matmulQuantB(out: Tensor, a: Tensor, aRowScale: Tensor | null, qdata: Tensor, scale: Tensor, zero: Tensor | null, scaleRowStride: number, groupSize: number, bias: Tensor | null, M: number, N: number, K: number): void {
    this.traced([a, aRowScale, qdata, scale, zero, bias], [out], () => {
      const g = this.graph;
      const w = this.weightOf(qdata, "a quantized weight");
      this.weightOf(scale, "a quantization scale");
      const base = w.name.replace(/\.qdata$/, "");
      const av = g.cast(a.shape[a.ndim - 1] === K ? this.value(a) : this.valueAs(a, [M, K]), FLOAT);
      const rowDims = [...g.dims(av).slice(0, -1), N];
      const perRow = groupSize === K && (scaleRowStride === 1 || scaleRowStride === 0);
      let y: string;
      if (!zero && perRow && (qdata.dtype === "int8" || (qdata.dtype === "float8_e4m3fn" && this.options.opset >= 19))) {
        // weight-only: DequantizeLinear(W^T [K, N], per-output-channel scale, axis=1), then MatMul
        const wt = this.transposedPayload(w, qdata.dtype, N, K);
        const s = this.scaleInitializer(scale, base, scaleRowStride === 0 ? 1 : N);
        const attributes: Record<string, Attribute> = scaleRowStride === 0 ? {} : { axis: attr.int(1) };
        const dense = g.op("DequantizeLinear", [wt, s], [K, N], { attributes, type: FLOAT });
        y = g.op("MatMul", [av, dense], rowDims);
      } else if (zero && qdata.dtype === "int4" && scaleRowStride === K / groupSize && groupSize >= 16 && (groupSize & (groupSize - 1)) === 0) {
        y = this.matMulNBits(av, w, base, scale, zero, N, K, groupSize, rowDims);
      } else {
        y = g.op("MatMul", [av, this.dequantizedWeight(w, base, qdata, scale, zero, N, K, groupSize, scaleRowStride)], rowDims);
      }
      if (aRowScale) y = g.reshape(g.binary("Mul", g.reshape(y, [M, N]), this.valueAs(aRowScale, [M, 1])), rowDims);
      if (bias) y = g.binary("Add", y, g.cast(this.value(bias), FLOAT));
      this.setValue(out, g.cast(y, onnxDataType(out.dtype)));
    }, () => this.cpu.matmulQuantB(out, a, aRowScale, qdata, scale, zero, scaleRowStride, groupSize, bias, M, N, K));
  }

  int8Gemm(out: Tensor, xq: Tensor, xScale: Tensor, wq: Tensor, wScale: Tensor, wScaleStride: number, bias: Tensor | null, M: number, N: number, K: number): void {
    this.traced([xq, xScale, wq, wScale, bias], [out], () => {
      const g = this.graph;
      const w = this.weightOf(wq, "an int8 weight");
      this.weightOf(wScale, "an int8 weight scale");
      const base = w.name.replace(/\.qdata$/, "");
      const wt = this.transposedPayload(w, "int8", N, K);
      const ws = this.scaleInitializer(wScale, base, wScaleStride === 0 ? 1 : N);
      const rec = this.quantRecords.get(this.nativeOf(xq));
      let y: string;
      if (this.options.int8Activations === "dynamic-quantize-linear" && rec) {
        // onnxruntime's dynamic quantization: per-tensor asymmetric uint8 activations, then
        // MatMulInteger -> Cast -> Mul(x_scale * w_scale), the chain it fuses into DynamicQuantizeMatMul
        const x = g.reshape(rec.x, [M, K]);
        const [q, s, z] = g.node("DynamicQuantizeLinear", [x], { shapes: [[M, K], [], []], types: [OnnxDataType.UINT8, FLOAT, OnnxDataType.UINT8] });
        const acc = g.op("MatMulInteger", [q!, wt, z!], [M, N], { type: OnnxDataType.INT32 });
        y = g.binary("Mul", g.cast(acc, FLOAT), g.binary("Mul", s!, ws));
      } else {
        // vramlab's arithmetic: exact int32 sums, then float32(acc) * x_scale[m] * w_scale[n]
        const acc = g.op("MatMulInteger", [this.valueAs(xq, [M, K]), wt], [M, N], { type: OnnxDataType.INT32 });
        y = g.binary("Mul", g.binary("Mul", g.cast(acc, FLOAT), this.valueAs(xScale, [M, 1])), ws);
      }
      if (bias) y = g.binary("Add", y, g.cast(this.value(bias), FLOAT));
      this.setValue(out, g.cast(y, onnxDataType(out.dtype)));
    }, () => this.cpu.int8Gemm(out, xq, xScale, wq, wScale, wScaleStride, bias, M, N, K));
  }

  /** An int8 / float8 weight payload [N, K] stored transposed [K, N] (MatMulInteger's and MatMul's B). */
  private transposedPayload(w: WeightLeaf, dtype: DType, N: number, K: number): string {
    return this.cachedInitializer(`qT:${w.name}`, () =>
      this.graph.addInitializer(`${w.name}.T`, onnxDataType(dtype), [K, N], () => transposedBytes(w.tensor, dtype), `${w.name} transposed to [in, out]`));
  }

  /** A per-row scale [N] (or a per-tensor scalar) as a float32 initializer. */
  private scaleInitializer(scale: Tensor, base: string, n: number): string {
    const w = this.weightOf(scale, "a scale");
    return this.cachedInitializer(`scale:${w.name}`, () =>
      this.graph.addInitializer(`${base}.scale`, FLOAT, n === 1 ? [] : [n], () => readBytes(w.tensor).slice(0, n * 4)));
  }

  /**
   * int4wo as com.microsoft MatMulNBits (bits 4): B [N, K/block, block/2] bytes with element 0 in
   * the low nibble and unsigned codes u = q (ours stores the signed nibble q - 8, so u = nibble ^ 8);
   * ORT dequantizes (u - zp) * scale, ours (u - 8) * scale + zero, so zp = 8 - zero / scale (float).
   */
  private matMulNBits(av: string, w: WeightLeaf, base: string, scale: Tensor, zero: Tensor, N: number, K: number, block: number, rowDims: number[]): string {
    const g = this.graph;
    const blocks = K / block;
    const zw = this.weightOf(zero, "an int4 zero point");
    const sw = this.weightOf(scale, "an int4 scale");
    const b = this.cachedInitializer(`nbits:${w.name}`, () => g.addInitializer(w.name, OnnxDataType.UINT8, [N, blocks, block / 2], () => {
      const bytes = readBytes(w.tensor).slice();
      for (let i = 0; i < bytes.length; i++) bytes[i]! ^= 0x88;
      return bytes;
    }, "int4 codes, MatMulNBits layout (unsigned nibbles, element 0 low)"));
    const s = this.cachedInitializer(`nbits-scale:${w.name}`, () => g.addInitializer(`${base}.scale`, FLOAT, [N * blocks], () => readBytes(sw.tensor)));
    const zp = this.cachedInitializer(`nbits-zp:${w.name}`, () => g.addInitializer(`${base}.zero_point`, FLOAT, [N * blocks], () => {
      const sc = toFloat32Array(sw.tensor), z = toFloat32Array(zw.tensor);
      return new Uint8Array(Float32Array.from(sc, (x, i) => Math.fround(8 - Math.fround(z[i]! / x))).buffer);
    }, "MatMulNBits zero point 8 - zero / scale (vramlab stores the zero in the value domain)"));
    const attributes = { K: attr.int(K), N: attr.int(N), bits: attr.int(4), block_size: attr.int(block), accuracy_level: attr.int(this.options.int4AccuracyLevel) };
    return g.op("MatMulNBits", [av, b, s, zp], rowDims, { attributes, domain: MICROSOFT_DOMAIN });
  }

  /** A quantized weight with no ONNX op for its format, stored dequantized as a float32 [K, N] initializer. */
  private dequantizedWeight(w: WeightLeaf, base: string, qdata: Tensor, scale: Tensor, zero: Tensor | null, N: number, K: number, groupSize: number, scaleRowStride: number): string {
    const sw = this.weightOf(scale, "a quantization scale");
    const zw = zero ? this.weightOf(zero, "a zero point") : null;
    if (!this.dequantizedAtExport.includes(base)) this.dequantizedAtExport.push(base);
    const qdtype = qdata.dtype;
    return this.cachedInitializer(`deq:${w.name}`, () => this.graph.addInitializer(`${base}.dequantized.T`, FLOAT, [K, N], () => {
      const dense = keep(Tensor.empty([N, K], "float32", "cpu", `${base}.dequantized`));
      try {
        quantKernels.dequantize(w.tensor.native!, qdtype, sw.tensor.native!, zw?.tensor.native ?? null, N, K, groupSize, scaleRowStride, dense.native!, "float32");
        return transposedBytes(dense, "float32");
      } finally {
        dense.dispose();
      }
    }, `${base} (${qdtype}) dequantized at export: ONNX has no ${qdtype} type`));
  }
}

// ---- running a trace -------------------------------------------------------------------

/** A tensor on `device` over the same storage as t (no copy). */
function aliasOn(t: Tensor, device: Device): Tensor {
  const storage = new Storage(device, t.storage.nbytes, t.native, device.memory.allocate(t.storage.nbytes, t.owner || "onnx-trace"));
  return keep(new Tensor(t.shape, t.dtype, storage));
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/** Rebuilds args with every Tensor replaced by fn(tensor, path). */
function mapTensors(x: unknown, path: string, fn: (t: Tensor, path: string) => Tensor): unknown {
  if (x instanceof Tensor) return fn(x, path);
  if (Array.isArray(x)) return x.map((v, i) => mapTensors(v, `${path}.${i}`, fn));
  if (isPlainObject(x)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, mapTensors(v, path ? `${path}.${k}` : k, fn)]));
  return x;
}

/** [name, tensor] for each tensor of a forward's result. */
function outputTensors(result: unknown): [string, Tensor][] {
  if (result instanceof Tensor) return [["output", result]];
  const out: [string, Tensor][] = [];
  const walk = (x: unknown, path: string) => {
    if (x instanceof Tensor) out.push([path, x]);
    else if (Array.isArray(x)) x.forEach((v, i) => walk(v, path ? `${path}.${i}` : `output_${i}`));
    else if (isPlainObject(x)) for (const [k, v] of Object.entries(x)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(result, "");
  if (!out.length) throw new TypeError("ONNX export: the forward returned no tensors");
  return out;
}

export interface TraceResult {
  backend: TraceBackend;
  outputs: { name: string; dtype: DType; shape: number[] }[];
}

/**
 * Runs module.call(...args) on a trace device and returns the recorded graph. The module's
 * weights are swapped for aliases on the trace device for the duration of the call and put back
 * afterwards (hooks that move weights between devices are not supported while tracing).
 */
export async function traceModule(module: Module, args: readonly unknown[], options: TraceOptions): Promise<TraceResult> {
  const backend = new TraceBackend(options);
  const device = new Device("onnx-trace", "cpu", backend);
  const restore: [Module, string, Weight][] = [];
  const made: Tensor[] = [];
  try {
    for (const [name, w, , owner, local] of module.namedWeights()) {
      for (const [inner, t] of flattenWeight(w)) {
        if (t.device.type !== "cpu" || !t.native) throw new TypeError(`ONNX export: ${leafName(name, inner)} is on ${t.device.name}; export reads weights from the cpu (move the model with module.to("cpu"))`);
        backend.registerWeight(t, leafName(name, inner));
      }
      owner.setTensor(local, mapWeight(w, (t) => aliasOn(t, device)));
      restore.push([owner, local, w]);
    }
    const single = args.length === 1 && isPlainObject(args[0]);
    const traceArgs = args.map((a, i) => mapTensors(a, single ? "" : `input_${i}`, (t, path) => {
      if (t.device.type !== "cpu" || !t.native) throw new TypeError(`ONNX export: input ${path} is on ${t.device.name}; pass cpu tensors`);
      backend.registerArgument(t, path);
      const alias = aliasOn(t, device);
      made.push(alias);
      return alias;
    }));
    const result = await module.call(...traceArgs);
    const outs = outputTensors(result);
    const outputs = outs.map(([name, t]) => ({ name: backend.addOutput(name, t), dtype: t.dtype, shape: [...t.shape] }));
    for (const [, t] of outs) made.push(t);
    backend.graph.prune();
    return { backend, outputs };
  } finally {
    for (const t of made) t.dispose();
    for (const [owner, local, w] of restore.reverse()) owner.setTensor(local, w)?.dispose();
  }
}
