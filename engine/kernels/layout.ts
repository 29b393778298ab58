// Layout kernels (engine/native/src/layout.cpp): one strided copy behind
// permute/transpose, slice/split/chunk, concat, expand and contiguous, plus fill.
import { dtypeCode, type DType } from "../dtype.js";
import { native, type NativeStorage } from "../native-binding.js";

declare module "../native-binding.js" {
  interface NativeBinding {
    copyStrided(
      dst: NativeStorage, dstDtype: number, dstOffset: number, dstStrides: number[],
      src: NativeStorage, srcDtype: number, srcOffset: number, srcStrides: number[],
      shape: number[],
    ): void;
    fill(dst: NativeStorage, dtype: number, offset: number, n: number, value: number): void;
  }
}

/**
 * dst[dstOffset + sum(i_k * dstStrides[k])] = src[srcOffset + sum(i_k * srcStrides[k])]
 * for every index of `shape` (rank <= 8; offsets and strides in elements,
 * non-negative). Converts between float32/float16/bfloat16 when the dtypes
 * differ (round to nearest even); same-dtype copies of any non-packed dtype
 * copy raw elements. A src stride of 0 broadcasts (expand); a dst stride of 0
 * on a dim longer than 1 is rejected. dst and src must not overlap unless
 * they are the same view.
 */
export function copyStrided(
  dst: NativeStorage, dstDtype: DType, dstOffset: number, dstStrides: number[],
  src: NativeStorage, srcDtype: DType, srcOffset: number, srcStrides: number[],
  shape: number[],
): void {
  native.copyStrided(dst, dtypeCode(dstDtype), dstOffset, dstStrides, src, dtypeCode(srcDtype), srcOffset, srcStrides, shape);
}

/**
 * Sets n elements from `offset` to `value` (non-packed dtypes). Floats round
 * to nearest even as PyTorch does (float8_e4m3fn: out of range -> NaN;
 * float8_e5m2: -> inf); integer dtypes need an integer in range.
 */
export function fill(dst: NativeStorage, dtype: DType, offset: number, n: number, value: number): void {
  native.fill(dst, dtypeCode(dtype), offset, n, value);
}
