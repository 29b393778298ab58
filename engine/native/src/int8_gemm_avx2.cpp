// AVX2 int8 GEMM micro-kernel (int8_gemm.h): 3 rows of X x 3 rows of W, 16
// values of k per step. int8 is sign-extended to int16 and multiplied with
// vpmaddwd, which adds adjacent int16 products into int32 lanes exactly
// (|x * w + x' * w'| <= 32768). vpmaddubsw is avoided: its int16 saturation
// would lose exactness. K is a multiple of 16 here (the driver zero-pads rows).
#include <immintrin.h>
#include "int8_gemm.h"

namespace vl {
namespace {

constexpr size_t MR = 3, NR = 3;

inline __m256i widen16(const int8_t* p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
// Named accumulators and a reduction through memory: an accumulator array,
// or reducing straight from registers, makes GCC 12 spill them in the k loop.
#define VL_ROW_STEP(i)                                                         \
  {                                                                            \
    const __m256i xv = widen16(x##i + k);                                      \
    a##i##0 = _mm256_add_epi32(a##i##0, _mm256_madd_epi16(xv, w0));            \
    a##i##1 = _mm256_add_epi32(a##i##1, _mm256_madd_epi16(xv, w1));            \
    a##i##2 = _mm256_add_epi32(a##i##2, _mm256_madd_epi16(xv, w2));            \
  }
#define VL_ROW_ZERO(i) __m256i a##i##0 = _mm256_setzero_si256(), a##i##1 = a##i##0, a##i##2 = a##i##0;
#define VL_ROW_SPILL(i)                                                        \
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[i][0]), a##i##0);        \
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[i][1]), a##i##1);        \
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes[i][2]), a##i##2);

void tile(const int8_t* const* x_rows, const int8_t* const* w_rows, size_t K, const int32_t*, int32_t* c) {
  const int8_t *x0 = x_rows[0], *x1 = x_rows[1], *x2 = x_rows[2];
  const int8_t *r0 = w_rows[0], *r1 = w_rows[1], *r2 = w_rows[2];
  VL_ROW_ZERO(0) VL_ROW_ZERO(1) VL_ROW_ZERO(2)
  for (size_t k = 0; k < K; k += 16) {
    const __m256i w0 = widen16(r0 + k), w1 = widen16(r1 + k), w2 = widen16(r2 + k);
    VL_ROW_STEP(0) VL_ROW_STEP(1) VL_ROW_STEP(2)
  }
  alignas(32) int32_t lanes[MR][NR][8];
  VL_ROW_SPILL(0) VL_ROW_SPILL(1) VL_ROW_SPILL(2)
  for (size_t i = 0; i < MR; i++)
    for (size_t j = 0; j < NR; j++) {
      int32_t s = 0;
      for (size_t l = 0; l < 8; l++) s += lanes[i][j][l];
      c[i * NR + j] = s;
    }
}
#undef VL_ROW_STEP
#undef VL_ROW_ZERO
#undef VL_ROW_SPILL

const Int8GemmKernels kKernels{"avx2", MR, NR, 16, false, tile};

}  // namespace

const Int8GemmKernels& int8_gemm_kernels_avx2() { return kKernels; }
}  // namespace vl
