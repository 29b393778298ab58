// Normalisations over the last dim (engine/native/src/norm.cpp): LayerNorm,
// RMSNorm and softmax on float32/float16/bfloat16 rows of `cols` values.
// Row statistics are accumulated in double (LayerNorm: two-pass mean, then
// biased variance), the normalised values computed in float32, rounded once.
import { dtypeCode, type DType } from "../dtype.js";
import { native, type NativeStorage } from "../native-binding.js";

declare module "../native-binding.js" {
  interface NativeBinding {
    layerNorm(
      out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number,
      weight: NativeStorage | null, bias: NativeStorage | null, paramDtype: number,
      rows: number, cols: number, eps: number,
    ): void;
    rmsNorm(
      out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number,
      weight: NativeStorage | null, weightDtype: number, rows: number, cols: number, eps: number,
    ): void;
    softmax(out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number, rows: number, cols: number): void;
  }
}

/** PyTorch LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * weight + bias, biased variance. */
export function layerNorm(
  out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType,
  weight: NativeStorage | null, bias: NativeStorage | null, paramDtype: DType,
  rows: number, cols: number, eps: number,
): void {
  native.layerNorm(out, dtypeCode(outDtype), x, dtypeCode(xDtype), weight, bias, dtypeCode(paramDtype), rows, cols, eps);
}

/**
 * diffusers' RMSNorm: variance = mean(x.float()^2), h = x * rsqrt(variance + eps)
 * in float32; with a weight, h is rounded to the weight's dtype when that is
 * float16/bfloat16 and multiplied by it (without one, rounded to xDtype).
 */
export function rmsNorm(
  out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType,
  weight: NativeStorage | null, weightDtype: DType, rows: number, cols: number, eps: number,
): void {
  native.rmsNorm(out, dtypeCode(outDtype), x, dtypeCode(xDtype), weight, dtypeCode(weightDtype), rows, cols, eps);
}

/** Numerically stable softmax over the last dim: exp(x - max) / sum. */
export function softmax(out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType, rows: number, cols: number): void {
  native.softmax(out, dtypeCode(outDtype), x, dtypeCode(xDtype), rows, cols);
}
