// Quantization kernels (engine/native/src/quant*.cpp, int8_gemm*.cpp):
// per-group quantize / dequantize in torchao's formulas, a matmul with a
// quantized weight ("dequantize while packing") and an exact int8 GEMM.
//
// Conventions: a weight is [rows = N, cols = K] row-major; groups are runs of
// `groupSize` consecutive elements of a row (groupSize divides cols); scale and
// zero are float32 [rows, cols / groupSize]. Per-tensor quantization is
// rows = 1, cols = numel, groupSize = cols. Codes are stored packed: element i
// at bits [i*b, (i+1)*b) of a little-endian bit stream (int4 = two's
// complement nibbles, element 0 in the low nibble; fp6/fp5/fp4 as the cast
// kernel packs them). Every CPU level (VRAMLAB_CPU) writes identical bytes.
import { dtypeCode, type DType } from "../dtype.js";
import { native, type NativeStorage } from "../native-binding.js";

declare module "../native-binding.js" {
  interface NativeBinding {
    quantize(
      src: NativeStorage, srcDtype: number, rows: number, cols: number, groupSize: number,
      qdata: NativeStorage, qdtype: number, scale: NativeStorage, zero: NativeStorage | null,
      asymmetric: boolean, qmin: number, qmax: number,
    ): void;
    dequantize(
      qdata: NativeStorage, qdtype: number, scale: NativeStorage, zero: NativeStorage | null,
      rows: number, cols: number, groupSize: number, scaleRowStride: number, out: NativeStorage, outDtype: number,
    ): void;
    matmulQuantB(
      out: NativeStorage, outDtype: number, a: NativeStorage, aDtype: number, aRowScale: NativeStorage | null,
      qdata: NativeStorage, qdtype: number, scale: NativeStorage, zero: NativeStorage | null, scaleRowStride: number, groupSize: number,
      bias: NativeStorage | null, biasDtype: number, M: number, N: number, K: number,
    ): void;
    int8Gemm(
      out: NativeStorage, outDtype: number, xq: NativeStorage, xScale: NativeStorage,
      wq: NativeStorage, wScale: NativeStorage, wScaleStride: number, bias: NativeStorage | null, biasDtype: number,
      M: number, N: number, K: number,
    ): void;
    int8GemmInfo(): Int8GemmInfo;
  }
}

export type QuantMode = "symmetric" | "asymmetric";

/** The int8 GEMM build in use: "avx512-vnni", "avx2" or "portable", and its micro-tile. */
export interface Int8GemmInfo {
  path: "avx512-vnni" | "avx2" | "portable";
  mr: number;
  nr: number;
}

/**
 * Computes per-group scales (and zero points for asymmetric) and quantizes src into qdata.
 *
 * Formulas (float32, each step rounded once; round = half to even; eps = 2^-23):
 * - symmetric, qdtype int8 / int4: amax = max|x| per group; scale = max(amax / ((qmax - qmin) / 2), eps);
 *   q = clamp(round(x / scale), qmin, qmax). torchao's int8 weights use [-128, 127] (scale = amax / 127.5),
 *   its dynamic int8 activations [-127, 127]. `zero` must be null.
 * - symmetric, qdtype float8_e4m3fn / fp6_e3m2 / fp5_e2m2 / fp4_e2m1 (qmin, qmax ignored: pass 0, 0):
 *   scale = max(amax / fmax, 1e-12) with fmax = 448 / 28 / 7 / 6; q = the saturating round-to-nearest-even
 *   cast of float32(x / scale), exactly as cast(..., saturate=true).
 * - asymmetric (torchao's int4 "tinygemm" grid; qdtype int4 with [0, 15], or int8 with [0, 255]):
 *   minNeg = min(min x, 0); maxPos = max(max x, 0); scale = max((maxPos - minNeg) / (qmax - qmin), eps);
 *   mid = (qmin + qmax + 1) / 2; zero = minNeg + scale * mid (a float zero point in the value domain);
 *   q = clamp(round((x - (zero - scale * mid)) / scale), qmin, qmax), torchao's order of operations;
 *   stored as the signed code q - mid. Dequantized value: stored * scale + zero.
 * A NaN in a group makes its scale NaN (as torch.amax); NaN elements get integer code 0.
 * Throws a TypeError for a bad dtype, mode or range, or groupSize not dividing cols; a RangeError when a
 * storage is too small. Storages must be distinct.
 */
export function quantize(
  src: NativeStorage, srcDtype: DType, rows: number, cols: number, groupSize: number,
  qdata: NativeStorage, qdtype: DType, scale: NativeStorage, zero: NativeStorage | null,
  mode: QuantMode, qmin: number, qmax: number,
): void {
  if (mode !== "symmetric" && mode !== "asymmetric") throw new TypeError(`quantize: mode must be "symmetric" or "asymmetric", got ${String(mode)}`);
  native.quantize(src, dtypeCode(srcDtype), rows, cols, groupSize, qdata, dtypeCode(qdtype), scale, zero, mode === "asymmetric", qmin, qmax);
}

/**
 * out[rows, cols] = dequantized values in outDtype (float32 / float16 / bfloat16): symmetric integer
 * q * scale; float formats decode(q) * scale; with a zero point stored * scale + zero (rounded after the
 * product and after the sum, never fused). The scale of row r, group g is scale[r * scaleRowStride + g]:
 * scaleRowStride is cols / groupSize normally, 0 when all rows share one row of scales (per-tensor scale
 * with groupSize = cols).
 */
export function dequantize(
  qdata: NativeStorage, qdtype: DType, scale: NativeStorage, zero: NativeStorage | null,
  rows: number, cols: number, groupSize: number, scaleRowStride: number, out: NativeStorage, outDtype: DType,
): void {
  native.dequantize(qdata, dtypeCode(qdtype), scale, zero, rows, cols, groupSize, scaleRowStride, out, dtypeCode(outDtype));
}

/**
 * out[M,N] = rowScale[m] * (a[M,K] @ dequant(B)[N,K]^T) + bias[N]; rowScale (float32 [M]) optional (null = 1).
 * B is a quantized weight as dequantize() reads it (rows = N, cols = K). Blocks of B's rows are
 * dequantized into a float32 scratch and multiplied with the float32 GEMM, so the product is
 * bit-identical to dequantize() into a float32 weight followed by matmul(..., transB = true). The
 * epilogue is applied once per element: v = acc, v = float32(rowScale[m] * v), v = float32(v + bias[n]),
 * then rounded to outDtype.
 */
export function matmulQuantB(
  out: NativeStorage, outDtype: DType, a: NativeStorage, aDtype: DType, aRowScale: NativeStorage | null,
  qdata: NativeStorage, qdtype: DType, scale: NativeStorage, zero: NativeStorage | null, scaleRowStride: number, groupSize: number,
  bias: NativeStorage | null, biasDtype: DType, M: number, N: number, K: number,
): void {
  native.matmulQuantB(out, dtypeCode(outDtype), a, dtypeCode(aDtype), aRowScale, qdata, dtypeCode(qdtype), scale, zero,
    scaleRowStride, groupSize, bias, dtypeCode(biasDtype), M, N, K);
}

/**
 * out[M,N] = (int32 sum_k xq[m,k]*wq[n,k]) * xScale[m] * wScale[n * wScaleStride] + bias[n].
 * xq [M,K] and wq [N,K] are int8; the sums are exact int32 (K <= 131071, else a RangeError); the
 * epilogue is float32 left to right: float32(acc) * xScale[m], then * wScale[n * wScaleStride], then
 * + bias[n], each rounded, then rounded to outDtype. wScaleStride is 1 for per-row weight scales, 0 for
 * a per-tensor scale. Uses AVX-512 VNNI, AVX2 or portable code (identical results).
 */
export function int8Gemm(
  out: NativeStorage, outDtype: DType, xq: NativeStorage, xScale: NativeStorage,
  wq: NativeStorage, wScale: NativeStorage, wScaleStride: number, bias: NativeStorage | null, biasDtype: DType,
  M: number, N: number, K: number,
): void {
  native.int8Gemm(out, dtypeCode(outDtype), xq, xScale, wq, wScale, wScaleStride, bias, dtypeCode(biasDtype), M, N, K);
}

/** Which int8 GEMM build runs on this CPU (VRAMLAB_CPU caps it). */
export function int8GemmInfo(): Int8GemmInfo {
  return native.int8GemmInfo();
}
