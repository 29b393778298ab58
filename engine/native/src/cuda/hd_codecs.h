// Element codecs callable from host and device (__host__ __device__ under
// nvcc, plain inline functions under g++): the CUDA cast and quantization
// kernels call these, and cuda_host_checks.cpp runs the very same functions on
// the CPU so test/engine/cuda-codecs.test.ts proves them bit-identical to the
// cpu cast kernel (engine/native/src/cast.cpp) on every machine, GPU or not.
//
// They restate dtype.h / sub_byte_float.h / cast.cpp's scalar algorithms
// (those headers use std::memcpy / std::ldexp, which device code cannot
// call); the parity test is what keeps the two in step. To have literally one
// copy, dtype.h and sub_byte_float.h could include this header and alias its
// functions (a change to files this family does not own; see README.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cmath>
#include "../dtype.h"

#ifdef __CUDACC__
#define VL_HD __host__ __device__ __forceinline__
#else
#define VL_HD inline
#endif

namespace vl {
namespace hd {

VL_HD uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
VL_HD float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
VL_HD float clamp_magnitude(float x, float max) { return x > max ? max : (x < -max ? -max : x); }

constexpr float kBf16Max = 3.38953139e38f;
constexpr float kF16Max = 65504.0f;
constexpr float kE4m3fnMax = 448.0f;
constexpr float kE5m2Max = 57344.0f;
constexpr float kF32Max = 3.40282347e38f;

VL_HD uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}
VL_HD float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

VL_HD uint16_t f32_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (ax < 0x38800000u) {
    float r = bits_f32(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (f32_bits(r) - 0x3f000000u));
  }
  uint32_t mant_odd = (ax >> 13) & 1u;
  ax += 0xc8000fffu + mant_odd;
  return static_cast<uint16_t>(sign | (ax >> 13));
}
VL_HD float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0u));
  return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

VL_HD uint8_t f32_to_e4m3fn(float f) {
  constexpr uint32_t kFirstNan = 1087u << 20;
  constexpr uint32_t kDenormMagic = 141u << 23;
  constexpr uint32_t kMinNormal = 121u << 23;
  uint32_t bits = f32_bits(f);
  uint32_t sign = bits & 0x80000000u;
  bits ^= sign;
  uint8_t result;
  if (bits >= kFirstNan) {
    result = 0x7f;
  } else if (bits < kMinNormal) {
    result = static_cast<uint8_t>(f32_bits(bits_f32(bits) + bits_f32(kDenormMagic)) - kDenormMagic);
  } else {
    uint32_t mant_odd = (bits >> 20) & 1u;
    bits += (static_cast<uint32_t>(7 - 127) << 23) + 0x7ffffu + mant_odd;
    result = static_cast<uint8_t>(bits >> 20);
  }
  return static_cast<uint8_t>(result | (sign >> 24));
}
VL_HD uint8_t f32_to_e5m2(float f) {
  constexpr uint32_t kInf = 255u << 23;
  constexpr uint32_t kFirstInf = 143u << 23;
  constexpr uint32_t kDenormMagic = 134u << 23;
  constexpr uint32_t kMinNormal = 113u << 23;
  uint32_t bits = f32_bits(f);
  uint32_t sign = bits & 0x80000000u;
  bits ^= sign;
  uint8_t result;
  if (bits >= kFirstInf) {
    result = bits > kInf ? 0x7f : 0x7c;
  } else if (bits < kMinNormal) {
    result = static_cast<uint8_t>(f32_bits(bits_f32(bits) + bits_f32(kDenormMagic)) - kDenormMagic);
  } else {
    uint32_t mant_odd = (bits >> 21) & 1u;
    bits += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffffu + mant_odd;
    result = static_cast<uint8_t>(bits >> 21);
  }
  return static_cast<uint8_t>(result | (sign >> 24));
}
VL_HD float e4m3fn_to_f32(uint8_t c) {
  uint32_t exp = (c >> 3) & 15u, mant = c & 7u;
  if (exp == 15 && mant == 7) return bits_f32((static_cast<uint32_t>(c & 0x80) << 24) | 0x7ff00000u);
  float v = exp == 0 ? ldexpf(static_cast<float>(mant), -9) : ldexpf(static_cast<float>(8 + mant), static_cast<int>(exp) - 10);
  return (c & 0x80) ? -v : v;
}
VL_HD float e5m2_to_f32(uint8_t c) { return f16_to_f32(static_cast<uint16_t>(c << 8)); }

// torchao's fpx formats (no inf/NaN): RNE, saturating, NaN -> +0.
template <int E, int M>
struct SubByteFloatHD {
  static constexpr int kBias = (1 << (E - 1)) - 1;
  static constexpr unsigned kBits = 1 + E + M;
  static constexpr uint32_t kMaxMagnitudeCode = (1u << (E + M)) - 1;
  static constexpr int kMaxExp = (1 << E) - 1 - kBias;
  static constexpr uint32_t kMaxBits = (static_cast<uint32_t>(kMaxExp + 127) << 23) | (((1u << M) - 1) << (23 - M));
  static constexpr uint32_t kMinNormalBits = static_cast<uint32_t>(1 - kBias + 127) << 23;
  static constexpr uint32_t kDenormMagic = static_cast<uint32_t>((127 - kBias) + (23 - M) + 1) << 23;

  VL_HD static uint8_t encode(float f) {
    uint32_t bits = f32_bits(f);
    uint32_t sign = bits >> 31;
    uint32_t a = bits & 0x7fffffffu;
    uint32_t denormal = f32_bits(bits_f32(a) + bits_f32(kDenormMagic)) - kDenormMagic;
    uint32_t mant_odd = (a >> (23 - M)) & 1u;
    uint32_t normal = (a + (static_cast<uint32_t>(kBias - 127) << 23) + ((1u << (22 - M)) - 1) + mant_odd) >> (23 - M);
    uint32_t r = a >= kMaxBits ? kMaxMagnitudeCode : (a < kMinNormalBits ? denormal : normal);
    r |= sign << (E + M);
    return static_cast<uint8_t>(a > 0x7f800000u ? 0u : r);
  }
  VL_HD static float decode(uint32_t code) {
    uint32_t exp = (code >> M) & ((1u << E) - 1), mant = code & ((1u << M) - 1);
    float v = exp == 0 ? ldexpf(static_cast<float>(mant), 1 - kBias - M)
                       : ldexpf(static_cast<float>((1u << M) | mant), static_cast<int>(exp) - kBias - M);
    return (code >> (E + M)) & 1u ? -v : v;
  }
};
using Fp6 = SubByteFloatHD<3, 2>;
using Fp5 = SubByteFloatHD<2, 2>;
using Fp4 = SubByteFloatHD<2, 1>;

// ---- integers (x86 PyTorch semantics, see cast.cpp) ---------------------------
VL_HD int64_t truncate_wide(float x) { return fabsf(x) < 0x1p63f ? static_cast<int64_t>(x) : 0; }
VL_HD int32_t truncate_int32(float x) { return (x >= -0x1p31f && x < 0x1p31f) ? static_cast<int32_t>(x) : INT32_MIN; }
VL_HD int64_t truncate_clamped(float x, int64_t lo, int64_t hi) {
  const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
  float c = x > flo ? x : flo;
  c = c < fhi ? c : fhi;
  int64_t t = static_cast<int64_t>(c);
  t = t < hi ? t : hi;
  return x == x ? t : 0;
}
VL_HD bool is_integer(DType d) { return d == DType::int8 || d == DType::uint8 || d == DType::int32 || d == DType::int4; }
VL_HD void int_range(DType d, int64_t& lo, int64_t& hi) {
  switch (d) {
    case DType::int8: lo = -128; hi = 127; return;
    case DType::uint8: lo = 0; hi = 255; return;
    case DType::int32: lo = INT32_MIN; hi = INT32_MAX; return;
    default: lo = -8; hi = 7; return;
  }
}
VL_HD unsigned bits_of(DType d) {
  switch (d) {
    case DType::float32: case DType::int32: return 32;
    case DType::float16: case DType::bfloat16: return 16;
    case DType::fp6_e3m2: return 6;
    case DType::fp5_e2m2: return 5;
    case DType::int4: case DType::fp4_e2m1: return 4;
    default: return 8;
  }
}

// ---- raw codes in memory --------------------------------------------------------
// The code of element i (low bits_of(d) bits), packed types read from the bit stream.
VL_HD uint32_t load_code(const uint8_t* base, DType d, size_t i) {
  unsigned b = bits_of(d);
  if (b == 32) { uint32_t v; memcpy(&v, base + 4 * i, 4); return v; }
  if (b == 16) { uint16_t v; memcpy(&v, base + 2 * i, 2); return v; }
  if (b == 8) return base[i];
  size_t pos = i * b, byte = pos >> 3;
  unsigned shift = pos & 7;
  uint32_t word = base[byte];
  if (shift + b > 8) word |= static_cast<uint32_t>(base[byte + 1]) << 8;
  return (word >> shift) & ((1u << b) - 1);
}
// Read-modify-write for packed types: callers must own every byte element i touches.
VL_HD void store_code(uint8_t* base, DType d, size_t i, uint32_t code) {
  unsigned b = bits_of(d);
  if (b == 32) { memcpy(base + 4 * i, &code, 4); return; }
  if (b == 16) { uint16_t v = static_cast<uint16_t>(code); memcpy(base + 2 * i, &v, 2); return; }
  if (b == 8) { base[i] = static_cast<uint8_t>(code); return; }
  size_t pos = i * b, byte = pos >> 3;
  unsigned shift = pos & 7;
  uint32_t mask = ((1u << b) - 1) << shift;
  uint32_t value = (code << shift) & mask;
  base[byte] = static_cast<uint8_t>((base[byte] & ~mask) | value);
  if (shift + b > 8) base[byte + 1] = static_cast<uint8_t>((base[byte + 1] & ~(mask >> 8)) | (value >> 8));
}

// ---- value conversions ----------------------------------------------------------
VL_HD float decode_float(DType d, uint32_t code) {
  switch (d) {
    case DType::float32: return bits_f32(code);
    case DType::float16: return f16_to_f32(static_cast<uint16_t>(code));
    case DType::bfloat16: return bf16_to_f32(static_cast<uint16_t>(code));
    case DType::float8_e4m3fn: return e4m3fn_to_f32(static_cast<uint8_t>(code));
    case DType::float8_e5m2: return e5m2_to_f32(static_cast<uint8_t>(code));
    case DType::int8: return static_cast<float>(static_cast<int8_t>(code));
    case DType::uint8: return static_cast<float>(code);
    case DType::int32: return static_cast<float>(static_cast<int32_t>(code));
    case DType::int4: return static_cast<float>(static_cast<int>(code) - (code >= 8 ? 16 : 0));
    case DType::fp6_e3m2: return Fp6::decode(code);
    case DType::fp5_e2m2: return Fp5::decode(code);
    case DType::fp4_e2m1: return Fp4::decode(code);
  }
  return 0.0f;
}
VL_HD int64_t decode_int(DType d, uint32_t code) {
  switch (d) {
    case DType::int8: return static_cast<int8_t>(code);
    case DType::uint8: return code;
    case DType::int32: return static_cast<int32_t>(code);
    default: return code >= 8 ? static_cast<int64_t>(code) - 16 : code;  // int4
  }
}
VL_HD uint32_t encode_float(DType d, float x, bool saturate) {
  switch (d) {
    case DType::float32: return f32_bits(saturate ? clamp_magnitude(x, kF32Max) : x);
    case DType::float16: return f32_to_f16(saturate ? clamp_magnitude(x, kF16Max) : x);
    case DType::bfloat16: return f32_to_bf16(saturate ? clamp_magnitude(x, kBf16Max) : x);
    case DType::float8_e4m3fn: return f32_to_e4m3fn(saturate ? clamp_magnitude(x, kE4m3fnMax) : x);
    case DType::float8_e5m2: return f32_to_e5m2(saturate ? clamp_magnitude(x, kE5m2Max) : x);
    case DType::int32:
      return static_cast<uint32_t>(saturate ? static_cast<int32_t>(truncate_clamped(x, INT32_MIN, INT32_MAX)) : truncate_int32(x));
    case DType::int8: case DType::uint8: case DType::int4: {
      int64_t lo, hi;
      int_range(d, lo, hi);
      int64_t v = saturate ? truncate_clamped(x, lo, hi) : truncate_wide(x);
      return static_cast<uint32_t>(v) & (d == DType::int4 ? 0xfu : 0xffu);
    }
    case DType::fp6_e3m2: return Fp6::encode(x);
    case DType::fp5_e2m2: return Fp5::encode(x);
    case DType::fp4_e2m1: return Fp4::encode(x);
  }
  return 0;
}
VL_HD uint32_t encode_int(DType d, int64_t v, bool saturate) {
  int64_t lo, hi;
  int_range(d, lo, hi);
  if (saturate) v = v < lo ? lo : (v > hi ? hi : v);
  switch (d) {
    case DType::int32: return static_cast<uint32_t>(v);
    case DType::int4: return static_cast<uint32_t>(v) & 0xfu;
    default: return static_cast<uint32_t>(v) & 0xffu;
  }
}

// The destination code of one element of the cast kernel (cast.cpp's paths:
// bit copy, int -> int, or through float32).
VL_HD uint32_t cast_code(DType sd, uint32_t code, DType dd, bool saturate) {
  if (sd == dd && (!saturate || is_integer(sd))) return code;
  if (is_integer(sd) && is_integer(dd)) return encode_int(dd, decode_int(sd, code), saturate);
  float x = decode_float(sd, code);
  if (dd == DType::float32 && !saturate) return f32_bits(x);
  return encode_float(dd, x, saturate);
}

// One work item of the cast kernel: destination elements [8g, 8g + 8) clipped to
// [dof, dof + n). Eight packed codes fill whole bytes, so items never share a
// byte and run in parallel on the GPU; cuda_host_checks.cpp runs the same items
// in a loop on the CPU.
VL_HD void cast_group(const uint8_t* src, DType sd, size_t so, uint8_t* dst, DType dd, size_t dof, size_t n, bool saturate, size_t g) {
  size_t e0 = g * 8, e1 = e0 + 8;
  if (e0 < dof) e0 = dof;
  if (e1 > dof + n) e1 = dof + n;
  for (size_t e = e0; e < e1; e++) store_code(dst, dd, e, cast_code(sd, load_code(src, sd, so + (e - dof)), dd, saturate));
}

// Float activations (float32 / float16 / bfloat16) as float32, and back (RNE).
VL_HD float load_act(const void* base, DType d, size_t i) {
  if (d == DType::float32) return static_cast<const float*>(base)[i];
  uint16_t h = static_cast<const uint16_t*>(base)[i];
  return d == DType::float16 ? f16_to_f32(h) : bf16_to_f32(h);
}
VL_HD void store_act(void* base, DType d, size_t i, float v) {
  if (d == DType::float32) { static_cast<float*>(base)[i] = v; return; }
  static_cast<uint16_t*>(base)[i] = d == DType::float16 ? f32_to_f16(v) : f32_to_bf16(v);
}
// The nearest value of dtype d (identity for float32): PyTorch rounding an intermediate.
VL_HD float round_to(DType d, float v) {
  if (d == DType::float16) return f16_to_f32(f32_to_f16(v));
  if (d == DType::bfloat16) return bf16_to_f32(f32_to_bf16(v));
  return v;
}

}  // namespace hd
}  // namespace vl
