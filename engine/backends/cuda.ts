// The cuda backend: every op of the table runs a CUDA kernel of the addon
// (engine/native/src/cuda) on device memory from the caching allocator.
// Kernels are queued on the device's stream; reads back to the host wait for
// it. Registered as "cuda:N" in engine/devices.ts only where the addon was
// built with nvcc and the driver reports a GPU.
//
// Streams: each vramlab Stream of a cuda device is its own native stream
// (created on first use), and Events are driver events (CudaTimeline), so
// copy and compute streams overlap and are ordered by stream.waitEvent(). A
// block used on a stream other than the one it was allocated on is recorded
// on that stream (torch's record_stream), so freeing it never lets the
// allocator hand it out while that stream may still read it.
//
// Pinning: importing this module installs the host-pin handler of
// engine/tensor.ts, which page-locks pinned cpu tensors with cudaHostRegister
// when a GPU is present (and does nothing otherwise).
import { native, type NativeStorage } from "../native-binding.js";
import type { AttentionLayout, Backend, BinaryOp, QuantMode, UnaryOp } from "../backend.js";
import { Device } from "../device.js";
import { dtypeCode, dtypeInfo, type DType } from "../dtype.js";
import { setHostPinHandler, Tensor } from "../tensor.js";
import { permute } from "../ops/layout.js";
import { currentStream, WallClockTimeline, type EventHandle, type Stream } from "../stream.js";
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

/**
 * A cuda device's clock. Times are wall-clock on the host; ordering and waiting use driver events
 * on one native stream per vramlab Stream (Timeline's optional real-event methods).
 */
export class CudaTimeline extends WallClockTimeline {
  /** vramlab Stream id -> native stream id */
  private readonly nativeStreams = new Map<number, number>();
  /** driver events of collected Events, recorded again before new ones are created */
  private readonly freeEvents: EventHandle[] = [];
  constructor(readonly device: number) {
    super();
  }

  /** The native stream a vramlab Stream of this device runs on (created on first use). */
  nativeStream(stream: Stream): number {
    let id = this.nativeStreams.get(stream.id);
    if (id === undefined) {
      id = cuda().cudaStreamCreate(this.device);
      this.nativeStreams.set(stream.id, id);
    }
    return id;
  }
  // host-side times are wall-clock (WallClockTimeline); ordering between streams goes through waitEvent (driver events)
  /** only reached by callers that wait for a time: wait for the whole device */
  override hostWait(): void {
    this.synchronizeAll();
  }
  override synchronizeAll(): void {
    cuda().cudaDeviceSynchronize(this.device);
  }

  recordEvent(stream: Stream, reuse: EventHandle | null): EventHandle {
    const event = reuse ?? this.freeEvents.pop() ?? cuda().cudaEventCreate(true);
    cuda().cudaEventRecord(event, this.nativeStream(stream));
    return event;
  }
  waitEvent(stream: Stream, event: EventHandle): void {
    cuda().cudaStreamWaitEvent(this.nativeStream(stream), event);
  }
  synchronizeEvent(event: EventHandle): void {
    cuda().cudaEventSynchronize(event);
  }
  queryEvent(event: EventHandle): boolean {
    return cuda().cudaEventQuery(event);
  }
  /** waits for both events first (the driver refuses to time unfinished ones; torch makes the caller synchronize) */
  elapsedEventMs(start: EventHandle, end: EventHandle): number {
    cuda().cudaEventSynchronize(start);
    cuda().cudaEventSynchronize(end);
    return cuda().cudaEventElapsed(start, end);
  }
  releaseEvent(event: EventHandle): void {
    this.freeEvents.push(event);
  }
  synchronizeStream(stream: Stream): void {
    cuda().cudaStreamSynchronize(this.nativeStream(stream));
  }
  queryStream(stream: Stream): boolean {
    return cuda().cudaStreamQuery(this.nativeStream(stream));
  }
}

/** The stream a block was allocated on, and the other streams it was recorded on so far. */
interface BlockStreams {
  home: number;
  others: number[] | null;
}

export class CudaBackend implements Backend {
  readonly hasData = true;
  private device: Device | null = null;
  private timeline: CudaTimeline | null = null;
  private readonly blockStreams = new WeakMap<NativeStorage, BlockStreams>();
  constructor(readonly index: number) {}

  /** @internal CudaDevice connects its backend once constructed. */
  attach(device: Device, timeline: CudaTimeline): void {
    this.device = device;
    this.timeline = timeline;
  }

  /** The native stream of the device's current vramlab Stream (vl.withStream), where kernels and copies are queued. */
  get stream(): number {
    if (!this.device || !this.timeline) throw new Error(`cuda:${this.index}: the backend is not attached to a CudaDevice`);
    return this.timeline.nativeStream(currentStream(this.device));
  }

  /** The tensor's storage; device blocks used on a stream they were not allocated on are recorded on it. */
  private s(t: Tensor): NativeStorage {
    const n = t.native;
    if (!n) throw new Error(`${t} has no data`);
    const uses = this.blockStreams.get(n);
    if (uses) {
      const stream = this.stream;
      if (stream !== uses.home && !uses.others?.includes(stream)) {
        (n as NativeCudaStorage).recordStream(stream);
        (uses.others ??= []).push(stream);
      }
    }
    return n;
  }
  private opt(t: Tensor | null): NativeStorage | null {
    return t ? this.s(t) : null;
  }

  allocate(nbytes: number, zero: boolean, owner?: string): NativeStorage {
    try {
      const stream = this.stream;
      const storage = new (cuda().CudaStorage)(nbytes, zero, this.index, stream);
      this.blockStreams.set(storage, { home: stream, others: null });
      return storage;
    } catch (e) {
      const msg = (e as Error).message;
      if (/out of memory/.test(msg)) {
        throw new Error(`${msg}${owner ? ` (allocating ${owner})` : ""}. Free tensors, return cached blocks with vl.emptyCache("cuda:${this.index}"), or offload (enableGroupOffload, layerwise casting).`);
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
  sdpa(out: Tensor, q: Tensor, k: Tensor, v: Tensor, batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number, layout: AttentionLayout): void {
    if (layout === "BLHD") {
      this.viaHeadMajor(out, [q, k, v], (o, [qh, kh, vh]) => this.sdpa(o, qh!, kh!, vh!, batch, heads, lq, lk, headDim, scale, "BHLD"));
      return;
    }
    cuda().cudaSdpa(this.s(out), dtypeCode(out.dtype), this.s(q), this.s(k), this.s(v), dtypeCode(q.dtype), batch, heads, lq, lk, headDim, scale, this.stream);
  }
  rope(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor, batch: number, heads: number, seq: number, headDim: number, layout: AttentionLayout): void {
    if (layout === "BLHD") {
      this.viaHeadMajor(out, [x], (o, [xh]) => this.rope(o, xh!, cos, sin, batch, heads, seq, headDim, "BHLD"));
      return;
    }
    cuda().cudaRope(this.s(out), dtypeCode(out.dtype), this.s(x), dtypeCode(x.dtype), this.s(cos), this.s(sin), batch, heads, seq, headDim, this.stream);
  }
  /** The CUDA attention kernels take [B, H, L, D]: token-major operands are transposed on the device around them. */
  private viaHeadMajor(out: Tensor, inputs: Tensor[], run: (out: Tensor, inputs: Tensor[]) => void): void {
    const headMajor = inputs.map((t) => permute(t, [0, 2, 1, 3]));
    const [B, L, H, D] = out.shape as [number, number, number, number];
    const o = Tensor.empty([B, H, L, D], out.dtype, out.device);
    try {
      run(o, headMajor);
      // out[b, l, h, d] = o[b, h, l, d]
      this.copyStrided(out, 0, [L * H * D, H * D, D, 1], o, 0, [H * L * D, D, L * D, 1], [B, L, H, D]);
    } finally {
      o.dispose();
      for (const t of headMajor) t.dispose();
    }
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
   * fp8 e4m3 codes: cuBLASLt's fp8 tensor cores on Hopper. Not in the op table: engine/quant/schemes.ts
   * calls it for fp8dq / fp8dqrow on backends that have it.
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
  emptyCache(): number {
    cuda().cudaDeviceSynchronize(this.index);
    const before = this.memoryStats().reserved;
    cuda().cudaEmptyCache(this.index);
    return before - this.memoryStats().reserved;
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
    const timeline = new CudaTimeline(index);
    super(`cuda:${index}`, "cuda", backend, { alignment: 512, timeline });
    backend.attach(this, timeline);
  }
  /** The caching allocator's own counters (reserved includes cached, unused segments). */
  allocatorStats(): CachingAllocatorStats {
    return this.backend.memoryStats();
  }
  /** Returns cached, unused device memory to the driver (torch.cuda.empty_cache); the bytes returned. */
  emptyCache(): number {
    return this.backend.emptyCache();
  }
}

/** The device's memory as the driver sees it, and the allocator's counters. */
export function cudaMemoryInfo(device: CudaDevice): { free: number; total: number; allocator: CachingAllocatorStats } {
  return { ...device.backend.memGetInfo(), allocator: device.allocatorStats() };
}

/** Whether pinned host memory should be page-locked with the driver: an nvcc build and a GPU present. */
export function pinsWithDriver(info: { compiled?: boolean; available: boolean }): boolean {
  return info.compiled === true && info.available;
}

/** GPUs the pin handler page-locks for; 0 (nothing to do) without an nvcc build or a GPU. Asked once. */
let pinningGpus: number | undefined;
function gpusToPinFor(): number {
  if (pinningGpus === undefined) {
    const info = native.CudaStorage ? native.cudaInfo() : { compiled: false, available: false, deviceCount: 0 };
    pinningGpus = pinsWithDriver(info) ? info.deviceCount : 0;
  }
  return pinningGpus;
}
setHostPinHandler({
  register(storage: NativeStorage): boolean {
    if (gpusToPinFor() === 0) return false;
    cuda().cudaHostRegister(storage);
    return true;
  },
  unregister(storage: NativeStorage): void {
    // A non-blocking copy from or to these bytes may still be queued (e.g. to()'s pinned staging
    // tensor is disposed right after its copy is queued): let every GPU finish first.
    for (let d = 0; d < gpusToPinFor(); d++) cuda().cudaDeviceSynchronize(d);
    cuda().cudaHostUnregister(storage);
  },
});

export type { NativeCudaStorage };
