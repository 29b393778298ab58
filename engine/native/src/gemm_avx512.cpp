// AVX-512 build of the GEMM driver (gemm_driver.h): a 14x32 micro-kernel
// (28 zmm accumulators, two zmm loads of B and 14 broadcasts of A per k)
// and vectorised packing / dtype conversion. Compiled with -mavx512f/bw/vl/dq;
// called only when cpu_features().avx512.
// GCC 12 reports its own _mm512_undefined_* helpers as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "gemm_driver.h"




namespace vl {
namespace {

inline __mmask16 first_lanes(size_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }

// Up to 16 elements of dtype d at src -> 16 floats (lanes past n are zero).
inline __m512 load16(const void* src, DType d, size_t n) {
  const __mmask16 m = first_lanes(n);
  if (d == DType::float32) return _mm512_maskz_loadu_ps(m, src);
  const __m256i h = _mm256_maskz_loadu_epi16(m, src);
  if (d == DType::float16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// float -> bfloat16 bits with round-to-nearest-even; NaN stays a quiet NaN
// (the same rule as f32_to_bf16 in dtype.h).
inline __m256i to_bf16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet));
}

inline void store16(void* dst, DType d, size_t n, __m512 v) {
  const __mmask16 m = first_lanes(n);
  if (d == DType::float32) _mm512_mask_storeu_ps(dst, m, v);
  else if (d == DType::float16) _mm256_mask_storeu_epi16(dst, m, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  else _mm256_mask_storeu_epi16(dst, m, to_bf16(v));
}

// In-register transpose of 16 rows of 16 floats.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // r[0..3]: rows 0-3, columns {c, c+4, c+8, c+12} for c = 0..3; r[4..7] rows 4-7; ...
  for (int c = 0; c < 4; c++) {
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
    t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
  }
  for (int c = 0; c < 8; c++) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);
  }
}

struct Avx512Isa {
  // KC and NC measured on Zen 4 (32 KiB L1d, 1 MiB L2): a 512 x 256 block of
  // packed B (512 KiB) sits in L2 while the A panels stream past it.
  static constexpr size_t MR = 14, NR = 32, KC = 512, NC = 256, MC = 2016;

  // Not inlined: as its own function the accumulators stay in registers
  // through the C update instead of being spilled around the driver's code.
  // R rows of the MR-row panel (R < MR for the last panel of a product whose
  // rows are not a multiple of MR): the same arithmetic per element as the
  // full kernel, without computing the panel's zero rows.
  template <size_t R>
  __attribute__((noinline)) static void kernel_r(size_t kc, const float* A, const float* B, float* C, size_t ldc, bool add) {
    for (size_t i = 0; i < R; i++) {  // C is needed only after the k loop: fetch it meanwhile
      _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + NR - 1), _MM_HINT_T0);
    }
    __m512 acc[R][2];
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (size_t k = 0; k < kc; k++, A += MR, B += NR) {
      const __m512 b0 = _mm512_load_ps(B), b1 = _mm512_load_ps(B + 16);
#pragma GCC unroll 14
      for (size_t i = 0; i < R; i++) {
        const __m512 a = _mm512_set1_ps(A[i]);
        acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
      }
    }
#pragma GCC unroll 14
    for (size_t i = 0; i < R; i++) {
      float* c = C + i * ldc;
      if (add) {
        acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(c));
        acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(c + 16));
      }
      _mm512_storeu_ps(c, acc[i][0]);
      _mm512_storeu_ps(c + 16, acc[i][1]);
    }
  }
  static void kernel(size_t kc, const float* A, const float* B, float* C, size_t ldc, bool add) { kernel_r<MR>(kc, A, B, C, ldc, add); }
  // The first `rows` rows of a panel, straight into C; false where no kernel has that many rows.
  static bool kernel_rows(size_t rows, size_t kc, const float* A, const float* B, float* C, size_t ldc, bool add) {
    switch (rows) {
      case 1: kernel_r<1>(kc, A, B, C, ldc, add); return true;
      case 2: kernel_r<2>(kc, A, B, C, ldc, add); return true;
      case 3: kernel_r<3>(kc, A, B, C, ldc, add); return true;
      case 4: kernel_r<4>(kc, A, B, C, ldc, add); return true;
      case 5: kernel_r<5>(kc, A, B, C, ldc, add); return true;
      case 6: kernel_r<6>(kc, A, B, C, ldc, add); return true;
      case 7: kernel_r<7>(kc, A, B, C, ldc, add); return true;
      case 8: kernel_r<8>(kc, A, B, C, ldc, add); return true;
      case 9: kernel_r<9>(kc, A, B, C, ldc, add); return true;
      case 10: kernel_r<10>(kc, A, B, C, ldc, add); return true;
      case 11: kernel_r<11>(kc, A, B, C, ldc, add); return true;
      case 12: kernel_r<12>(kc, A, B, C, ldc, add); return true;
      case 13: kernel_r<13>(kc, A, B, C, ldc, add); return true;
      default: return false;
    }
  }

  static void load_row(const void* src, DType d, size_t n, float* dst) {
    const size_t es = d == DType::float32 ? 4 : 2;
    for (size_t i = 0; i < n; i += 16)
      _mm512_mask_storeu_ps(dst + i, first_lanes(n - i), load16(static_cast<const char*>(src) + i * es, d, n - i));
  }

  // dst[k*MR + i] = A[i, k] for i < rows (rows of A are lda elements apart), 0 beyond.
  static void pack_a_panel(const void* src, size_t lda, DType d, size_t rows, size_t kc, float* dst) {
    const size_t es = d == DType::float32 ? 4 : 2;
    const char* base = static_cast<const char*>(src);
    constexpr __mmask16 panel_lanes = (1u << MR) - 1;
    for (size_t k0 = 0; k0 < kc; k0 += 16) {
      const size_t kn = std::min<size_t>(16, kc - k0);
      __m512 r[16];
      for (size_t i = 0; i < 16; i++) r[i] = i < rows ? load16(base + (i * lda + k0) * es, d, kn) : _mm512_setzero_ps();
      transpose16(r);
      for (size_t k = 0; k < kn; k++) _mm512_mask_storeu_ps(dst + (k0 + k) * MR, panel_lanes, r[k]);
    }
  }

  // dst[k*NR + j] = B[j, k] for j < cols (rows of B are ldb elements apart), 0 beyond.
  // The NR rows are read as parallel streams, which the hardware prefetcher
  // does not follow well, so each row is prefetched a few lines ahead into
  // L2 (not L1: rows of a weight are often a multiple of 4 KiB apart and
  // would all land in the same L1 set).
  static void pack_b_trans(const void* src, size_t ldb, DType d, size_t kc, size_t cols, float* dst) {
    const size_t es = d == DType::float32 ? 4 : 2;
    const char* base = static_cast<const char*>(src);
    constexpr size_t kPrefetchBytes = 256;
    for (size_t half = 0; half < NR / 16; half++) {
      for (size_t k0 = 0; k0 < kc; k0 += 16) {
        const size_t kn = std::min<size_t>(16, kc - k0);
        __m512 r[16];
        for (size_t j = 0; j < 16; j++) {
          const size_t col = half * 16 + j;
          const char* row = base + (col * ldb + k0) * es;
          if (col < cols) {
            _mm_prefetch(row + kPrefetchBytes, _MM_HINT_T1);
            r[j] = load16(row, d, kn);
          } else {
            r[j] = _mm512_setzero_ps();
          }
        }
        transpose16(r);
        for (size_t k = 0; k < kn; k++) _mm512_store_ps(dst + (k0 + k) * NR + half * 16, r[k]);
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
    const size_t es = d == DType::float32 ? 4 : 2;
    const char* w[4];
    for (size_t j = 0; j < 4; j++) w[j] = static_cast<const char*>(W) + (j < cols ? j : 0) * ldw * es;  // spare rows repeat row 0
    __m512 acc[M][4];
    for (size_t i = 0; i < M; i++)
      for (size_t j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    for (size_t k = 0; k < K; k += 16) {
      const size_t kn = K - k;  // load16 masks the tail
      __m512 wv[4], av[M];
      for (size_t j = 0; j < 4; j++) wv[j] = load16(w[j] + k * es, d, kn);
      for (size_t i = 0; i < M; i++) av[i] = _mm512_maskz_loadu_ps(first_lanes(kn), A + i * lda + k);
      for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(av[i], wv[j], acc[i][j]);
    }
    for (size_t i = 0; i < M; i++)
      for (size_t j = 0; j < 4; j++) out[i * 4 + j] = _mm512_reduce_add_ps(acc[i][j]);
  }

  static void epilogue(const float* C, size_t ldc, size_t mr, size_t nr, const float* bias, void* out, size_t ldo, DType d) {
    const size_t es = d == DType::float32 ? 4 : 2;
    for (size_t i = 0; i < mr; i++) {
      for (size_t j = 0; j < nr; j += 16) {
        const __mmask16 m = first_lanes(nr - j);
        __m512 v = _mm512_maskz_loadu_ps(m, C + i * ldc + j);
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j));
        store16(static_cast<char*>(out) + (i * ldo + j) * es, d, nr - j, v);
      }
    }
  }
};

}  // namespace

void gemm_tile_avx512(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1) {
  gemm_detail::gemm_tile<Avx512Isa>(p, m0, m1, n0, n1);
}
void gemm_pack_b_avx512(const void* B, size_t ldb, DType d, size_t N, size_t K, size_t j_begin, size_t j_end, float* dst) {
  gemm_detail::pack_b_panels<Avx512Isa>(B, ldb, d, N, K, j_begin, j_end, dst);
}
GemmBlocking gemm_blocking_avx512() {
  return {Avx512Isa::MR, Avx512Isa::NR, Avx512Isa::KC, Avx512Isa::NC, Avx512Isa::MC, "avx512"};
}

}  // namespace vl
