// Entry points of the CUDA family (engine/native/src/cuda). The kernels take
// the cpu kernels' arguments with CudaStorage in place of Storage and a
// trailing stream id; they only queue work. Present only in addons built with
// nvcc (native.cudaInfo().compiled); the host-side checks (HostCachingAllocator,
// cudaCodecCast, cublasLtProbe) are in every build.
import type { NativeStorage } from "../native-binding.js";

/** Device memory from the caching allocator. */
export interface NativeCudaStorage extends NativeStorage {
  readonly device: number;
  /** the block is in use on another stream too: its reuse waits for that stream (torch's record_stream) */
  recordStream(stream: number): void;
}

export interface CachingAllocatorStats {
  allocated: number;
  requested: number;
  reserved: number;
  peakAllocated: number;
  peakReserved: number;
  activeBlocks: number;
  segments: number;
  /** segments obtained from / returned to the raw allocator (cudaMalloc / cudaFree) */
  rawAllocs: number;
  rawFrees: number;
  cacheHits: number;
  pendingFrees: number;
  oomRetries: number;
}

export interface HostCachingAllocatorStats extends CachingAllocatorStats {
  rawBytesInUse: number;
  eventsRecorded: number;
}

/** The CUDA caching allocator's bookkeeping on host malloc with hand-completed events (tests). */
export interface NativeHostCachingAllocator {
  malloc(bytes: number, stream: number): number;
  free(ptr: number): void;
  recordStream(ptr: number, stream: number): void;
  /** every event recorded on `stream` so far has completed; returns how many */
  completeEvents(stream: number): number;
  emptyCache(): void;
  resetPeak(): void;
  stats(): HostCachingAllocatorStats;
  blockSize(ptr: number): number;
  writeByte(ptr: number, offset: number, value: number): void;
  readByte(ptr: number, offset: number): number;
}

export interface CublasLtProbe {
  found: boolean;
  path?: string;
  version?: number;
  error?: string;
  candidates: string[];
  tried: string[];
}

/** Environment values for cublasLtProbe (unset keys are unset). */
export interface CublasLtSearchEnv {
  VRAMLAB_CUBLASLT?: string;
  CUDA_HOME?: string;
  CUDA_PATH?: string;
  VIRTUAL_ENV?: string;
  CONDA_PREFIX?: string;
  PYTHONPATH?: string;
  HOME?: string;
  PATH?: string;
}

type S = NativeStorage;
type Opt = NativeStorage | null;

declare module "../native-binding.js" {
  interface NativeBinding {
    HostCachingAllocator: new (rawLimitBytes?: number) => NativeHostCachingAllocator;
    cudaCodecCast(src: S, srcDtype: number, srcOffset: number, dst: S, dstDtype: number, dstOffset: number, n: number, saturate: boolean): void;
    cublasLtProbe(env?: CublasLtSearchEnv): CublasLtProbe;

    // ---- only in builds with nvcc ----
    CudaStorage?: new (nbytes: number, zero: boolean, device: number, stream: number) => NativeCudaStorage;
    cudaMemGetInfo?(device: number): { free: number; total: number };
    cudaMemoryStats?(device: number): CachingAllocatorStats;
    cudaEmptyCache?(device: number): void;
    cudaResetPeak?(device: number): void;
    cudaStreamCreate?(device: number): number;
    cudaStreamSynchronize?(stream: number): void;
    cudaStreamQuery?(stream: number): boolean;
    cudaDeviceSynchronize?(device: number): void;
    cudaEventCreate?(timing: boolean): number;
    cudaEventRecord?(event: number, stream: number): void;
    cudaStreamWaitEvent?(stream: number, event: number): void;
    cudaEventQuery?(event: number): boolean;
    cudaEventSynchronize?(event: number): void;
    cudaEventElapsed?(start: number, end: number): number;
    cudaEventDestroy?(event: number): void;
    cudaHostRegister?(storage: S): void;
    cudaHostUnregister?(storage: S): void;
    cudaCopyH2D?(dst: S, dstByteOffset: number, src: S, srcByteOffset: number, nbytes: number, stream: number, blocking: boolean): void;
    cudaCopyD2H?(dst: S, dstByteOffset: number, src: S, srcByteOffset: number, nbytes: number, stream: number, blocking: boolean): void;
    cudaCopyD2D?(dst: S, dstByteOffset: number, src: S, srcByteOffset: number, nbytes: number, stream: number): void;
    cudaWrite?(dst: S, byteOffset: number, src: ArrayBufferView, stream: number): void;
    cudaRead?(src: S, byteOffset: number, nbytes: number, stream: number): ArrayBuffer;
    cudaGemmInfo?(): { cublasLt: boolean; path?: string; version?: number; error?: string };

    cudaCast?(src: S, srcDtype: number, srcOffset: number, dst: S, dstDtype: number, dstOffset: number, n: number, saturate: boolean, stream: number): void;
    cudaBinaryOp?(op: string, out: S, outDtype: number, a: S, aDtype: number, aOffset: number, aStrides: number[], b: S, bDtype: number, bOffset: number, bStrides: number[], shape: number[], stream: number): void;
    cudaUnaryOp?(op: string, out: S, outDtype: number, x: S, xDtype: number, n: number, stream: number): void;
    cudaScalarOp?(op: string, out: S, outDtype: number, x: S, xDtype: number, scalar: number, n: number, scalarFirst: boolean, stream: number): void;
    cudaClamp?(out: S, outDtype: number, x: S, xDtype: number, n: number, lo: number, hi: number, stream: number): void;
    cudaModulate?(out: S, outDtype: number, x: S, xDtype: number, scale: S, shift: S, modDtype: number, batch: number, tokens: number, dim: number, scaleOffset: number, shiftOffset: number, modStride: number, stream: number): void;
    cudaCopyStrided?(dst: S, dstDtype: number, dstOffset: number, dstStrides: number[], src: S, srcDtype: number, srcOffset: number, srcStrides: number[], shape: number[], stream: number): void;
    cudaFillPattern?(dst: S, elemBytes: number, offset: number, n: number, pattern: number, stream: number): void;
    cudaLayerNorm?(out: S, outDtype: number, x: S, xDtype: number, weight: Opt, bias: Opt, paramDtype: number, rows: number, cols: number, eps: number, stream: number): void;
    cudaRmsNorm?(out: S, outDtype: number, x: S, xDtype: number, weight: Opt, weightDtype: number, rows: number, cols: number, eps: number, stream: number): void;
    cudaSoftmax?(out: S, outDtype: number, x: S, xDtype: number, rows: number, cols: number, stream: number): void;
    cudaSdpa?(out: S, outDtype: number, q: S, k: S, v: S, qkvDtype: number, batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number, stream: number): void;
    cudaRope?(out: S, outDtype: number, x: S, xDtype: number, cos: S, sin: S, batch: number, heads: number, seq: number, headDim: number, stream: number): void;
    cudaQuantize?(src: S, srcDtype: number, rows: number, cols: number, groupSize: number, qdata: S, qdtype: number, scale: S, zero: Opt, asymmetric: boolean, qmin: number, qmax: number, stream: number): void;
    cudaDequantize?(qdata: S, qdtype: number, scale: S, zero: Opt, rows: number, cols: number, groupSize: number, scaleRowStride: number, out: S, outDtype: number, stream: number): void;
    cudaMatmul?(out: S, outDtype: number, a: S, aDtype: number, b: S, bDtype: number, bias: Opt, biasDtype: number, M: number, N: number, K: number, transB: boolean, stream: number): void;
    cudaInt8Gemm?(out: S, outDtype: number, xq: S, xScale: S, wq: S, wScale: S, wScaleStride: number, bias: Opt, biasDtype: number, M: number, N: number, K: number, stream: number): void;
    cudaFp8Gemm?(out: S, outDtype: number, xq: S, xScale: S, xScaleShared: boolean, wq: S, wScale: S, wScaleStride: number, bias: Opt, biasDtype: number, M: number, N: number, K: number, stream: number): void;
    cudaMatmulQuantB?(out: S, outDtype: number, a: S, aDtype: number, aRowScale: Opt, qdata: S, qdtype: number, scale: S, zero: Opt, scaleRowStride: number, groupSize: number, bias: Opt, biasDtype: number, M: number, N: number, K: number, stream: number): void;
  }
}

export {};
