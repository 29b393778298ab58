// AVX2+FMA build of the GEMM driver (gemm_driver.h): a 6x16 micro-kernel
// (12 ymm accumulators) and F16C/AVX2 packing and conversion. Compiled with
// -mavx2 -mfma -mf16c; called only when cpu_features() reports them.
#include <immintrin.h>

#include <cstring>

#include "gemm_driver.h"

namespace vl {
namespace {

inline size_t elem_size(DType d) { return d == DType::float32 ? 4 : 2; }

// Up to 8 elements of dtype d at src -> 8 floats (lanes past n are zero).
inline __m256 load8(const void* src, DType d, size_t n) {
  alignas(32) uint8_t part[32];
  if (n < 8) {
    std::memset(part, 0, sizeof part);
    std::memcpy(part, src, n * elem_size(d));
    src = part;
  }
  if (d == DType::float32) return _mm256_loadu_ps(static_cast<const float*>(src));
  const __m128i h = _mm_loadu_si128(static_cast<const __m128i*>(src));
  if (d == DType::float16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// float -> bfloat16 bits, round-to-nearest-even, NaN kept quiet (as dtype.h).
inline __m128i to_bf16(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  const __m256i bits = _mm256_blendv_epi8(rounded, quiet, nan);
  const __m256i packed = _mm256_packus_epi32(bits, bits);  // values fit 16 bits; lanes interleave
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(packed, _MM_SHUFFLE(3, 1, 2, 0)));
}

inline void store8(void* dst, DType d, size_t n, __m256 v) {
  alignas(32) uint8_t part[32];
  void* target = n < 8 ? part : dst;
  if (d == DType::float32) _mm256_storeu_ps(static_cast<float*>(target), v);
  else if (d == DType::float16) _mm_storeu_si128(static_cast<__m128i*>(target), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  else _mm_storeu_si128(static_cast<__m128i*>(target), to_bf16(v));
  if (n < 8) std::memcpy(dst, part, n * elem_size(d));
}

inline void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {
    s[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; c++) {
    r[c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x31);
  }
}

struct Avx2Isa {
  static constexpr size_t MR = 6, NR = 16, KC = 256, NC = 512, MC = 2016;
  // no partial-panel kernels: edge panels go through the full kernel and a tile buffer
  static bool kernel_rows(size_t, size_t, const float*, const float*, float*, size_t, bool) { return false; }

  // Not inlined: as its own function the accumulators stay in registers
  // through the C update instead of being spilled around the driver's code.
  __attribute__((noinline)) static void kernel(size_t kc, const float* A, const float* B, float* C, size_t ldc, bool add) {
    for (size_t i = 0; i < MR; i++) {  // C is needed only after the k loop: fetch it meanwhile
      _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + NR - 1), _MM_HINT_T0);
    }
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (size_t i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (size_t k = 0; k < kc; k++, A += MR, B += NR) {
      const __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8);
#pragma GCC unroll 6
      for (size_t i = 0; i < MR; i++) {
        const __m256 a = _mm256_broadcast_ss(A + i);
        acc[i][0] = _mm256_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(a, b1, acc[i][1]);
      }
    }
#pragma GCC unroll 6
    for (size_t i = 0; i < MR; i++) {
      float* c = C + i * ldc;
      if (add) {
        acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(c));
        acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(c + 8));
      }
      _mm256_storeu_ps(c, acc[i][0]);
      _mm256_storeu_ps(c + 8, acc[i][1]);
    }
  }

  static void load_row(const void* src, DType d, size_t n, float* dst) {
    const size_t es = elem_size(d);
    for (size_t i = 0; i < n; i += 8) {
      const __m256 v = load8(static_cast<const char*>(src) + i * es, d, n - i);
      if (n - i >= 8) _mm256_storeu_ps(dst + i, v);
      else store8(dst + i, DType::float32, n - i, v);
    }
  }

  // dst[k*MR + i] = A[i, k] for i < rows (rows of A are lda elements apart), 0 beyond.
  static void pack_a_panel(const void* src, size_t lda, DType d, size_t rows, size_t kc, float* dst) {
    const size_t es = elem_size(d);
    const char* base = static_cast<const char*>(src);
    const __m256i panel_lanes = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);  // MR = 6 of 8
    for (size_t k0 = 0; k0 < kc; k0 += 8) {
      const size_t kn = std::min<size_t>(8, kc - k0);
      __m256 r[8];
      for (size_t i = 0; i < 8; i++) r[i] = i < rows ? load8(base + (i * lda + k0) * es, d, kn) : _mm256_setzero_ps();
      transpose8(r);
      for (size_t k = 0; k < kn; k++) _mm256_maskstore_ps(dst + (k0 + k) * MR, panel_lanes, r[k]);
    }
  }

  // dst[k*NR + j] = B[j, k] for j < cols (rows of B are ldb elements apart), 0 beyond.
  static void pack_b_trans(const void* src, size_t ldb, DType d, size_t kc, size_t cols, float* dst) {
    const size_t es = elem_size(d);
    const char* base = static_cast<const char*>(src);
    for (size_t half = 0; half < NR / 8; half++) {
      for (size_t k0 = 0; k0 < kc; k0 += 8) {
        const size_t kn = std::min<size_t>(8, kc - k0);
        __m256 r[8];
        for (size_t j = 0; j < 8; j++) {
          const size_t col = half * 8 + j;
          const char* row = base + (col * ldb + k0) * es;
          if (col < cols) {
            _mm_prefetch(row + 256, _MM_HINT_T1);  // parallel row streams: help the prefetcher (into L2)
            r[j] = load8(row, d, kn);
          } else {
            r[j] = _mm256_setzero_ps();
          }
        }
        transpose8(r);
        for (size_t k = 0; k < kn; k++) _mm256_store_ps(dst + (k0 + k) * NR + half * 8, r[k]);
      }
    }
  }

  // out[i*4 + j] = dot(A row i, W row j) for i < m, j < cols (both <= 4).
  static void dot_block(const float* A, size_t lda, size_t m, const void* W, size_t ldw, DType d, size_t K, size_t cols, float* out) {
    switch (m) {
      case 1: dot_rows<1>(A, lda, W, ldw, d, K, cols, out); break;
      case 2: dot_rows<2>(A, lda, W, ldw, d, K, cols, out); break;
      case 3: dot_rows<3>(A, lda, W, ldw, d, K, cols, out); break;
      default: dot_rows<4>(A, lda, W, ldw, d, K, cols, out); break;
    }
  }
  template <size_t M>
  static void dot_rows(const float* A, size_t lda, const void* W, size_t ldw, DType d, size_t K, size_t cols, float* out) {
    const size_t es = elem_size(d);
    const char* w[4];
    for (size_t j = 0; j < 4; j++) w[j] = static_cast<const char*>(W) + (j < cols ? j : 0) * ldw * es;  // spare rows repeat row 0
    __m256 acc[M][4];
    for (size_t i = 0; i < M; i++)
      for (size_t j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_ps();
    for (size_t k = 0; k < K; k += 8) {
      const size_t kn = K - k;  // load8 zero-fills the tail
      __m256 wv[4], av[M];
      for (size_t j = 0; j < 4; j++) wv[j] = load8(w[j] + k * es, d, kn);
      for (size_t i = 0; i < M; i++) av[i] = load8(A + i * lda + k, DType::float32, kn);
      for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < 4; j++) acc[i][j] = _mm256_fmadd_ps(av[i], wv[j], acc[i][j]);
    }
    for (size_t i = 0; i < M; i++)
      for (size_t j = 0; j < 4; j++) {
        const __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc[i][j]), _mm256_extractf128_ps(acc[i][j], 1));
        const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
        out[i * 4 + j] = _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
      }
  }

  static void epilogue(const float* C, size_t ldc, size_t mr, size_t nr, const float* bias, void* out, size_t ldo, DType d) {
    const size_t es = elem_size(d);
    for (size_t i = 0; i < mr; i++) {
      for (size_t j = 0; j < nr; j += 8) {
        __m256 v = load8(C + i * ldc + j, DType::float32, nr - j);
        if (bias) v = _mm256_add_ps(v, load8(bias + j, DType::float32, nr - j));
        store8(static_cast<char*>(out) + (i * ldo + j) * es, d, nr - j, v);
      }
    }
  }
};

}  // namespace

void gemm_tile_avx2(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1) {
  gemm_detail::gemm_tile<Avx2Isa>(p, m0, m1, n0, n1);
}
void gemm_pack_b_avx2(const void* B, size_t ldb, DType d, size_t N, size_t K, size_t j_begin, size_t j_end, float* dst) {
  gemm_detail::pack_b_panels<Avx2Isa>(B, ldb, d, N, K, j_begin, j_end, dst);
}
GemmBlocking gemm_blocking_avx2() {
  return {Avx2Isa::MR, Avx2Isa::NR, Avx2Isa::KC, Avx2Isa::NC, Avx2Isa::MC, "avx2"};
}

}  // namespace vl
