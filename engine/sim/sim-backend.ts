// The sim backend: real data, modelled time. Every op runs the cpu kernels
// on host storage (nothing at all in dataless mode), then queues its modelled
// duration on the device's current stream. Allocation checks the device's
// capacity first, so an out-of-memory error leaves nothing behind.
import type { NativeStorage } from "../native-binding.js";
import type { AttentionLayout, Backend, BinaryOp, FusedOp, QuantMode, TransferInfo, UnaryOp } from "../backend.js";
import { HostBackend } from "../backends/cpu.js";
import type { Tensor } from "../tensor.js";
import { byteSize, type DType } from "../dtype.js";
import { currentContext } from "../context.js";
import { reservedBytes } from "../memory.js";
import { currentStream, type SyncMode } from "../stream.js";
import { isHostDevice } from "../host-memory.js";
import { CostModel, type KernelCost, type MathRate } from "./cost-model.js";
import { OutOfMemoryError } from "./out-of-memory.js";
import type { SimDevice } from "./sim-device.js";

/** Arithmetic per output element of the elementwise ops (a rough count; these ops are memory-bound). */
const UNARY_FLOPS: Record<UnaryOp, number> = { gelu_tanh: 12, gelu: 12, silu: 5, relu: 1, neg: 1, exp: 4, sqrt: 2, rsqrt: 2, sin: 6, cos: 6 };

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
/** Elements a strided read touches: broadcast (stride 0) dimensions are read once. */
function distinctElements(shape: readonly number[], strides: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) if (strides[i] !== 0) n *= shape[i]!;
  return n;
}
function bytesOf(dtype: DType, n: number): number {
  return byteSize(dtype, n);
}
function half(d: DType): boolean {
  return d === "bfloat16" || d === "float16";
}
/** bf16/fp16 operands use the bf16 tensor-core peak; anything in float32 the fp32 peak. */
function floatRate(...dtypes: DType[]): MathRate {
  return dtypes.every(half) ? "bf16" : "fp32";
}

export class SimBackend implements Backend {
  readonly hasData: boolean;
  private readonly host: HostBackend | null;
  private deviceRef: SimDevice | null = null;
  private fusedDepth = 0;

  constructor(readonly cost: CostModel, dataless: boolean) {
    this.hasData = !dataless;
    this.host = dataless ? null : new HostBackend();
  }

  /** Called once by the SimDevice that owns this backend. */
  attach(device: SimDevice): void {
    if (this.deviceRef) throw new Error("SimBackend.attach: already attached");
    this.deviceRef = device;
  }
  private get device(): SimDevice {
    if (!this.deviceRef) throw new Error("SimBackend: not attached to a device");
    return this.deviceRef;
  }

  // ---- modelling ------------------------------------------------------------------------

  private kernel(cost: KernelCost): void {
    if (this.fusedDepth > 0) return;
    const t = this.cost.kernel(cost);
    this.device.timeline.enqueue(currentStream(this.device), {
      resource: "compute",
      durationMs: t.durationMs,
      op: cost.op,
      category: cost.category,
      module: currentContext().modulePath,
      flops: cost.flops,
      bytes: cost.bytes,
      bound: t.bound,
      sync: "async",
    });
  }

  /** A host<->device copy on the current stream; pageable copies serialise with the whole device. */
  private hostCopy(direction: "h2d" | "d2h", bytes: number, pinned: boolean, nonBlocking: boolean, op: string, rate?: number): void {
    const sync: SyncMode = !pinned ? "device" : nonBlocking ? "async" : "host";
    this.device.timeline.enqueue(currentStream(this.device), {
      resource: direction,
      durationMs: this.cost.hostCopyMs(bytes, pinned, rate),
      op,
      category: direction,
      module: currentContext().modulePath,
      flops: 0,
      bytes,
      bound: "link",
      sync,
      pinned,
    });
  }

  fused<T>(op: FusedOp, fn: () => T): T {
    this.fusedDepth++;
    let result: T;
    try {
      result = fn();
    } finally {
      this.fusedDepth--;
    }
    this.kernel(op);
    return result;
  }

  modelTransfer(info: TransferInfo): void {
    const dev = this.device;
    const outgoing = info.src === dev;
    const peer = outgoing ? info.dst : info.src;
    const direction = outgoing ? "d2h" : "h2d";
    if (isHostDevice(peer)) {
      this.hostCopy(direction, info.bytes, info.hostPinned, info.nonBlocking, direction);
      return;
    }
    // accelerator to accelerator: over the host link at the slower device's pinned rate
    const peerRate = peer.backend instanceof SimBackend ? peer.backend.cost.hostLinkRate(true) : Infinity;
    this.hostCopy(direction, info.bytes, true, info.nonBlocking, outgoing ? "d2d-out" : "d2d-in", Math.min(this.cost.hostLinkRate(true), peerRate));
  }

  // ---- memory ---------------------------------------------------------------------------

  allocate(nbytes: number, zero: boolean, owner?: string): NativeStorage | null {
    const dev = this.device;
    const stats = dev.memory.stats();
    const need = reservedBytes(nbytes, dev.memory.alignment);
    const limit = dev.memoryLimit;
    if (stats.reserved + need > limit) {
      const ctx = currentContext();
      throw new OutOfMemoryError({
        device: dev.name,
        requestedBytes: nbytes,
        freeBytes: Math.max(0, limit - stats.reserved),
        capacityBytes: limit,
        allocatedBytes: stats.allocated,
        totalBytes: dev.profile.memoryBytes.value,
        limitBytes: dev.memoryLimitOverride,
        owner: owner ?? "",
        module: ctx.modulePath,
        moduleClass: ctx.moduleClass ?? "",
      });
    }
    const storage = this.host ? this.host.allocate(nbytes, zero) : null;
    if (zero && nbytes > 0) this.kernel({ op: "zero", category: "fill", flops: 0, bytes: nbytes, rate: "fp32" });
    return storage;
  }
  release(storage: NativeStorage | null): void {
    this.host?.release(storage);
  }

  // ---- data in and out: the host's pageable buffers -----------------------------------

  write(t: Tensor, byteOffset: number, bytes: Uint8Array): void {
    this.host?.write(t, byteOffset, bytes);
    this.hostCopy("h2d", bytes.length, false, false, "write");
  }
  read(t: Tensor, byteOffset: number, nbytes: number): Uint8Array {
    if (!this.host) {
      throw new Error(`${t} is on ${this.device.name}, a dataless simulated device that models time and memory only; use "${this.device.name.replace(/:meta$/, "")}" to compute values`);
    }
    const out = this.host.read(t, byteOffset, nbytes);
    this.hostCopy("d2h", nbytes, false, false, "read");
    return out;
  }

  // ---- kernels --------------------------------------------------------------------------

  copyBytes(dst: Tensor, dstByteOffset: number, src: Tensor, srcByteOffset: number, nbytes: number): void {
    this.host?.copyBytes(dst, dstByteOffset, src, srcByteOffset, nbytes);
    this.kernel({ op: "copy", category: "copy", flops: 0, bytes: 2 * nbytes, rate: "fp32" });
  }
  cast(dst: Tensor, dstOffset: number, src: Tensor, srcOffset: number, n: number, saturate: boolean): void {
    this.host?.cast(dst, dstOffset, src, srcOffset, n, saturate);
    this.kernel({ op: "cast", category: "cast", flops: n, bytes: bytesOf(src.dtype, n) + bytesOf(dst.dtype, n), rate: "fp32" });
  }
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, N: number, K: number, transB: boolean): void {
    this.host?.matmul(out, a, b, bias, M, N, K, transB);
    this.kernel({
      op: "matmul",
      category: "gemm",
      flops: 2 * M * N * K,
      bytes: bytesOf(a.dtype, M * K) + bytesOf(b.dtype, N * K) + bytesOf(out.dtype, M * N) + (bias?.nbytes ?? 0),
      rate: floatRate(a.dtype, b.dtype),
      gemm: { m: M, n: N, k: K },
    });
  }
  binary(op: BinaryOp, out: Tensor, a: Tensor, aOffset: number, aStrides: number[], b: Tensor, bOffset: number, bStrides: number[], shape: number[]): void {
    this.host?.binary(op, out, a, aOffset, aStrides, b, bOffset, bStrides, shape);
    const n = numel(shape);
    const bytes = bytesOf(a.dtype, distinctElements(shape, aStrides)) + bytesOf(b.dtype, distinctElements(shape, bStrides)) + bytesOf(out.dtype, n);
    this.kernel({ op, category: "elementwise", flops: n, bytes, rate: "fp32" });
  }
  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    this.host?.unary(op, out, x);
    this.kernel({ op, category: "elementwise", flops: UNARY_FLOPS[op] * x.numel, bytes: x.nbytes + out.nbytes, rate: "fp32" });
  }
  scalarOp(op: BinaryOp, out: Tensor, x: Tensor, scalar: number, scalarFirst: boolean): void {
    this.host?.scalarOp(op, out, x, scalar, scalarFirst);
    this.kernel({ op: `${op}_scalar`, category: "elementwise", flops: x.numel, bytes: x.nbytes + out.nbytes, rate: "fp32" });
  }
  modulate(out: Tensor, x: Tensor, mod: Tensor, batch: number, tokens: number, dim: number, scaleOffset: number, shiftOffset: number, modStride: number): void {
    this.host?.modulate(out, x, mod, batch, tokens, dim, scaleOffset, shiftOffset, modStride);
    const n = batch * tokens * dim;
    this.kernel({ op: "modulate", category: "elementwise", flops: 2 * n, bytes: bytesOf(x.dtype, n) + bytesOf(mod.dtype, 2 * batch * dim) + bytesOf(out.dtype, n), rate: "fp32" });
  }
  layerNorm(out: Tensor, x: Tensor, weight: Tensor | null, bias: Tensor | null, rows: number, cols: number, eps: number): void {
    this.host?.layerNorm(out, x, weight, bias, rows, cols, eps);
    const n = rows * cols;
    this.kernel({ op: "layer_norm", category: "norm", flops: 8 * n, bytes: bytesOf(x.dtype, n) + bytesOf(out.dtype, n) + (weight?.nbytes ?? 0) + (bias?.nbytes ?? 0), rate: "fp32" });
  }
  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, rows: number, cols: number, eps: number): void {
    this.host?.rmsNorm(out, x, weight, rows, cols, eps);
    const n = rows * cols;
    this.kernel({ op: "rms_norm", category: "norm", flops: 5 * n, bytes: bytesOf(x.dtype, n) + bytesOf(out.dtype, n) + (weight?.nbytes ?? 0), rate: "fp32" });
  }
  softmax(out: Tensor, x: Tensor, rows: number, cols: number): void {
    this.host?.softmax(out, x, rows, cols);
    const n = rows * cols;
    this.kernel({ op: "softmax", category: "norm", flops: 6 * n, bytes: bytesOf(x.dtype, n) + bytesOf(out.dtype, n), rate: "fp32" });
  }
  sdpa(out: Tensor, q: Tensor, k: Tensor, v: Tensor, batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number, layout: AttentionLayout): void {
    this.host?.sdpa(out, q, k, v, batch, heads, lq, lk, headDim, scale, layout);
    // a fused (flash) kernel: QK^T and PV are two GEMMs of lq x lk x headDim per head; scores never reach memory
    this.kernel({
      op: "sdpa",
      category: "attention",
      flops: 4 * batch * heads * lq * lk * headDim,
      bytes: q.nbytes + k.nbytes + v.nbytes + out.nbytes,
      rate: floatRate(q.dtype),
      gemm: { m: lq, n: lk, k: headDim },
    });
  }
  rope(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor, batch: number, heads: number, seq: number, headDim: number, layout: AttentionLayout): void {
    this.host?.rope(out, x, cos, sin, batch, heads, seq, headDim, layout);
    this.kernel({ op: "rope", category: "elementwise", flops: 3 * x.numel, bytes: x.nbytes + out.nbytes + cos.nbytes + sin.nbytes, rate: "fp32" });
  }
  quantize(src: Tensor, rows: number, cols: number, groupSize: number, qdata: Tensor, scale: Tensor, zero: Tensor | null, mode: QuantMode, qmin: number, qmax: number): void {
    this.host?.quantize(src, rows, cols, groupSize, qdata, scale, zero, mode, qmin, qmax);
    const n = rows * cols;
    this.kernel({ op: "quantize", category: "quant", flops: 3 * n, bytes: bytesOf(src.dtype, n) + bytesOf(qdata.dtype, n) + scale.nbytes + (zero?.nbytes ?? 0), rate: "fp32" });
  }
  dequantize(qdata: Tensor, scale: Tensor, zero: Tensor | null, rows: number, cols: number, groupSize: number, scaleRowStride: number, out: Tensor): void {
    this.host?.dequantize(qdata, scale, zero, rows, cols, groupSize, scaleRowStride, out);
    const n = rows * cols;
    this.kernel({ op: "dequantize", category: "quant", flops: 2 * n, bytes: bytesOf(qdata.dtype, n) + scale.nbytes + (zero?.nbytes ?? 0) + bytesOf(out.dtype, n), rate: "fp32" });
  }
  matmulQuantB(out: Tensor, a: Tensor, aRowScale: Tensor | null, qdata: Tensor, scale: Tensor, zero: Tensor | null, scaleRowStride: number, groupSize: number, bias: Tensor | null, M: number, N: number, K: number): void {
    this.host?.matmulQuantB(out, a, aRowScale, qdata, scale, zero, scaleRowStride, groupSize, bias, M, N, K);
    // With per-row activation scales this is the dynamic-quantization path: the activations were
    // quantized to the weight's fp8 format (the cpu decodes them to fp32 first), so a GPU runs an
    // fp8 x fp8 GEMM reading fp8 activations. Otherwise it is weight-only: the activations' rate,
    // reading the quantized weight and dequantizing it in the GEMM's prologue.
    const dynamicFp8 = aRowScale !== null && (qdata.dtype === "float8_e4m3fn" || qdata.dtype === "float8_e5m2");
    const aBytes = dynamicFp8 ? bytesOf(qdata.dtype, M * K) + aRowScale!.nbytes : bytesOf(a.dtype, M * K) + (aRowScale?.nbytes ?? 0);
    this.kernel({
      op: dynamicFp8 ? "fp8_gemm" : `matmul_${qdata.dtype}_weight`,
      category: "gemm",
      flops: 2 * M * N * K,
      bytes: aBytes + qdata.nbytes + scale.nbytes + (zero?.nbytes ?? 0) + bytesOf(out.dtype, M * N) + (bias?.nbytes ?? 0),
      rate: dynamicFp8 ? "fp8" : floatRate(a.dtype),
      gemm: { m: M, n: N, k: K },
    });
  }
  int8Gemm(out: Tensor, xq: Tensor, xScale: Tensor, wq: Tensor, wScale: Tensor, wScaleStride: number, bias: Tensor | null, M: number, N: number, K: number): void {
    this.host?.int8Gemm(out, xq, xScale, wq, wScale, wScaleStride, bias, M, N, K);
    this.kernel({
      op: "int8_gemm",
      category: "gemm",
      flops: 2 * M * N * K,
      bytes: bytesOf(xq.dtype, M * K) + xScale.nbytes + bytesOf(wq.dtype, N * K) + wScale.nbytes + bytesOf(out.dtype, M * N) + (bias?.nbytes ?? 0),
      rate: "int8",
      gemm: { m: M, n: N, k: K },
    });
  }
  copyStrided(dst: Tensor, dstOffset: number, dstStrides: number[], src: Tensor, srcOffset: number, srcStrides: number[], shape: number[]): void {
    this.host?.copyStrided(dst, dstOffset, dstStrides, src, srcOffset, srcStrides, shape);
    const n = numel(shape);
    this.kernel({ op: "copy_strided", category: "layout", flops: 0, bytes: bytesOf(src.dtype, distinctElements(shape, srcStrides)) + bytesOf(dst.dtype, n), rate: "fp32" });
  }
  clamp(out: Tensor, x: Tensor, lo: number, hi: number): void {
    this.host?.clamp!(out, x, lo, hi);
    this.kernel({ op: "clamp", category: "elementwise", flops: x.numel, bytes: x.nbytes + out.nbytes, rate: "fp32" });
  }
  fill(dst: Tensor, offset: number, n: number, value: number): void {
    this.host?.fill(dst, offset, n, value);
    this.kernel({ op: "fill", category: "fill", flops: 0, bytes: bytesOf(dst.dtype, n), rate: "fp32" });
  }
}
