// The cuda backend: every op of the table runs a CUDA kernel of the addon
// (engine/native/src/cuda) on device memory from the caching allocator.
// Kernels are queued on the device's stream; reads back to the host wait for
// it. Registered as "cuda:N" in engine/devices.ts only where the addon was
// built with nvcc and the driver reports a GPU.
//
// Streams: until engine/stream.ts lets a device record and wait for real
// events (see engine/native/src/cuda/README.md, "hooks"), every vramlab Stream
// of a cuda device maps to ONE native stream, so work is correctly ordered but
// copy and compute streams do not overlap yet.
import { native, type NativeStorage } from "../native-binding.js";
import type { Backend, BinaryOp, QuantMode, UnaryOp } from "../backend.js";
import { Device } from "../device.js";
import { dtypeCode, dtypeInfo, type DType } from "../dtype.js";
import type { Tensor } from "../tensor.js";
import type { Timeline } from "../stream.js";
import type { CachingAllocatorStats, NativeCudaStorage } from "../kernels/cuda.js";
import "../kernels/cuda.js";

type Binding = typeof native;
/** The CUDA entry points, present in nvcc builds; throws a clear error otherwise. */
function cuda(): Required<Binding> {
  if (!native.CudaStorage) throw new Error("this vramlab build has no CUDA kernels (built without nvcc); rebuild with the CUDA toolkit installed");
  return native as Required<Binding>;
}

/** Bytes of n elements of a dtype. */
function nbytesOf(dtype: DType, n: number): number {
  return Math.ceil((n * dtypeInfo(dtype).bits) / 8);
}

/** A cuda device's clock: wall-clock time on the host; synchronisation waits for the GPU stream. */
export class CudaTimeline implements Timeline {
  readonly modelled = false;
  constructor(private readonly stream: () => number) {}
  hostTimeMs(): number {
    return performance.now();
  }
  streamTimeMs(): number {
    return performance.now();
  }
  eventTimeMs(): number {
    return performance.now();
  }
  streamWait(): void {}
  hostWait(): void {
    cuda().cudaStreamSynchronize(this.stream());
  }
  synchronizeAll(): void {
    cuda().cudaStreamSynchronize(this.stream());
  }
  subscribe(): () => void {
    return () => {};
  }
}

export class CudaBackend implements Backend {
  readonly hasData = true;
  private streamId = -1;
  constructor(readonly index: number) {}

  /** The native stream the device's work goes to (created on first use). */
  get stream(): number {
    if (this.streamId < 0) this.streamId = cuda().cudaStreamCreate(this.index);
    return this.streamId;
  }

  private s(t: Tensor): NativeStorage {
    const n = t.native;
    if (!n) throw new Error(`${t} has no data`);
    return n;
  }
  private opt(t: Tensor | null): NativeStorage | null {
    return t ? this.s(t) : null;
  }

  allocate(nbytes: number, zero: boolean, owner?: string): NativeStorage {
    try {
      return new (cuda().CudaStorage)(nbytes, zero, this.index, this.stream);
    } catch (e) {
      const msg = (e as Error).message;
      if (/out of memory/.test(msg)) {
        throw new Error(`${msg}${owner ? ` (allocating ${owner})` : ""}. Free tensors, return cached blocks with (vl.getDevice("cuda:${this.index}") as CudaDevice).emptyCache(), or offload (enableGroupOffload, layerwise casting).`);
      }
      throw e;
    }
  }
  release(storage: NativeStorage | null): void {
    storage?.free();
  }
  write(t: Tensor, byteOffset: number, bytes: Uint8Array): void {
    cuda().cudaWrite(this.s(t), byteOffset, bytes, this.stream);
  }
  read(t: Tensor, byteOffset: number, nbytes: number): Uint8Array {
    return new Uint8Array(cuda().cudaRead(this.s(t), byteOffset, nbytes, this.stream));
  }
  copyBytes(dst: Tensor, dstByteOffset: number, src: Tensor, srcByteOffset: number, nbytes: number): void {
    cuda().cudaCopyD2D(this.s(dst), dstByteOffset, this.s(src), srcByteOffset, nbytes, this.stream);
  }
  /**
   * A copy between this device and host memory (or within the device). Pinned host memory and
   * nonBlocking queue it on the stream; otherwise the host waits for it. (The hook engine/ops/transfer.ts
   * needs to call for Tensor.to between cpu and cuda.)
   */
  transfer(dst: Tensor, src: Tensor, nbytes: number, nonBlocking: boolean): void {
    const c = cuda();
    const dstOnGpu = dst.device.backend === this, srcOnGpu = src.device.backend === this;
    if (dstOnGpu && srcOnGpu) c.cudaCopyD2D(this.s(dst), 0, this.s(src), 0, nbytes, this.stream);
    else if (dstOnGpu) c.cudaCopyH2D(this.s(dst), 0, this.s(src), 0, nbytes, this.stream, !(nonBlocking && src.isPinned));
    else if (srcOnGpu) c.cudaCopyD2H(this.s(dst), 0, this.s(src), 0, nbytes, this.stream, !(nonBlocking && dst.isPinned));
    else throw new Error(`cuda:${this.index}: transfer between ${src.device.name} and ${dst.device.name} does not involve this GPU`);
  }
  cast(dst: Tensor, dstOffset: number, src: Tensor, srcOffset: number, n: number, saturate: boolean): void {
    cuda().cudaCast(this.s(src), dtypeCode(src.dtype), srcOffset, this.s(dst), dtypeCode(dst.dtype), dstOffset, n, saturate, this.stream);
  }
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, N: number, K: number, transB: boolean): void {
    cuda().cudaMatmul(this.s(out), dtypeCode(out.dtype), this.s(a), dtypeCode(a.dtype), this.s(b), dtypeCode(b.dtype), this.opt(bias), dtypeCode(bias?.dtype ?? "float32"), M, N, K, transB, this.stream);
  }
  binary(op: BinaryOp, out: Tensor, a: Tensor, aOffset: number, aStrides: number[], b: Tensor, bOffset: number, bStrides: number[], shape: number[]): void {
    cuda().cudaBinaryOp(op, this.s(out), dtypeCode(out.dtype), this.s(a), dtypeCode(a.dtype), aOffset, aStrides, this.s(b), dtypeCode(b.dtype), bOffset, bStrides, shape, this.stream);
  }
  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    cuda().cudaUnaryOp(op, this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), x.numel, this.stream);
  }
  clamp(out: Tensor, x: Tensor, lo: number, hi: number): void {
    cuda().cudaClamp(this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), x.numel, lo, hi, this.stream);
  }
  scalarOp(op: BinaryOp, out: Tensor, x: Tensor, scalar: number, scalarFirst: boolean): void {
    cuda().cudaScalarOp(op, this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), scalar, x.numel, scalarFirst, this.stream);
  }
  modulate(out: Tensor, x: Tensor, mod: Tensor, batch: number, tokens: number, dim: number, scaleOffset: number, shiftOffset: number, modStride: number): void {
    cuda().cudaModulate(this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), this.s(mod), this.s(mod), dtypeCode(mod.dtype), batch, tokens, dim, scaleOffset, shiftOffset, modStride, this.stream);
  }
  layerNorm(out: Tensor, x: Tensor, weight: Tensor | null, bias: Tensor | null, rows: number, cols: number, eps: number): void {
    cuda().cudaLayerNorm(this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), this.opt(weight), this.opt(bias), dtypeCode(weight?.dtype ?? bias?.dtype ?? "float32"), rows, cols, eps, this.stream);
  }
  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, rows: number, cols: number, eps: number): void {
    cuda().cudaRmsNorm(this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), this.opt(weight), dtypeCode(weight?.dtype ?? "float32"), rows, cols, eps, this.stream);
  }
  softmax(out: Tensor, x: Tensor, rows: number, cols: number): void {
    cuda().cudaSoftmax(this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), rows, cols, this.stream);
  }
  sdpa(out: Tensor, q: Tensor, k: Tensor, v: Tensor, batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number): void {
    cuda().cudaSdpa(this.s(out), dtypeCode(out.dtype), this.s(q), this.s(k), this.s(v), dtypeCode(q.dtype), batch, heads, lq, lk, headDim, scale, this.stream);
  }
  rope(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor, batch: number, heads: number, seq: number, headDim: number): void {
    cuda().cudaRope(this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), this.s(cos), this.s(sin), batch, heads, seq, headDim, this.stream);
  }
  quantize(src: Tensor, rows: number, cols: number, groupSize: number, qdata: Tensor, scale: Tensor, zero: Tensor | null, mode: QuantMode, qmin: number, qmax: number): void {
    cuda().cudaQuantize(this.s(src), dtypeCode(src.dtype), rows, cols, groupSize, this.s(qdata), dtypeCode(qdata.dtype), this.s(scale), this.opt(zero), mode === "asymmetric", qmin, qmax, this.stream);
  }
  dequantize(qdata: Tensor, scale: Tensor, zero: Tensor | null, rows: number, cols: number, groupSize: number, scaleRowStride: number, out: Tensor): void {
    cuda().cudaDequantize(this.s(qdata), dtypeCode(qdata.dtype), this.s(scale), this.opt(zero), rows, cols, groupSize, scaleRowStride, this.s(out), dtypeCode(out.dtype), this.stream);
  }
  matmulQuantB(out: Tensor, a: Tensor, aRowScale: Tensor | null, qdata: Tensor, scale: Tensor, zero: Tensor | null, scaleRowStride: number, groupSize: number, bias: Tensor | null, M: number, N: number, K: number): void {
    cuda().cudaMatmulQuantB(this.s(out), dtypeCode(out.dtype), this.s(a), dtypeCode(a.dtype), this.opt(aRowScale), this.s(qdata), dtypeCode(qdata.dtype), this.s(scale), this.opt(zero), scaleRowStride, groupSize, this.opt(bias), dtypeCode(bias?.dtype ?? "float32"), M, N, K, this.stream);
  }
  int8Gemm(out: Tensor, xq: Tensor, xScale: Tensor, wq: Tensor, wScale: Tensor, wScaleStride: number, bias: Tensor | null, M: number, N: number, K: number): void {
    cuda().cudaInt8Gemm(this.s(out), dtypeCode(out.dtype), this.s(xq), this.s(xScale), this.s(wq), this.s(wScale), wScaleStride, this.opt(bias), dtypeCode(bias?.dtype ?? "float32"), M, N, K, this.stream);
  }
  /**
   * out = float32(xq @ wq^T) * xScale[m] (or xScale[0] when xScaleShared) * wScale[n * stride] + bias, on
   * fp8 e4m3 codes: cuBLASLt's fp8 tensor cores on Hopper. Not in the op table yet: engine/quant/schemes.ts
   * would call it for fp8dq / fp8dqrow when the backend has it (README.md, "hooks").
   */
  fp8Gemm(out: Tensor, xq: Tensor, xScale: Tensor, xScaleShared: boolean, wq: Tensor, wScale: Tensor, wScaleStride: number, bias: Tensor | null, M: number, N: number, K: number): void {
    cuda().cudaFp8Gemm(this.s(out), dtypeCode(out.dtype), this.s(xq), this.s(xScale), xScaleShared, this.s(wq), this.s(wScale), wScaleStride, this.opt(bias), dtypeCode(bias?.dtype ?? "float32"), M, N, K, this.stream);
  }
  copyStrided(dst: Tensor, dstOffset: number, dstStrides: number[], src: Tensor, srcOffset: number, srcStrides: number[], shape: number[]): void {
    cuda().cudaCopyStrided(this.s(dst), dtypeCode(dst.dtype), dstOffset, dstStrides, this.s(src), dtypeCode(src.dtype), srcOffset, srcStrides, shape, this.stream);
  }
  fill(dst: Tensor, offset: number, n: number, value: number): void {
    // The cpu fill kernel encodes the value (rounding, range checks), so both devices store the same bits.
    const bytes = nbytesOf(dst.dtype, 1);
    const one = new native.Storage(4, true);
    try {
      native.fill(one, dtypeCode(dst.dtype), 0, 1, value);
      const pattern = new DataView(native.read(one, 0, 4));
      const bits = bytes === 4 ? pattern.getUint32(0, true) : bytes === 2 ? pattern.getUint16(0, true) : pattern.getUint8(0);
      cuda().cudaFillPattern(this.s(dst), bytes, offset, n, bits, this.stream);
    } finally {
      one.free();
    }
  }

  // ---- memory ---------------------------------------------------------------------------
  memoryStats(): CachingAllocatorStats {
    return cuda().cudaMemoryStats(this.index);
  }
  emptyCache(): void {
    cuda().cudaDeviceSynchronize(this.index);
    cuda().cudaEmptyCache(this.index);
  }
  memGetInfo(): { free: number; total: number } {
    return cuda().cudaMemGetInfo(this.index);
  }
}

/** A real GPU: the caching allocator's blocks are 512-byte multiples, as the memory tracker rounds. */
export class CudaDevice extends Device {
  declare readonly backend: CudaBackend;
  constructor(readonly index: number, readonly properties: { name: string; totalMemory: number; computeCapability: string }) {
    const backend = new CudaBackend(index);
    super(`cuda:${index}`, "cuda", backend, { alignment: 512, timeline: new CudaTimeline(() => backend.stream) });
  }
  /** The caching allocator's own counters (reserved includes cached, unused segments). */
  allocatorStats(): CachingAllocatorStats {
    return this.backend.memoryStats();
  }
  /** Returns cached, unused device memory to the driver (torch.cuda.empty_cache). */
  emptyCache(): void {
    this.backend.emptyCache();
  }
}

/** The device's memory as the driver sees it, and the allocator's counters. */
export function cudaMemoryInfo(device: CudaDevice): { free: number; total: number; allocator: CachingAllocatorStats } {
  return { ...device.backend.memGetInfo(), allocator: device.allocatorStats() };
}

export type { NativeCudaStorage };
