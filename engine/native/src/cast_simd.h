// Vectorised block converters between float32 and the byte-sized float formats
// (float16, bfloat16, float8_e4m3fn, float8_e5m2), and float32 to the codes of
// the sub-byte float formats (cast.cpp packs them). cast_avx2.cpp and
// cast_avx512.cpp include this file with VL_CAST_SIMD_IMPLEMENTATION defined,
// so the same branch-free loops are compiled (and auto-vectorised) for each
// instruction set; float16 uses the F16C conversion instructions. The portable
// path in cast.cpp uses the scalar converters of codecs.h instead, and the tests
// check that every level writes identical bytes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vl {
// src/dst point at the first element of the block; count elements.
using CastDecodeFn = void (*)(const uint8_t* src, float* out, size_t count);
using CastEncodeFn = void (*)(const float* in, uint8_t* dst, size_t count, bool saturate);
// Codes of a sub-byte float format, one per byte (unpacked), for count elements.
using CastCodesFn = void (*)(const float* in, uint8_t* codes, size_t count);
// decode/encode are indexed by dtype code 0..4: float32, float16, bfloat16,
// float8_e4m3fn, float8_e5m2; sub_byte_codes by 0..2: fp6_e3m2, fp5_e2m2, fp4_e2m1.
struct CastSimdCodecs {
  CastDecodeFn decode[5];
  CastEncodeFn encode[5];
  CastCodesFn sub_byte_codes[3];
};
const CastSimdCodecs& cast_simd_codecs_avx2();
const CastSimdCodecs& cast_simd_codecs_avx512();
}  // namespace vl

#ifdef VL_CAST_SIMD_IMPLEMENTATION
// GCC 12's AVX-512 conversion intrinsics start from _mm256_undefined_*, which
// its -Wuninitialized reports falsely.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include <cstring>

// Internal linkage on purpose: every instruction-set file gets its own copy,
// so the linker can never hand an AVX-512 body to a portable caller.
namespace {

inline uint32_t as_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float as_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

constexpr uint32_t kAbsMask = 0x7fffffffu;
constexpr uint32_t kInfBits = 0x7f800000u;

// saturate=true: finite magnitudes above max, and inf, become max; NaN passes through.
inline uint32_t clamp_magnitude(uint32_t abs_bits, uint32_t max_bits) {
  return (abs_bits > max_bits && abs_bits <= kInfBits) ? max_bits : abs_bits;
}

void decode_f32(const uint8_t* src, float* out, size_t n) { std::memcpy(out, src, n * 4); }

void encode_f32(const float* in, uint8_t* dst, size_t n, bool saturate) {
  if (!saturate) { std::memcpy(dst, in, n * 4); return; }
  for (size_t i = 0; i < n; i++) {
    uint32_t u = as_bits(in[i]);
    uint32_t r = (u & ~kAbsMask) | clamp_magnitude(u & kAbsMask, 0x7f7fffffu);
    std::memcpy(dst + 4 * i, &r, 4);
  }
}

void decode_bf16(const uint8_t* src, float* out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    out[i] = as_float(static_cast<uint32_t>(h) << 16);
  }
}

// Round to nearest even on the integer bits; NaN keeps sign and top payload, made quiet.
void encode_bf16(const float* in, uint8_t* dst, size_t n, bool saturate) {
  const uint32_t max_bits = saturate ? 0x7f7f0000u : 0xffffffffu;  // no clamp when not saturating
  for (size_t i = 0; i < n; i++) {
    uint32_t u = as_bits(in[i]);
    uint32_t sign = u & ~kAbsMask;
    uint32_t a = clamp_magnitude(u & kAbsMask, max_bits);
    uint32_t v = sign | a;
    uint32_t rounded = (v + 0x7fffu + ((v >> 16) & 1u)) >> 16;
    uint32_t quiet_nan = (v >> 16) | 0x40u;
    uint16_t r = static_cast<uint16_t>(a > kInfBits ? quiet_nan : rounded);
    std::memcpy(dst + 2 * i, &r, 2);
  }
}

// F16C: vcvtph2ps is exact and quiets NaNs keeping the payload.
void decode_f16(const uint8_t* src, float* out, size_t n) {
  size_t i = 0;
#ifdef __AVX512F__
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 2 * i))));
#endif
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
  for (; i < n; i++) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    out[i] = _cvtsh_ss(h);
  }
}

// F16C: vcvtps2ph with explicit round-to-nearest-even; overflow gives inf,
// NaN keeps sign and top payload bits and is made quiet. Saturation clamps
// first: min/max return their second operand when it is NaN, so NaN passes.
void encode_f16(const float* in, uint8_t* dst, size_t n, bool saturate) {
  constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  size_t i = 0;
#ifdef __AVX512F__
  const __m512 hi16 = _mm512_set1_ps(65504.0f), lo16 = _mm512_set1_ps(-65504.0f);
  for (; i + 16 <= n; i += 16) {
    __m512 x = _mm512_loadu_ps(in + i);
    if (saturate) x = _mm512_max_ps(lo16, _mm512_min_ps(hi16, x));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i), _mm512_cvtps_ph(x, kRne));
  }
#endif
  const __m256 hi8 = _mm256_set1_ps(65504.0f), lo8 = _mm256_set1_ps(-65504.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(in + i);
    if (saturate) x = _mm256_max_ps(lo8, _mm256_min_ps(hi8, x));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), _mm256_cvtps_ph(x, kRne));
  }
  for (; i < n; i++) {
    __m128 x = _mm_set_ss(in[i]);
    if (saturate) x = _mm_max_ss(_mm_set_ss(-65504.0f), _mm_min_ss(_mm_set_ss(65504.0f), x));
    uint16_t r = static_cast<uint16_t>(_mm_cvtsi128_si32(_mm_cvtps_ph(x, kRne)));
    std::memcpy(dst + 2 * i, &r, 2);
  }
}

// ---- float8: AVX2 intrinsics, 8 lanes (the compiler does not if-convert the
// scalar form). Every lane computes what PyTorch's scalar algorithm computes.

inline __m256i splat(uint32_t v) { return _mm256_set1_epi32(static_cast<int32_t>(v)); }
// Magnitudes are below 2^31, so signed compares order them correctly.
inline __m256i greater(__m256i a, uint32_t b) { return _mm256_cmpgt_epi32(a, splat(b)); }
inline __m256i less(__m256i a, uint32_t b) { return _mm256_cmpgt_epi32(splat(b), a); }
inline __m256i select(__m256i mask, __m256i if_true, __m256i if_false) { return _mm256_blendv_epi8(if_false, if_true, mask); }

// saturate: finite magnitudes above max, and inf, become max; NaN passes.
inline __m256i clamp_magnitude(__m256i a, uint32_t max_bits) {
  __m256i over = _mm256_andnot_si256(greater(a, kInfBits), greater(a, max_bits));
  return select(over, splat(max_bits), a);
}

// Float add of a magic constant rounds a small magnitude to the subnormal grid
// of the target (RNE in hardware); subtracting the constant leaves the code.
inline __m256i round_subnormal(__m256i a, uint32_t magic) {
  __m256 sum = _mm256_add_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(splat(magic)));
  return _mm256_sub_epi32(_mm256_castps_si256(sum), splat(magic));
}

// Integer RNE for the normal range: rebias the exponent, add half an ulp less
// one plus the lowest kept bit, shift the dropped bits out.
inline __m256i round_normal(__m256i a, uint32_t rebias_and_half, int dropped_bits) {
  __m256i odd = _mm256_and_si256(_mm256_srli_epi32(a, dropped_bits), splat(1));
  return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(a, splat(rebias_and_half)), odd), dropped_bits);
}

// 32 lanes of codes (each < 256) -> 32 bytes in order.
inline void store_bytes(uint8_t* dst, __m256i r0, __m256i r1, __m256i r2, __m256i r3) {
  __m256i w01 = _mm256_packus_epi32(r0, r1), w23 = _mm256_packus_epi32(r2, r3);
  __m256i b = _mm256_packus_epi16(w01, w23);  // lane-interleaved groups of 4
  b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), b);
}

// c10/util/Float8_e4m3fn.h: >= 480 (NaN and inf included) is NaN 0x7f, below
// 2^-6 subnormal, otherwise integer RNE (which sends (464, 480) to 0x7f).
inline __m256i e4m3fn_codes(__m256i u, bool saturate) {
  __m256i sign = _mm256_srli_epi32(_mm256_and_si256(u, splat(0x80000000u)), 24);
  __m256i a = _mm256_and_si256(u, splat(kAbsMask));
  if (saturate) a = clamp_magnitude(a, 0x43e00000u);  // 448
  __m256i r = select(less(a, 121u << 23), round_subnormal(a, 141u << 23), round_normal(a, 0xc407ffffu, 20));
  r = select(greater(a, (1087u << 20) - 1), splat(0x7f), r);
  return _mm256_or_si256(r, sign);
}

// c10/util/Float8_e5m2.h: >= 65536 is inf 0x7c (NaN 0x7f), below 2^-14
// subnormal, otherwise integer RNE (which sends [61440, 65536) to inf).
inline __m256i e5m2_codes(__m256i u, bool saturate) {
  __m256i sign = _mm256_srli_epi32(_mm256_and_si256(u, splat(0x80000000u)), 24);
  __m256i a = _mm256_and_si256(u, splat(kAbsMask));
  if (saturate) a = clamp_magnitude(a, 0x47600000u);  // 57344
  __m256i r = select(less(a, 113u << 23), round_subnormal(a, 134u << 23), round_normal(a, 0xc80fffffu, 21));
  __m256i special = select(greater(a, kInfBits), splat(0x7f), splat(0x7c));
  r = select(greater(a, (143u << 23) - 1), special, r);
  return _mm256_or_si256(r, sign);
}

template <__m256i (*Codes)(__m256i, bool), uint8_t (*Scalar)(float, bool)>
void encode_fp8(const float* in, uint8_t* dst, size_t n, bool saturate) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i r[4];
    for (int k = 0; k < 4; k++)
      r[k] = Codes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i + 8 * k)), saturate);
    store_bytes(dst + i, r[0], r[1], r[2], r[3]);
  }
  for (; i < n; i++) dst[i] = Scalar(in[i], saturate);
}

// The tail goes through the same vector code one lane at a time.
template <__m256i (*Codes)(__m256i, bool)>
uint8_t fp8_code_scalar(float x, bool saturate) {
  return static_cast<uint8_t>(_mm256_cvtsi256_si32(Codes(_mm256_castps_si256(_mm256_set1_ps(x)), saturate)));
}

void encode_e4m3fn(const float* in, uint8_t* dst, size_t n, bool saturate) {
  encode_fp8<e4m3fn_codes, fp8_code_scalar<e4m3fn_codes>>(in, dst, n, saturate);
}
void encode_e5m2(const float* in, uint8_t* dst, size_t n, bool saturate) {
  encode_fp8<e5m2_codes, fp8_code_scalar<e5m2_codes>>(in, dst, n, saturate);
}

// float8_e4m3fn -> float32: subnormals are mant * 2^-9 (exact); 0x7f/0xff is
// NaN, decoded to 0x7ff00000 | sign, the bits PyTorch produces.
inline __m256 e4m3fn_values(__m256i c) {
  __m256i sign = _mm256_slli_epi32(_mm256_and_si256(c, splat(0x80)), 24);
  __m256i m = _mm256_and_si256(c, splat(0x7f));
  __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(m, 20), splat(120u << 23));  // rebias 7 -> 127
  __m256i subnormal = _mm256_castps_si256(_mm256_mul_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(0.001953125f)));
  __m256i r = select(less(m, 8), subnormal, normal);
  r = select(_mm256_cmpeq_epi32(m, splat(0x7f)), splat(0x7ff00000u), r);
  return _mm256_castsi256_ps(_mm256_or_si256(r, sign));
}

void decode_e4m3fn(const uint8_t* src, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(out + i, e4m3fn_values(_mm256_cvtepu8_epi32(bytes)));
  }
  for (; i < n; i++) out[i] = _mm256_cvtss_f32(e4m3fn_values(splat(src[i])));
}

// float8_e5m2 is the top byte of a float16: widen, shift, vcvtph2ps (as
// PyTorch decodes it; NaN comes out quiet with its payload).
void decode_e5m2(const uint8_t* src, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i half = _mm_slli_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i))), 8);
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(half));
  }
  for (; i < n; i++) out[i] = _cvtsh_ss(static_cast<uint16_t>(src[i] << 8));
}

// ---- sub-byte floats (torchao's fpx rounding): 1 sign, E exponent bits with
// bias 2^(E-1)-1, M mantissa bits, no inf/NaN. Beyond max (and inf)
// saturates to max, NaN becomes +0.
template <int E, int M>
inline __m256i sub_byte_codes(__m256i u) {
  constexpr int kBias = (1 << (E - 1)) - 1;
  constexpr uint32_t kMaxBits = (static_cast<uint32_t>((1 << E) - 1 - kBias + 127) << 23) | (((1u << M) - 1) << (23 - M));
  constexpr uint32_t kMinNormalBits = static_cast<uint32_t>(1 - kBias + 127) << 23;
  constexpr uint32_t kDenormMagic = static_cast<uint32_t>((127 - kBias) + (23 - M) + 1) << 23;
  constexpr uint32_t kRebiasAndHalf = (static_cast<uint32_t>(kBias - 127) << 23) + ((1u << (22 - M)) - 1);
  __m256i sign = _mm256_srli_epi32(_mm256_and_si256(u, splat(0x80000000u)), 31 - (E + M));
  __m256i a = _mm256_and_si256(u, splat(kAbsMask));
  __m256i r = select(less(a, kMinNormalBits), round_subnormal(a, kDenormMagic), round_normal(a, kRebiasAndHalf, 23 - M));
  r = select(greater(a, kMaxBits - 1), splat((1u << (E + M)) - 1), r);
  r = _mm256_or_si256(r, sign);
  return _mm256_andnot_si256(greater(a, kInfBits), r);  // NaN -> +0
}

template <int E, int M>
void encode_sub_byte_codes(const float* in, uint8_t* codes, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i r[4];
    for (int k = 0; k < 4; k++) r[k] = sub_byte_codes<E, M>(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i + 8 * k)));
    store_bytes(codes + i, r[0], r[1], r[2], r[3]);
  }
  for (; i < n; i++) codes[i] = static_cast<uint8_t>(_mm256_cvtsi256_si32(sub_byte_codes<E, M>(_mm256_castps_si256(_mm256_set1_ps(in[i])))));
}

const vl::CastSimdCodecs kCastSimdCodecs = {
    {decode_f32, decode_f16, decode_bf16, decode_e4m3fn, decode_e5m2},
    {encode_f32, encode_f16, encode_bf16, encode_e4m3fn, encode_e5m2},
    {encode_sub_byte_codes<3, 2>, encode_sub_byte_codes<2, 2>, encode_sub_byte_codes<2, 1>},
};

}  // namespace
#endif  // VL_CAST_SIMD_IMPLEMENTATION
