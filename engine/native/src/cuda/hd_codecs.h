// Element access by dtype for the CUDA cast and quantization kernels, callable
// from host and device: raw codes in memory (packed bit streams included),
// value conversions through the scalar codecs of ../codecs.h (the one copy
// the cpu kernels use too), the cast kernel's per-element path and work
// items, and float activations as float32. cuda_host_checks.cpp runs the
// same work items on the CPU, so test/engine/cuda-codecs.test.ts proves them
// bit-identical to the cpu cast kernel (cast.cpp) on every machine, GPU or not.
#pragma once
#include <cstddef>
#include <cstdint>
#include "../codecs.h"
#include "../dtype.h"

namespace vl {
namespace hd {
// Internal linkage, as codecs.h: these call its internal-linkage functions.
namespace {

// ---- integers (x86 PyTorch semantics, see cast.cpp) ---------------------------
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
    case DType::fp6_e3m2: return Fp6E3M2::decode(code);
    case DType::fp5_e2m2: return Fp5E2M2::decode(code);
    case DType::fp4_e2m1: return Fp4E2M1::decode(code);
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
    case DType::fp6_e3m2: return Fp6E3M2::encode(x);
    case DType::fp5_e2m2: return Fp5E2M2::encode(x);
    case DType::fp4_e2m1: return Fp4E2M1::encode(x);
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

}  // namespace
}  // namespace hd
}  // namespace vl
