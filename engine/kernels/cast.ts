// dtype conversions (engine/native/src/cast.cpp), bit-exact with PyTorch's
// CPU casts. Parallel, vectorised for float32/float16/bfloat16/float8 where
// the CPU allows it (every level writes identical bytes).
import { dtypeCode, type DType } from "../dtype.js";
import { native, type NativeStorage } from "../native-binding.js";

declare module "../native-binding.js" {
  interface NativeBinding {
    cast(
      src: NativeStorage, srcDtype: number, srcOffset: number,
      dst: NativeStorage, dstDtype: number, dstOffset: number,
      n: number, saturate: boolean,
    ): void;
  }
}

/**
 * Converts `n` elements of `src` (from element `srcOffset`) into `dst` (from
 * element `dstOffset`). Offsets count elements; for packed dtypes (int4,
 * fp6_e3m2, fp5_e2m2, fp4_e2m1) they address elements of the little-endian
 * bit stream (element i at bits [i*b, (i+1)*b)), and elements of `dst` outside
 * the range keep their bits even when they share a byte with it.
 *
 * Float to float rounds to nearest, ties to even, as PyTorch does (formats
 * other than float32 convert through float32):
 * - saturate=false: float16, bfloat16 and float8_e5m2 overflow to inf
 *   (float16 from 65520, e5m2 from 61440); float8_e4m3fn has no inf and gives
 *   NaN (0x7f | sign) above 464 and for inf.
 * - saturate=true: finite values and inf are clamped to +-max of the target
 *   first (448 for e4m3fn, 57344 for e5m2, 65504 for float16; float32 targets
 *   clamp only inf); NaN stays NaN.
 * - fp6_e3m2 / fp5_e2m2 / fp4_e2m1 have no inf or NaN: magnitudes beyond max
 *   (28 / 7 / 6) saturate to +-max either way, and NaN becomes +0.
 * - NaN bits: e4m3fn/e5m2 NaN is 0x7f | sign; float16/bfloat16 keep the sign
 *   and top payload bits with the quiet bit set. Decoding, float16/e5m2 NaNs
 *   become quiet float32 NaNs with the payload kept, e4m3fn NaN becomes
 *   0x7ff00000 | sign (PyTorch's bits), bfloat16 is a plain shift.
 *
 * Float to int8/uint8/int32/int4 truncates toward zero. saturate=false keeps
 * PyTorch's x86 results: 8- and 4-bit targets take the low bits of the
 * truncated value (NaN, inf, |x| >= 2^63 give 0); int32 gives -2^31 for NaN,
 * inf and values outside [-2^31, 2^31). saturate=true clamps to the target's
 * range and sends NaN to 0. Int to int wraps (saturate=false) or clamps.
 * Int to float converts to float32 first (RNE above 2^24), then to the target.
 * The same dtype with saturate=false copies bits.
 *
 * `src` and `dst` may be the same storage only if the ranges are disjoint or
 * the conversion is in place (same element width and offset).
 * Throws a TypeError for an unknown dtype, a disposed storage or a bad
 * argument, and a RangeError when a range does not fit its storage.
 */
export function cast(
  src: NativeStorage, srcDtype: DType, srcOffset: number,
  dst: NativeStorage, dstDtype: DType, dstOffset: number,
  n: number, saturate: boolean,
): void {
  native.cast(src, dtypeCode(srcDtype), srcOffset, dst, dtypeCode(dstDtype), dstOffset, n, saturate);
}
