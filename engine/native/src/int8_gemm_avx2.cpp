// AVX2 int8 GEMM micro-kernel (int8_gemm.h): int8 sign-extended to int16 and
// multiplied with vpmaddwd, which adds adjacent int16 products into int32
// lanes exactly (|x * w + x' * w'| <= 32768). vpmaddubsw is avoided: its
// int16 saturation would lose exactness.
//   X group: [K/2][MR = 6][2] int16   (K padded to even with zeros)
//   W panel: [K/2][NR = 16][2] int8, widened to int16 as it is loaded
#include <immintrin.h>
#include <cstring>
#include "int8_gemm.h"

namespace vl {
namespace {

constexpr size_t MR = 6, NR = 16;

size_t pairs(size_t K) { return (K + 1) / 2; }
size_t x_group_bytes(size_t K) { return pairs(K) * MR * 4; }
size_t w_panel_bytes(size_t K) { return pairs(K) * NR * 2; }

void pack_x(const int8_t* x, size_t K, size_t rows, uint8_t* dst) {
  int16_t* out = reinterpret_cast<int16_t*>(dst);
  const size_t kp = pairs(K);
  for (size_t p = 0; p < kp; p++)
    for (size_t i = 0; i < MR; i++)
      for (size_t t = 0; t < 2; t++) {
        const size_t k = 2 * p + t;
        out[(p * MR + i) * 2 + t] = (i < rows && k < K) ? x[i * K + k] : 0;
      }
}

void pack_w(const int8_t* w, size_t K, size_t rows, uint8_t* dst) {
  int8_t* out = reinterpret_cast<int8_t*>(dst);
  const size_t kp = pairs(K);
  for (size_t p = 0; p < kp; p++)
    for (size_t j = 0; j < NR; j++)
      for (size_t t = 0; t < 2; t++) {
        const size_t k = 2 * p + t;
        out[(p * NR + j) * 2 + t] = (j < rows && k < K) ? w[j * K + k] : 0;
      }
}

void tile(const uint8_t* xg, const uint8_t* wp, size_t K, int32_t* c) {
  __m256i acc[MR][2];
  for (size_t i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
  const size_t kp = pairs(K);
  for (size_t p = 0; p < kp; p++) {
    const uint8_t* wrow = wp + p * NR * 2;
    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wrow)));
    const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wrow + 16)));
    const uint8_t* xrow = xg + p * MR * 4;
    for (size_t i = 0; i < MR; i++) {
      int32_t pair;
      std::memcpy(&pair, xrow + i * 4, 4);
      const __m256i xb = _mm256_set1_epi32(pair);
      acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(xb, w0));
      acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(xb, w1));
    }
  }
  for (size_t i = 0; i < MR; i++) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * NR), acc[i][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * NR + 8), acc[i][1]);
  }
}

const Int8GemmKernels kKernels{"avx2", MR, NR, x_group_bytes, w_panel_bytes, pack_x, pack_w, tile};

}  // namespace

const Int8GemmKernels& int8_gemm_kernels_avx2() { return kKernels; }
}  // namespace vl
