// CPU matrix multiply (engine/native/src/gemm*.cpp): fp32 accumulation,
// operands and output in float32/float16/bfloat16.
import { dtypeCode, type DType } from "../dtype.js";
import { native, type NativeStorage } from "../native-binding.js";

/** Blocking of the GEMM build chosen for this CPU (see gemm_driver.h). */
export interface GemmInfo {
  level: "avx512" | "avx2" | "portable";
  /** micro-tile rows (of A / C) and columns (of B / C) */
  mr: number;
  nr: number;
  /** cache blocks: K per packed panel, columns of B per packed block, rows per A block */
  kc: number;
  nc: number;
  mc: number;
  /** a Linear (transB) product with at most this many rows takes the dot-product path, which never packs the weight */
  gemvMaxRows: number;
}

declare module "../native-binding.js" {
  interface NativeBinding {
    matmul(
      out: NativeStorage, outDtype: number,
      a: NativeStorage, aDtype: number,
      b: NativeStorage, bDtype: number,
      bias: NativeStorage | null, biasDtype: number,
      M: number, N: number, K: number, transB: boolean,
    ): void;
    gemmF32(
      M: number, N: number, K: number,
      a: NativeStorage, aOffset: number, lda: number,
      b: NativeStorage, bOffset: number, ldb: number, transB: boolean,
      c: NativeStorage, cOffset: number, ldc: number, accumulate: boolean,
    ): void;
    gemmInfo(): GemmInfo;
    gemmPackedBFloats(N: number, K: number): number;
    gemmPackB(dst: NativeStorage, b: NativeStorage, bDtype: number, N: number, K: number): void;
    matmulPackedB(
      out: NativeStorage, outDtype: number,
      a: NativeStorage, aDtype: number,
      b: NativeStorage, bDtype: number,
      packed: NativeStorage,
      bias: NativeStorage | null, biasDtype: number,
      M: number, N: number, K: number,
    ): void;
  }
}

/**
 * out[M,N] = a[M,K] @ op(b) + bias[N], where op(b) is b[K,N], or the
 * transpose of b[N,K] when `transB` (a Linear's weight W[N,K]). Accumulates
 * in float32; float16/bfloat16 operands are widened while packing and the
 * output is rounded to nearest-even once. `out` must not share storage with
 * `a` or `b`. Runs on the engine's thread pool.
 */
export function matmul(
  out: NativeStorage, outDtype: DType,
  a: NativeStorage, aDtype: DType,
  b: NativeStorage, bDtype: DType,
  bias: NativeStorage | null, biasDtype: DType,
  M: number, N: number, K: number, transB: boolean,
): void {
  native.matmul(out, dtypeCode(outDtype), a, dtypeCode(aDtype), b, dtypeCode(bDtype), bias, dtypeCode(biasDtype), M, N, K, transB);
}

/**
 * float32 GEMM on strided views (the C++ gemm_f32): c[M,N] = a[M,K] @ op(b),
 * or += when `accumulate`. Each operand is a row-major view starting at an
 * element offset with its own leading dimension (lda >= K; ldb >= K when
 * transB (b is [N,K]), else >= N; ldc >= N), so blocks of larger tensors
 * (heads, batches) are multiplied in place. `c` must not overlap `a` or `b`.
 */
export function gemmF32(
  M: number, N: number, K: number,
  a: NativeStorage, aOffset: number, lda: number,
  b: NativeStorage, bOffset: number, ldb: number, transB: boolean,
  c: NativeStorage, cOffset: number, ldc: number, accumulate: boolean,
): void {
  native.gemmF32(M, N, K, a, aOffset, lda, b, bOffset, ldb, transB, c, cOffset, ldc, accumulate);
}

/**
 * float32 elements of a Linear weight b[N,K] prepacked for this CPU's GEMM
 * (K x N rounded up to whole micro-tile columns).
 */
export function packedWeightFloats(N: number, K: number): number {
  return native.gemmPackedBFloats(N, K);
}

/**
 * Packs a Linear weight b[N,K] into `dst` (packedWeightFloats(N, K) float32s)
 * in the panel layout the GEMM would otherwise build on every call: float32
 * (float16/bfloat16 widened), K in the driver's cache blocks, NR columns per panel.
 */
export function packWeight(dst: NativeStorage, b: NativeStorage, bDtype: DType, N: number, K: number): void {
  native.gemmPackB(dst, b, dtypeCode(bDtype), N, K);
}

/**
 * matmul(out, a, b, bias, M, N, K, transB = true) with b's panels read from
 * `packed` (packWeight of this b) instead of packed per call. Bit-identical
 * to matmul: every output element gets the same micro-kernel and K order
 * (and the split over threads is the same); b itself still serves products
 * of at most gemvMaxRows rows (the dot-product path).
 */
export function matmulPackedWeight(
  out: NativeStorage, outDtype: DType,
  a: NativeStorage, aDtype: DType,
  b: NativeStorage, bDtype: DType,
  packed: NativeStorage,
  bias: NativeStorage | null, biasDtype: DType,
  M: number, N: number, K: number,
): void {
  native.matmulPackedB(out, dtypeCode(outDtype), a, dtypeCode(aDtype), b, dtypeCode(bDtype), packed, bias, dtypeCode(biasDtype), M, N, K);
}

/** The GEMM build in use (instruction set and block sizes). */
export function gemmInfo(): GemmInfo {
  return native.gemmInfo();
}
