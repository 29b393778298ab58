// AVX-512 VNNI int8 GEMM micro-kernel (int8_gemm.h): 6 rows of X x 4 rows of
// W, 64 values of k per step, dot products along k. vpdpbusd multiplies
// unsigned by signed bytes and adds groups of four products into int32
// lanes, so W enters offset by +128 (w ^ 0x80 is w + 128 as an unsigned byte)
// and the excess 128 * sum_k x[m,k] is subtracted at the end. The lanes wrap
// modulo 2^32 and the true sum fits int32 (K <= 131071), so the result is
// exact. K is a multiple of 64 here: the driver zero-pads rows otherwise (a
// tail step inside this function, masked or not, makes GCC spill the 24
// accumulators). Each accumulator's 16 lanes are summed by a transposing
// reduction, four accumulators at a time.
#pragma GCC target("avx512vnni")
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*, which -Wuninitialized reports falsely.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include "int8_gemm.h"

namespace vl {
namespace {

constexpr size_t MR = 6, NR = 4;

// Sums of the 16 lanes of a, b, c, d as one 4-lane vector [sum a, sum b, sum c, sum d].
inline __m128i reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  const __m512i abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
  const __m256i half = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64(abcd, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256(half, 1));
}

// One k step of row i of X against the four rows of W.
#define VL_ROW_STEP(i, LOAD)                                                   \
  {                                                                            \
    const __m512i xv = LOAD(x##i + k);                                         \
    a##i##0 = _mm512_dpbusd_epi32(a##i##0, w0, xv);                            \
    a##i##1 = _mm512_dpbusd_epi32(a##i##1, w1, xv);                            \
    a##i##2 = _mm512_dpbusd_epi32(a##i##2, w2, xv);                            \
    a##i##3 = _mm512_dpbusd_epi32(a##i##3, w3, xv);                            \
  }
#define VL_K_STEP(LOAD)                                                        \
  {                                                                            \
    const __m512i w0 = _mm512_xor_si512(LOAD(r0 + k), offset);                 \
    const __m512i w1 = _mm512_xor_si512(LOAD(r1 + k), offset);                 \
    const __m512i w2 = _mm512_xor_si512(LOAD(r2 + k), offset);                 \
    const __m512i w3 = _mm512_xor_si512(LOAD(r3 + k), offset);                 \
    VL_ROW_STEP(0, LOAD) VL_ROW_STEP(1, LOAD) VL_ROW_STEP(2, LOAD)             \
    VL_ROW_STEP(3, LOAD) VL_ROW_STEP(4, LOAD) VL_ROW_STEP(5, LOAD)             \
  }
#define VL_LOAD_FULL(p) _mm512_loadu_si512(p)
#define VL_ROW_SPILL(i)                                                        \
  _mm512_store_si512(lanes[i][0], a##i##0);                                    \
  _mm512_store_si512(lanes[i][1], a##i##1);                                    \
  _mm512_store_si512(lanes[i][2], a##i##2);                                    \
  _mm512_store_si512(lanes[i][3], a##i##3);
#define VL_ROW_ZERO(i) __m512i a##i##0 = _mm512_setzero_si512(), a##i##1 = a##i##0, a##i##2 = a##i##0, a##i##3 = a##i##0;

void tile(const int8_t* const* x_rows, const int8_t* const* w_rows, size_t K, const int32_t* x_row_sums, int32_t* c) {
  const int8_t *x0 = x_rows[0], *x1 = x_rows[1], *x2 = x_rows[2], *x3 = x_rows[3], *x4 = x_rows[4], *x5 = x_rows[5];
  const int8_t *r0 = w_rows[0], *r1 = w_rows[1], *r2 = w_rows[2], *r3 = w_rows[3];
  VL_ROW_ZERO(0) VL_ROW_ZERO(1) VL_ROW_ZERO(2) VL_ROW_ZERO(3) VL_ROW_ZERO(4) VL_ROW_ZERO(5)
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
  for (size_t k = 0; k < K; k += 64) VL_K_STEP(VL_LOAD_FULL)
  // Accumulators go through memory before the reduction: reducing them
  // straight from registers makes GCC 12 spill them inside the k loop.
  alignas(64) int32_t lanes[MR][NR][16];
  VL_ROW_SPILL(0) VL_ROW_SPILL(1) VL_ROW_SPILL(2) VL_ROW_SPILL(3) VL_ROW_SPILL(4) VL_ROW_SPILL(5)
  for (size_t i = 0; i < MR; i++) {
    const __m512i* l = reinterpret_cast<const __m512i*>(lanes[i]);
    const __m128i sums = reduce4(_mm512_load_si512(l), _mm512_load_si512(l + 1), _mm512_load_si512(l + 2), _mm512_load_si512(l + 3));
    const __m128i excess = _mm_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(x_row_sums[i]) * 128u));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(c + i * NR), _mm_sub_epi32(sums, excess));
  }
}
#undef VL_ROW_STEP
#undef VL_K_STEP
#undef VL_LOAD_FULL
#undef VL_ROW_SPILL
#undef VL_ROW_ZERO

const Int8GemmKernels kKernels{"avx512-vnni", MR, NR, 64, true, tile};

}  // namespace

const Int8GemmKernels& int8_gemm_kernels_avx512_vnni() { return kKernels; }
}  // namespace vl
