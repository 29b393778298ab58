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

/** The GEMM build in use (instruction set and block sizes). */
export function gemmInfo(): GemmInfo {
  return native.gemmInfo();
}
