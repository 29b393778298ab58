// The scalar element codecs of the engine's float formats, in one copy that
// both the CPU kernels and the CUDA kernels call: float32 bits, bfloat16,
// float16, float8_e4m3fn / float8_e5m2 (PyTorch's c10 algorithms), the fpx
// sub-byte floats fp6_e3m2 / fp5_e2m2 / fp4_e2m1 (torchao), the saturating
// clamp and the float -> integer truncations (x86 PyTorch). cast.cpp states
// the semantics in full; test/engine/casts-*.test.ts pins them.
//
// Under nvcc every function is __host__ __device__, so device code runs the
// very bits the CPU runs (memcpy and ldexpf exist on both sides; std::memcpy
// and std::ldexp do not). The vectorised cast/quant paths (cast_simd.h,
// quant_avx*.cpp) are separate vector algorithms checked against these.
//
// Internal linkage on purpose (anonymous namespace): *_avx2.cpp / *_avx512.cpp
// include this header through dtype.h with wider instruction sets, and an
// out-of-line copy of an inline function from such a file could otherwise be
// linked into portable code (ODR merging).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define VL_HD __host__ __device__ __forceinline__
#else
#define VL_HD inline
#endif

namespace vl {
namespace hd {  // host and device
namespace {

VL_HD uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
VL_HD float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

constexpr uint32_t kF32AbsMask = 0x7fffffffu;
constexpr uint32_t kF32InfBits = 0x7f800000u;

// Largest finite values, the clamp bounds of saturating casts.
constexpr float kF32Max = 3.40282347e38f;
constexpr float kBf16Max = 3.38953139e38f;  // 0x7f7f
constexpr float kF16Max = 65504.0f;
constexpr float kE4m3fnMax = 448.0f;
constexpr float kE5m2Max = 57344.0f;

// Clamp of saturating casts; comparisons are false for NaN, which passes.
VL_HD float clamp_magnitude(float x, float max) { return x > max ? max : (x < -max ? -max : x); }

// ---- bfloat16 / float16 ------------------------------------------------------

// bfloat16: round-to-nearest-even, NaN stays NaN (quiet), as PyTorch does.
VL_HD uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & kF32AbsMask) > kF32InfBits) return static_cast<uint16_t>((u >> 16) | 0x40);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}
VL_HD float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

// IEEE half: round-to-nearest-even, overflow to inf, subnormals kept.
VL_HD uint16_t f32_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & kF32AbsMask;
  if (ax > kF32InfBits) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520 -> inf
  if (ax < 0x38800000u) {  // result is subnormal or zero: add 0.5 so hardware rounding does RNE
    float r = bits_f32(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (f32_bits(r) - 0x3f000000u));
  }
  uint32_t mant_odd = (ax >> 13) & 1u;
  ax += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
  return static_cast<uint16_t>(sign | (ax >> 13));
}
VL_HD float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // 2^-24
    return sign ? -v : v;
  }
  // inf stays inf; NaN keeps its payload and is made quiet, as F16C's vcvtph2ps
  // and PyTorch's vectorised CPU cast do (a signalling NaN must not survive).
  if (exp == 31) return bits_f32(sign | kF32InfBits | (mant << 13) | (mant ? 0x400000u : 0u));
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

// ---- small float formats (float8, fpx) ------------------------------------------

// A float format with 1 sign bit, E exponent bits (bias 2^(E-1)-1) and M
// mantissa bits: the rounding and decoding its finite values share. PyTorch's
// float8 algorithms and torchao's fpx rounding are the same computation and
// differ only in what lies beyond the largest value (the callers' job).
template <int E, int M>
struct FloatFormat {
  static constexpr int kBias = (1 << (E - 1)) - 1;
  // float32 bits of the smallest normal value
  static constexpr uint32_t kMinNormalBits = static_cast<uint32_t>(1 - kBias + 127) << 23;
  // a float32 whose ulp is the format's subnormal step
  static constexpr uint32_t kDenormMagic = static_cast<uint32_t>((127 - kBias) + (23 - M) + 1) << 23;

  // Rounding of float32 magnitude bits `a` (sign cleared, below the overflow
  // threshold) to the nearest even magnitude code. Below the smallest normal
  // value a float add of the magic constant rounds onto the subnormal grid
  // (hardware RNE); above it the exponent is rebiased and half an ulp (less
  // one, plus the kept lowest bit) added in integer arithmetic.
  VL_HD static uint32_t round_subnormal(uint32_t a) {
    return f32_bits(bits_f32(a) + bits_f32(kDenormMagic)) - kDenormMagic;
  }
  VL_HD static uint32_t round_normal(uint32_t a) {
    uint32_t mant_odd = (a >> (23 - M)) & 1u;
    return (a + (static_cast<uint32_t>(kBias - 127) << 23) + ((1u << (22 - M)) - 1) + mant_odd) >> (23 - M);
  }
  // Both roundings computed and one selected: no branch for random data to
  // defeat, and the loops vectorise (a NaN's float add is harmless; callers
  // discard it).
  VL_HD static uint32_t round_magnitude(uint32_t a) {
    uint32_t denormal = round_subnormal(a), normal = round_normal(a);
    return a < kMinNormalBits ? denormal : normal;
  }
  // The value of a finite code (sign in bit E + M), exact.
  VL_HD static float decode_finite(uint32_t code) {
    uint32_t exp = (code >> M) & ((1u << E) - 1), mant = code & ((1u << M) - 1);
    float v = exp == 0 ? ldexpf(static_cast<float>(mant), 1 - kBias - M)
                       : ldexpf(static_cast<float>((1u << M) | mant), static_cast<int>(exp) - kBias - M);
    return (code >> (E + M)) & 1u ? -v : v;
  }
};
using Float8E4M3 = FloatFormat<4, 3>;
using Float8E5M2 = FloatFormat<5, 2>;

// c10/util/Float8_e4m3fn.h: no inf; magnitudes from 480 (the first past max
// once rounded; inf and NaN included) give NaN 0x7f | sign.
constexpr uint32_t kE4m3fnFirstNanBits = 1087u << 20;  // 480.0f
VL_HD uint8_t f32_to_e4m3fn(float f) {
  uint32_t bits = f32_bits(f);
  uint32_t sign = bits & ~kF32AbsMask;
  uint32_t a = bits ^ sign, r;
  if (a >= kE4m3fnFirstNanBits) r = 0x7fu;
  else if (a < Float8E4M3::kMinNormalBits) r = Float8E4M3::round_subnormal(a);
  else r = Float8E4M3::round_normal(a);
  return static_cast<uint8_t>(r | (sign >> 24));
}
// The saturating cast (f32_to_e4m3fn(clamp_magnitude(f, 448))) on the bits:
// |f| > 448 and inf become 448, NaN stays NaN. Branch-free: the quantisers'
// encode loops vectorise it.
VL_HD uint8_t f32_to_e4m3fn_saturated(float f) {
  constexpr uint32_t kMaxBits = 0x43e00000u;  // 448.0f
  uint32_t bits = f32_bits(f);
  uint32_t sign = bits & ~kF32AbsMask;
  uint32_t a = bits ^ sign;
  a = (a > kMaxBits && a <= kF32InfBits) ? kMaxBits : a;
  uint32_t r = a >= kE4m3fnFirstNanBits ? 0x7fu : Float8E4M3::round_magnitude(a);
  return static_cast<uint8_t>(r | (sign >> 24));
}
// NaN (0x7f / 0xff) decodes to 0x7ff00000 | sign, the bits PyTorch produces.
VL_HD float e4m3fn_to_f32(uint8_t c) {
  if ((c & 0x7f) == 0x7f) return bits_f32((static_cast<uint32_t>(c & 0x80) << 24) | 0x7ff00000u);
  return Float8E4M3::decode_finite(c);
}

// c10/util/Float8_e5m2.h: magnitudes from 65536 (the first past max once
// rounded, so [61440, 65536) rounds up to it) give inf 0x7c, NaN 0x7f.
VL_HD uint8_t f32_to_e5m2(float f) {
  constexpr uint32_t kFirstInf = 143u << 23;  // 65536.0f
  uint32_t bits = f32_bits(f);
  uint32_t sign = bits & ~kF32AbsMask;
  uint32_t a = bits ^ sign, r;
  if (a >= kFirstInf) r = a > kF32InfBits ? 0x7fu : 0x7cu;
  else if (a < Float8E5M2::kMinNormalBits) r = Float8E5M2::round_subnormal(a);
  else r = Float8E5M2::round_normal(a);
  return static_cast<uint8_t>(r | (sign >> 24));
}
// e5m2 is the top byte of a float16 (PyTorch decodes it that way too).
VL_HD float e5m2_to_f32(uint8_t c) { return f16_to_f32(static_cast<uint16_t>(c << 8)); }

// torchao's fpx formats (MX element formats), no inf or NaN: round to nearest
// even, magnitudes beyond max (and inf) saturate to +-max, NaN becomes +0.
template <int E, int M>
struct SubByteFloat : FloatFormat<E, M> {
  using Format = FloatFormat<E, M>;
  static constexpr unsigned kBits = 1 + E + M;
  static constexpr uint32_t kMaxMagnitudeCode = (1u << (E + M)) - 1;
  static constexpr int kMaxExp = (1 << E) - 1 - Format::kBias;
  // float32 bits of the largest value
  static constexpr uint32_t kMaxBits = (static_cast<uint32_t>(kMaxExp + 127) << 23) | (((1u << M) - 1) << (23 - M));

  VL_HD static uint8_t encode(float f) {
    uint32_t bits = f32_bits(f);
    uint32_t sign = bits >> 31;
    uint32_t a = bits & kF32AbsMask;
    uint32_t r = a >= kMaxBits ? kMaxMagnitudeCode : Format::round_magnitude(a);
    r |= sign << (E + M);
    return static_cast<uint8_t>(a > kF32InfBits ? 0u : r);
  }
  VL_HD static float decode(uint32_t code) { return Format::decode_finite(code); }
};
using Fp6E3M2 = SubByteFloat<3, 2>;
using Fp5E2M2 = SubByteFloat<2, 2>;
using Fp4E2M1 = SubByteFloat<2, 1>;

// ---- float -> integer (x86 PyTorch) ---------------------------------------------

// Truncated value whose low bits an 8- or 4-bit target keeps (x86 PyTorch
// converts through int64; every float32 >= 2^31 has its low 8 bits zero).
VL_HD int64_t truncate_wide(float x) { return fabsf(x) < 0x1p63f ? static_cast<int64_t>(x) : 0; }
// x86's cvttss2si: out of range (NaN, inf included) gives INT32_MIN.
VL_HD int32_t truncate_int32(float x) { return (x >= -0x1p31f && x < 0x1p31f) ? static_cast<int32_t>(x) : INT32_MIN; }
// Branch-free: clamp in float (NaN lands on lo, then is replaced by 0),
// truncate, and clamp again because float(hi) rounds up to 2^31 for int32.
VL_HD int64_t truncate_clamped(float x, int64_t lo, int64_t hi) {
  const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
  float c = x > flo ? x : flo;
  c = c < fhi ? c : fhi;
  int64_t t = static_cast<int64_t>(c);
  t = t < hi ? t : hi;
  return x == x ? t : 0;
}

}  // namespace
}  // namespace hd
}  // namespace vl
