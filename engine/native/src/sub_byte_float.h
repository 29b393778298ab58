// The sub-byte float formats fp6_e3m2, fp5_e2m2, fp4_e2m1 (torchao's fpx):
// encode (round to nearest even, saturating, NaN -> +0) and decode. Shared by
// the cast and quantization kernels; internal linkage because *_avx*.cpp
// files include it too.
#pragma once
#include <cmath>
#include <cstdint>
#include "dtype.h"

namespace vl {
namespace {

template <int E, int M>
struct SubByteFloat {
  static constexpr int kBias = (1 << (E - 1)) - 1;
  static constexpr unsigned kBits = 1 + E + M;
  static constexpr uint32_t kMaxMagnitudeCode = (1u << (E + M)) - 1;
  static constexpr int kMaxExp = (1 << E) - 1 - kBias;
  // float32 bits of the largest value and of the smallest normal one
  static constexpr uint32_t kMaxBits = (static_cast<uint32_t>(kMaxExp + 127) << 23) | (((1u << M) - 1) << (23 - M));
  static constexpr uint32_t kMinNormalBits = static_cast<uint32_t>(1 - kBias + 127) << 23;
  static constexpr uint32_t kDenormMagic = static_cast<uint32_t>((127 - kBias) + (23 - M) + 1) << 23;

  // Every candidate is computed and one selected (no branches: random data
  // would defeat the predictor). NaN's float add is harmless and discarded.
  static uint8_t encode(float f) {
    uint32_t bits = f32_bits(f);
    uint32_t sign = bits >> 31;
    uint32_t a = bits & 0x7fffffffu;
    uint32_t denormal = f32_bits(bits_f32(a) + bits_f32(kDenormMagic)) - kDenormMagic;
    uint32_t mant_odd = (a >> (23 - M)) & 1u;
    uint32_t normal = (a + (static_cast<uint32_t>(kBias - 127) << 23) + ((1u << (22 - M)) - 1) + mant_odd) >> (23 - M);
    uint32_t r = a >= kMaxBits ? kMaxMagnitudeCode : (a < kMinNormalBits ? denormal : normal);  // beyond max: saturate
    r |= sign << (E + M);
    return static_cast<uint8_t>(a > 0x7f800000u ? 0u : r);  // NaN -> +0: the format has no NaN
  }
  static float decode(uint32_t code) {
    uint32_t exp = (code >> M) & ((1u << E) - 1), mant = code & ((1u << M) - 1);
    float v = exp == 0 ? std::ldexp(static_cast<float>(mant), 1 - kBias - M)
                       : std::ldexp(static_cast<float>((1u << M) | mant), static_cast<int>(exp) - kBias - M);
    return (code >> (E + M)) & 1u ? -v : v;
  }
};
using Fp6E3M2 = SubByteFloat<3, 2>;
using Fp5E2M2 = SubByteFloat<2, 2>;
using Fp4E2M1 = SubByteFloat<2, 1>;

}  // namespace
}  // namespace vl
