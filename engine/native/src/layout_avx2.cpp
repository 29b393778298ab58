// AVX2 + F16C conversions between float16/bfloat16 and float32 (called only
// when cpu_features() reports avx2_fma and f16c). Bit-identical to the scalar
// conversions in dtype.h. Tails go through a zero-padded block so this file
// needs no scalar helpers (nothing compiled here may leak into other files).
#include <immintrin.h>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vl {

static inline __m256 f16x8_to_f32(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
static inline __m256 bf16x8_to_f32(const uint16_t* p) {
  __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
static inline __m128i f32x8_to_f16(__m256 v) { return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline __m128i f32x8_to_bf16(__m256 v) {
  __m256i u = _mm256_castps_si256(v);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
  __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  __m256i is_nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  __m256i r = _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
  // pack the 32-bit lanes (all < 65536) to 16 bits; packus works per 128-bit half
  __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
  return _mm256_castsi256_si128(packed);
}

template <__m256 (*Load)(const uint16_t*)>
static void widen(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, Load(src + i));
  if (i < n) {
    uint16_t in[8] = {0};
    float out[8];
    std::memcpy(in, src + i, (n - i) * sizeof(uint16_t));
    _mm256_storeu_ps(out, Load(in));
    std::memcpy(dst + i, out, (n - i) * sizeof(float));
  }
}
template <__m128i (*Narrow)(__m256)>
static void narrow(const float* src, uint16_t* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), Narrow(_mm256_loadu_ps(src + i)));
  if (i < n) {
    float in[8] = {0};
    uint16_t out[8];
    std::memcpy(in, src + i, (n - i) * sizeof(float));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), Narrow(_mm256_loadu_ps(in)));
    std::memcpy(dst + i, out, (n - i) * sizeof(uint16_t));
  }
}

void f16_to_f32_avx2(const uint16_t* src, float* dst, size_t n) { widen<f16x8_to_f32>(src, dst, n); }
void bf16_to_f32_avx2(const uint16_t* src, float* dst, size_t n) { widen<bf16x8_to_f32>(src, dst, n); }
void f32_to_f16_avx2(const float* src, uint16_t* dst, size_t n) { narrow<f32x8_to_f16>(src, dst, n); }
void f32_to_bf16_avx2(const float* src, uint16_t* dst, size_t n) { narrow<f32x8_to_bf16>(src, dst, n); }

}  // namespace vl
