// dtype codes shared with engine/dtype.ts (keep the numbers in sync) and
// typed access to float activations stored as float32/float16/bfloat16.
#pragma once
#include <cstddef>
#include <cstdint>
#include "codecs.h"

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

// The scalar conversions every kernel uses for float16/bfloat16 storage come
// from codecs.h (one copy for host and device code, internal linkage).
using hd::f32_bits;
using hd::bits_f32;
using hd::f32_to_bf16;
using hd::bf16_to_f32;
using hd::f32_to_f16;
using hd::f16_to_f32;

// Anonymous namespace: every translation unit gets its own copy, so an
// out-of-line copy compiled in an *_avx512.cpp file can never be linked into
// portable code (ODR merging of inline functions).
namespace {

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
