// The blocked GEMM driver shared by the portable, AVX2 and AVX-512 builds.
// It is a template over an instruction-set "Isa" struct and is instantiated
// once in each of gemm.cpp / gemm_avx2.cpp / gemm_avx512.cpp, which are
// compiled with different -m flags. Every Isa struct lives in an anonymous
// namespace, so each instantiation has internal linkage: the linker can never
// substitute an AVX-512 copy of a driver function into the portable path.
// For the same reason, nothing here calls the (externally linked) inline
// helpers of dtype.h: the Isa supplies every conversion.
//
// Loop nest (GotoBLAS/BLIS order, written for row-major C):
//   ic over M in MC rows
//     pc over K in KC      pack A[ic.., pc..] into MR-row panels (A is packed once)
//       jc over N in NC    pack B[pc.., jc..] into NR-column panels (held in L2)
//         ir over MR rows  one A panel (MR x KC) stays in L1 ...
//           jr over NR     ... while the micro-kernel (MR x NR of C in
//                          registers) streams the KC x NR panels of B from L2
// M and K are cut into equal blocks of at most MC / KC, so no thin
// remainder block costs an extra packing of B or an extra pass over C.
// Isa provides:
//   MR, NR, KC, NC, MC                       blocking (MC % MR == 0, NC % NR == 0)
//   kernel(kc, Ap, Bp, C, ldc, add)          C[MR x NR] (=|+=) Ap * Bp
//   kernel_rows(r, kc, Ap, Bp, C, ldc, add)  the same for the first r < MR rows; false if the Isa has none
//   load_row(src, dtype, n, dst)             n elements of dtype -> float
//   pack_a_panel(A, lda, dtype, rows, kc, dst)  one MR-row panel, [k][MR]
//   pack_b_trans(B, ldb, dtype, kc, cols, dst)  one NR panel from B[N,K] rows
//   epilogue(C, ldc, mr, nr, bias, out, ldo, dtype)  C (+bias) -> out[dtype]
//   dot_block(A, lda, m, W, ldw, dtype, K, cols, out)  out[i][j] = A_i . W_j
//                                            (i < m <= 4, j < cols <= 4, out is 4x4)
//
// A product with few rows and B given as [N,K] (a Linear on one token, e.g.
// a modulation layer: M = batch) is memory-bound on reading B, and packing B
// for it would cost more than the product; it takes the dot-product path
// (gemv_tile), which streams each row of B once.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include "dtype.h"

namespace vl {

// A type-erased matmul: C[M,N] = A[M,K] @ op(B) (+ bias) (or += for accumulate).
struct GemmProblem {
  size_t M = 0, N = 0, K = 0;
  const void* A = nullptr; size_t lda = 0; DType a_dtype = DType::float32;
  const void* B = nullptr; size_t ldb = 0; DType b_dtype = DType::float32; bool transB = false;
  void* C = nullptr; size_t ldc = 0; DType c_dtype = DType::float32;
  const float* bias = nullptr;  // N floats (converted by the caller) or null
  bool accumulate = false;      // C += product; float32 C only
  // op(B) already packed by gemm_pack_b_* (transB only): the panels the
  // driver would pack, for all N columns and every K block, in the driver's
  // own layout, so the micro-kernel sees the same floats in the same K order.
  // B is still used by the few-row dot-product path (gemv_tile).
  const float* packed_b = nullptr;
};

// Blocking of the active path, reported to tests (to build shapes that cross
// every block edge) and to the benchmark.
struct GemmBlocking { size_t MR, NR, KC, NC, MC; const char* level; };

namespace gemm_detail {

static inline size_t dtype_size(DType d) { return d == DType::float32 ? 4 : 2; }

// 64-byte aligned float scratch. Templated on the Isa so each
// instruction-set build has its own copy (see the file comment).
template <class Isa>
struct Scratch {
  float* ptr = nullptr;
  size_t cap = 0;
  // Grows (never shrinks) to at least n floats; the contents are not kept.
  float* get(size_t n) {
    if (n > cap) {
      std::free(ptr);
      size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!ptr) { cap = 0; throw std::bad_alloc(); }
      cap = n;
    }
    return ptr;
  }
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(ptr); }
};

// A[row0.., col0..] as MR-row panels: panel p holds rows p*MR.., laid out
// [k][MR]; rows past mc are zero so the kernel can always run MR rows.
template <class Isa>
void pack_a(const GemmProblem& p, size_t row0, size_t mc, size_t col0, size_t kc, float* dst) {
  constexpr size_t MR = Isa::MR;
  const size_t es = dtype_size(p.a_dtype);
  for (size_t r0 = 0; r0 < mc; r0 += MR) {
    const char* src = static_cast<const char*>(p.A) + ((row0 + r0) * p.lda + col0) * es;
    Isa::pack_a_panel(src, p.lda, p.a_dtype, std::min(MR, mc - r0), kc, dst + r0 * kc);
  }
}

// op(B)[row0.., col0..] (kc x nc) as NR-column panels laid out [k][NR];
// columns past nc are zero.
template <class Isa>
void pack_b(const GemmProblem& p, size_t row0, size_t kc, size_t col0, size_t nc, float* dst) {
  constexpr size_t NR = Isa::NR;
  const size_t es = dtype_size(p.b_dtype);
  const char* base = static_cast<const char*>(p.B);
  if (p.transB) {
    // B is [N,K]: each panel is a transpose of up to NR rows of B.
    for (size_t j0 = 0; j0 < nc; j0 += NR)
      Isa::pack_b_trans(base + ((col0 + j0) * p.ldb + row0) * es, p.ldb, p.b_dtype, kc, std::min(NR, nc - j0), dst + j0 * kc);
    return;
  }
  // B is [K,N]: read each row segment front to back, dealing it out to the panels.
  for (size_t k = 0; k < kc; k++) {
    const char* src = base + ((row0 + k) * p.ldb + col0) * es;
    for (size_t j0 = 0; j0 < nc; j0 += NR) {
      const size_t cols = std::min(NR, nc - j0);
      float* out = dst + j0 * kc + k * NR;
      Isa::load_row(src + j0 * es, p.b_dtype, cols, out);
      for (size_t j = cols; j < NR; j++) out[j] = 0.f;
    }
  }
}

// K == 0: the product is zero, so C is the bias (or zero), or unchanged when accumulating.
template <class Isa>
void fill_empty_product(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1, float* row_buf) {
  if (p.accumulate) return;
  const size_t n = n1 - n0;
  for (size_t j = 0; j < n; j++) row_buf[j] = 0.f;
  const size_t es = dtype_size(p.c_dtype);
  for (size_t i = m0; i < m1; i++) {
    char* out = static_cast<char*>(p.C) + (i * p.ldc + n0) * es;
    Isa::epilogue(row_buf, n, 1, n, p.bias ? p.bias + n0 : nullptr, out, p.ldc, p.c_dtype);
  }
}

// K is cut into equal blocks of at most KC (a multiple of 16 for the packing
// transposes): a thin last block would cost a whole extra pass over C. The
// prepacked layout uses the same blocks, so it depends only on K.
template <class Isa>
size_t k_block_step(size_t K) {
  const size_t k_blocks = (K + Isa::KC - 1) / Isa::KC;
  return std::min(Isa::KC, ((K + k_blocks - 1) / k_blocks + 15) / 16 * 16);
}

// Columns of the prepacked B: N rounded up to whole NR panels.
template <class Isa>
size_t packed_cols(size_t N) { return (N + Isa::NR - 1) / Isa::NR * Isa::NR; }

// Prepacked layout of op(B) for B[N,K] (transB): for each K block starting
// at pc (kc rows), the NR-column panels of every column, panel j0 at
// dst + pc * packed_cols(N) + j0 * kc, each [k][NR] as pack_b writes them
// (columns past N are zero). Packs the panels j0 in [j_begin, j_end) (multiples of NR).
template <class Isa>
void pack_b_panels(const void* B, size_t ldb, DType d, size_t N, size_t K, size_t j_begin, size_t j_end, float* dst) {
  const size_t es = dtype_size(d), ncols = packed_cols<Isa>(N), kc_step = k_block_step<Isa>(K);
  const char* base = static_cast<const char*>(B);
  for (size_t pc = 0; pc < K; pc += kc_step) {
    const size_t kc = std::min(kc_step, K - pc);
    for (size_t j0 = j_begin; j0 < j_end && j0 < N; j0 += Isa::NR)
      Isa::pack_b_trans(base + (j0 * ldb + pc) * es, ldb, d, kc, std::min(Isa::NR, N - j0), dst + pc * ncols + j0 * kc);
  }
}

// Rows of A (of the whole product) up to which a transB product takes the dot-product path.
constexpr size_t kGemvMaxRows = 4;

// C rows [m0,m1) (at most kGemvMaxRows) x columns [n0,n1) as dot products of
// rows of A with rows of B[N,K]; each row of B is read once.
template <class Isa>
void gemv_tile(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1, Scratch<Isa>& a_buf) {
  const size_t m = m1 - m0;
  const float* a = static_cast<const float*>(p.A) + m0 * p.lda;
  size_t lda = p.lda;
  if (p.a_dtype != DType::float32) {
    float* rows = a_buf.get(m * p.K);
    const size_t es = dtype_size(p.a_dtype);
    for (size_t i = 0; i < m; i++)
      Isa::load_row(static_cast<const char*>(p.A) + (m0 + i) * p.lda * es, p.a_dtype, p.K, rows + i * p.K);
    a = rows;
    lda = p.K;
  }
  const size_t b_es = dtype_size(p.b_dtype), out_es = dtype_size(p.c_dtype);
  alignas(64) float dots[4 * 4];
  for (size_t j = n0; j < n1; j += 4) {
    const size_t cols = std::min<size_t>(4, n1 - j);
    Isa::dot_block(a, lda, m, static_cast<const char*>(p.B) + j * p.ldb * b_es, p.ldb, p.b_dtype, p.K, cols, dots);
    char* out = static_cast<char*>(p.C) + (m0 * p.ldc + j) * out_es;
    if (p.accumulate) {  // float32 C only
      for (size_t i = 0; i < m; i++)
        for (size_t c = 0; c < cols; c++) dots[i * 4 + c] += reinterpret_cast<const float*>(out)[i * p.ldc + c];
    }
    Isa::epilogue(dots, 4, m, cols, p.bias ? p.bias + j : nullptr, out, p.ldc, p.c_dtype);
  }
}

// Computes rows [m0,m1) x columns [n0,n1) of the problem on the calling thread.
template <class Isa>
void gemm_tile(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1) {
  constexpr size_t MR = Isa::MR, NR = Isa::NR, KC = Isa::KC, NC = Isa::NC, MC = Isa::MC;
  static_assert(MC % MR == 0 && NC % NR == 0, "block sizes must be multiples of the micro-tile");
  if (m0 >= m1 || n0 >= n1) return;

  // Packing buffers are kept per thread (at most MC x KC and KC x NC floats);
  // the float accumulator for non-float32 outputs can be large, so it lives
  // only for this call.
  thread_local Scratch<Isa> a_buf, b_buf;
  Scratch<Isa> c_buf;
  if (p.K == 0) { fill_empty_product<Isa>(p, m0, m1, n0, n1, c_buf.get(n1 - n0)); return; }
  // decided by the whole product, not the tile, so how a product is split over
  // threads never changes which arithmetic a row of C gets
  if (p.transB && p.M <= kGemvMaxRows) { gemv_tile<Isa>(p, m0, m1, n0, n1, a_buf); return; }

  const size_t tile_m = m1 - m0, tile_n = n1 - n0;
  float* Ap = a_buf.get(std::min(MC, (tile_m + MR - 1) / MR * MR) * std::min(KC, p.K));
  const bool prepacked = p.packed_b != nullptr;
  float* Bp = prepacked ? nullptr : b_buf.get(std::min(KC, p.K) * std::min(NC, (tile_n + NR - 1) / NR * NR));
  const size_t packed_ncols = packed_cols<Isa>(p.N);
  alignas(64) float tile[MR * NR];

  // float32 C is accumulated in place. Other outputs accumulate in a float
  // scratch; when K fits one KC block the micro-tile buffer is enough.
  const bool direct = p.c_dtype == DType::float32;
  const bool single_pass = p.K <= KC;
  const bool need_epilogue = !direct || p.bias != nullptr;
  const size_t cs_ld = tile_n;
  float* Cs = (!direct && !single_pass) ? c_buf.get(std::min(MC, tile_m) * cs_ld) : nullptr;
  const size_t out_es = dtype_size(p.c_dtype);
  char* out_base = static_cast<char*>(p.C);

  // Split the rows into equal MC-sized blocks (B is packed once per block,
  // so a small remainder block would cost a whole extra packing of B).
  const size_t m_blocks = (tile_m + MC - 1) / MC;
  const size_t mc_step = std::min(MC, ((tile_m + m_blocks - 1) / m_blocks + MR - 1) / MR * MR);
  const size_t kc_step = k_block_step<Isa>(p.K);
  for (size_t ic = m0; ic < m1; ic += mc_step) {
    const size_t mc = std::min(mc_step, m1 - ic);
    for (size_t pc = 0; pc < p.K; pc += kc_step) {
      const size_t kc = std::min(kc_step, p.K - pc);
      const bool first = pc == 0 && !p.accumulate;
      const bool last = pc + kc == p.K;
      pack_a<Isa>(p, ic, mc, pc, kc, Ap);
      for (size_t jc = n0; jc < n1; jc += NC) {
        const size_t nc = std::min(NC, n1 - jc);
        // the prepacked block (pc, jc) is contiguous, as the packing buffer would be
        const float* b_block = prepacked ? p.packed_b + pc * packed_ncols + jc * kc : Bp;
        if (!prepacked) pack_b<Isa>(p, pc, kc, jc, nc, Bp);
        for (size_t ir = 0; ir < mc; ir += MR) {
          const size_t mr = std::min(MR, mc - ir);
          const float* a_panel = Ap + ir * kc;
          for (size_t jr = 0; jr < nc; jr += NR) {
            const size_t nr = std::min(NR, nc - jr);
            const float* b_panel = b_block + jr * kc;
            float* c;
            size_t ldc;
            if (direct) { c = static_cast<float*>(p.C) + (ic + ir) * p.ldc + jc + jr; ldc = p.ldc; }
            else if (single_pass) { c = tile; ldc = NR; }
            else { c = Cs + ir * cs_ld + (jc - n0) + jr; ldc = cs_ld; }

            if (mr == MR && nr == NR) {
              Isa::kernel(kc, a_panel, b_panel, c, ldc, !first);
            } else if (nr == NR && c != tile && Isa::kernel_rows(mr, kc, a_panel, b_panel, c, ldc, !first)) {
              // the last rows of the product, computed without the panel's zero rows
            } else if (c == tile) {
              Isa::kernel(kc, a_panel, b_panel, tile, NR, false);
            } else {
              // Edge tile: compute the full micro-tile aside, merge the valid part.
              Isa::kernel(kc, a_panel, b_panel, tile, NR, false);
              for (size_t i = 0; i < mr; i++) {
                float* crow = c + i * ldc;
                const float* trow = tile + i * NR;
                if (first) for (size_t j = 0; j < nr; j++) crow[j] = trow[j];
                else for (size_t j = 0; j < nr; j++) crow[j] += trow[j];
              }
            }
            if (last && need_epilogue) {
              char* out = out_base + ((ic + ir) * p.ldc + jc + jr) * out_es;
              Isa::epilogue(c, ldc, mr, nr, p.bias ? p.bias + jc + jr : nullptr, out, p.ldc, p.c_dtype);
            }
          }
        }
      }
    }
  }
}

}  // namespace gemm_detail

// Entry points of each instruction-set build: compute rows [m0,m1) x
// columns [n0,n1) of p on the calling thread.
void gemm_tile_portable(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1);
void gemm_tile_avx2(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1);
void gemm_tile_avx512(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1);
// Pack panels [j_begin, j_end) of B[N,K] (transB) in the prepacked layout (pack_b_panels).
void gemm_pack_b_portable(const void* B, size_t ldb, DType d, size_t N, size_t K, size_t j_begin, size_t j_end, float* dst);
void gemm_pack_b_avx2(const void* B, size_t ldb, DType d, size_t N, size_t K, size_t j_begin, size_t j_end, float* dst);
void gemm_pack_b_avx512(const void* B, size_t ldb, DType d, size_t N, size_t K, size_t j_begin, size_t j_end, float* dst);
GemmBlocking gemm_blocking_portable();
GemmBlocking gemm_blocking_avx2();
GemmBlocking gemm_blocking_avx512();
}  // namespace vl
