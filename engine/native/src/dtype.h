// dtype codes shared with engine/dtype.ts (keep the numbers in sync) and
// scalar conversions used by every kernel for float16/bfloat16 storage.
#pragma once
#include <cstdint>
#include <cstring>
#include <cmath>

namespace vl {

enum class DType : int32_t {
  float32 = 0,
  float16 = 1,
  bfloat16 = 2,
  float8_e4m3fn = 3,
  float8_e5m2 = 4,
  int8 = 5,
  uint8 = 6,
  int32 = 7,
  int4 = 8,       // packed, two per byte, element 0 in the low nibble
  fp6_e3m2 = 9,   // packed bit stream, element 0 in the lowest bits
  fp5_e2m2 = 10,
  fp4_e2m1 = 11,  // packed, two per byte, element 0 in the low nibble
};

// The converters live in an anonymous namespace so every translation unit
// gets its own copy: an out-of-line copy compiled in an *_avx512.cpp file can
// then never be linked into portable code (ODR merging of inline functions).
namespace {

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// bfloat16: round-to-nearest-even, NaN stays NaN (quiet), as PyTorch does.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

// IEEE half: round-to-nearest-even, overflow to inf, subnormals kept.
inline uint16_t f32_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520 -> inf
  if (ax < 0x38800000u) {  // result is subnormal or zero: add 0.5 so hardware rounding does RNE
    float r = bits_f32(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (f32_bits(r) - 0x3f000000u));
  }
  uint32_t mant_odd = (ax >> 13) & 1u;
  ax += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
  return static_cast<uint16_t>(sign | (ax >> 13));
}
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;  // 2^-24
    return sign ? -v : v;
  }
  // inf stays inf; NaN keeps its payload and is made quiet, as F16C's vcvtph2ps
  // and PyTorch's vectorised CPU cast do (a signalling NaN must not survive).
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0u));
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

// Typed element access for float activations stored as f32/f16/bf16.
template <DType D> struct Elem;
template <> struct Elem<DType::float32> {
  using T = float;
  static inline float load(const T* p, size_t i) { return p[i]; }
  static inline void store(T* p, size_t i, float v) { p[i] = v; }
};
template <> struct Elem<DType::float16> {
  using T = uint16_t;
  static inline float load(const T* p, size_t i) { return f16_to_f32(p[i]); }
  static inline void store(T* p, size_t i, float v) { p[i] = f32_to_f16(v); }
};
template <> struct Elem<DType::bfloat16> {
  using T = uint16_t;
  static inline float load(const T* p, size_t i) { return bf16_to_f32(p[i]); }
  static inline void store(T* p, size_t i, float v) { p[i] = f32_to_bf16(v); }
};

}  // namespace

inline bool is_float_activation(DType d) {
  return d == DType::float32 || d == DType::float16 || d == DType::bfloat16;
}

}  // namespace vl

// Calls body with a compile-time D for the float activation dtypes; throws otherwise.
#define VL_DISPATCH_FLOAT(dt, D, ...)                                              \
  switch (dt) {                                                                    \
    case ::vl::DType::float32: { constexpr ::vl::DType D = ::vl::DType::float32; __VA_ARGS__; break; } \
    case ::vl::DType::float16: { constexpr ::vl::DType D = ::vl::DType::float16; __VA_ARGS__; break; } \
    case ::vl::DType::bfloat16: { constexpr ::vl::DType D = ::vl::DType::bfloat16; __VA_ARGS__; break; } \
    default: throw std::invalid_argument("expected a float32, float16 or bfloat16 tensor"); \
  }
