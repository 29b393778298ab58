// AVX-512 VNNI int8 GEMM micro-kernel (int8_gemm.h). vpdpbusd multiplies
// unsigned by signed bytes and adds groups of four products into int32
// lanes, so X is stored offset by +128 (x ^ 0x80 = x + 128 as an unsigned
// byte) and the excess 128 * sum_k w[n,k] is subtracted at the end. Lanes
// wrap modulo 2^32, and the true sum fits int32 (K <= 131071), so the result
// is exact.
//   X group: [K/4][MR = 6][4] uint8 (x + 128; K padded to a multiple of 4)
//   W panel: [K/4][NR = 64][4] int8 (zero padded), then NR uint32 corrections
// The micro-kernel keeps 6 x 4 zmm accumulators: per 4 values of k it loads
// 4 vectors of W, broadcasts 6 dwords of X and issues 24 vpdpbusd.
#pragma GCC target("avx512vnni")
#include <immintrin.h>
#include <cstring>
#include "int8_gemm.h"

namespace vl {
namespace {

constexpr size_t MR = 6, NR = 64;

size_t quads(size_t K) { return (K + 3) / 4; }
size_t x_group_bytes(size_t K) { return quads(K) * MR * 4; }
size_t w_panel_bytes(size_t K) { return quads(K) * NR * 4 + NR * 4; }

// Four bytes of a row starting at k (zero past K).
inline uint32_t load_quad(const int8_t* row, size_t k, size_t K) {
  uint32_t v = 0;
  if (k + 4 <= K) std::memcpy(&v, row + k, 4);
  else std::memcpy(&v, row + k, K - k);
  return v;
}

void pack_x(const int8_t* x, size_t K, size_t rows, uint8_t* dst) {
  uint32_t* out = reinterpret_cast<uint32_t*>(dst);
  const size_t kq = quads(K);
  for (size_t i = 0; i < MR; i++) {
    const int8_t* row = x + i * K;
    for (size_t q = 0; q < kq; q++) {
      uint32_t v = 0;
      if (i < rows) {
        v = load_quad(row, 4 * q, K) ^ 0x80808080u;  // x + 128 in every byte
        if (4 * q + 4 > K) v &= (1u << (8 * (K - 4 * q))) - 1;  // padding stays 0 (W is 0 there too)
      }
      out[q * MR + i] = v;
    }
  }
}

void pack_w(const int8_t* w, size_t K, size_t rows, uint8_t* dst) {
  uint32_t* out = reinterpret_cast<uint32_t*>(dst);
  const size_t kq = quads(K);
  uint32_t* correction = out + kq * NR;
  for (size_t j = 0; j < NR; j++) {
    const int8_t* row = w + j * K;
    int32_t sum = 0;
    for (size_t q = 0; q < kq; q++) out[q * NR + j] = j < rows ? load_quad(row, 4 * q, K) : 0u;
    if (j < rows)
      for (size_t k = 0; k < K; k++) sum += row[k];
    correction[j] = static_cast<uint32_t>(sum) * 128u;  // wraps like the accumulators
  }
}

void tile(const uint8_t* xg, const uint8_t* wp, size_t K, int32_t* c) {
  __m512i acc[MR][4];
  for (size_t i = 0; i < MR; i++)
    for (size_t v = 0; v < 4; v++) acc[i][v] = _mm512_setzero_si512();
  const size_t kq = quads(K);
  for (size_t q = 0; q < kq; q++) {
    const uint8_t* wq = wp + q * NR * 4;
    const __m512i w0 = _mm512_loadu_si512(wq), w1 = _mm512_loadu_si512(wq + 64);
    const __m512i w2 = _mm512_loadu_si512(wq + 128), w3 = _mm512_loadu_si512(wq + 192);
    const uint8_t* xq = xg + q * MR * 4;
    for (size_t i = 0; i < MR; i++) {
      int32_t quad;
      std::memcpy(&quad, xq + i * 4, 4);
      const __m512i xb = _mm512_set1_epi32(quad);
      acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], xb, w0);
      acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], xb, w1);
      acc[i][2] = _mm512_dpbusd_epi32(acc[i][2], xb, w2);
      acc[i][3] = _mm512_dpbusd_epi32(acc[i][3], xb, w3);
    }
  }
  const uint8_t* corr = wp + kq * NR * 4;
  for (size_t v = 0; v < 4; v++) {
    const __m512i cv = _mm512_loadu_si512(corr + 64 * v);
    for (size_t i = 0; i < MR; i++) _mm512_storeu_si512(c + i * NR + 16 * v, _mm512_sub_epi32(acc[i][v], cv));
  }
}

const Int8GemmKernels kKernels{"avx512-vnni", MR, NR, x_group_bytes, w_panel_bytes, pack_x, pack_w, tile};

}  // namespace

const Int8GemmKernels& int8_gemm_kernels_avx512_vnni() { return kKernels; }
}  // namespace vl
