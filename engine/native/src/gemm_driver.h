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
//     pc over K in KC      pack A[ic.., pc..] into MR-row panels (once)
//       jc over N in NC    pack B[pc.., jc..] into NR-column panels (~L2)
//         ir over MR rows  the A panel (MR x KC) stays in L1
//           jr over NR     micro-kernel: MR x NR of C in registers,
//                          streaming one KC x NR panel of B from L2
// Isa provides:
//   MR, NR, KC, NC, MC                       blocking (MC % MR == 0, NC % NR == 0)
//   kernel(kc, Ap, Bp, C, ldc, add)          C[MR x NR] (=|+=) Ap * Bp
//   load_row(src, dtype, n, dst)             n elements of dtype -> float
//   pack_a_panel(A, lda, dtype, rows, kc, dst)  one MR-row panel, [k][MR]
//   pack_b_trans(B, ldb, dtype, kc, cols, dst)  one NR panel from B[N,K] rows
//   epilogue(C, ldc, mr, nr, bias, out, ldo, dtype)  C (+bias) -> out[dtype]
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
};

// Blocking of the active path, reported to tests (to build shapes that cross
// every block edge) and to the benchmark.
struct GemmBlocking { size_t MR, NR, KC, NC, MC; const char* level; };

namespace gemm_detail {

static inline size_t dtype_size(DType d) { return d == DType::float32 ? 4 : 2; }

// Grow-only, 64-byte aligned scratch owned by one thread. Templated on the
// Isa so each instruction-set build has its own copy (see the file comment).
template <class Isa>
struct Scratch {
  float* ptr = nullptr;
  size_t cap = 0;
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
  for (size_t j0 = 0; j0 < nc; j0 += NR) {
    float* panel = dst + j0 * kc;
    const size_t cols = std::min(NR, nc - j0);
    if (p.transB) {
      // B is [N,K]: the panel is a transpose of `cols` rows of B.
      Isa::pack_b_trans(base + ((col0 + j0) * p.ldb + row0) * es, p.ldb, p.b_dtype, kc, cols, panel);
    } else {
      for (size_t k = 0; k < kc; k++) {
        const char* src = base + ((row0 + k) * p.ldb + col0 + j0) * es;
        float* out = panel + k * NR;
        Isa::load_row(src, p.b_dtype, cols, out);
        for (size_t j = cols; j < NR; j++) out[j] = 0.f;
      }
    }
  }
}

// Streams the source of the next B block into the caches while the kernels
// work on the current one. Packing B reads NR rows as parallel streams,
// which the hardware prefetcher follows poorly, so without this the packing
// waits on DRAM; spread over the kernel calls, the reads overlap the math.
template <class Isa>
struct NextBlockPrefetcher {
  const char* base = nullptr;
  size_t rows = 0, row_lines = 0, stride = 0, per_step = 0, row = 0, line = 0;

  // `nrows` rows of `row_bytes` bytes, `stride` bytes apart, over `steps` calls of step().
  void start(const char* first, size_t nrows, size_t row_bytes, size_t stride_bytes, size_t steps) {
    base = first;
    rows = nrows;
    row_lines = row_bytes / 64 + 2;  // +2: the region need not start on a cache line
    stride = stride_bytes;
    row = line = 0;
    per_step = (rows * row_lines + steps - 1) / std::max<size_t>(steps, 1);
  }
  void stop() { rows = 0; }
  void step() {
    for (size_t i = 0; i < per_step && row < rows; i++) {
      __builtin_prefetch(base + row * stride + line * 64, 0, 2);
      if (++line == row_lines) { line = 0; row++; }
    }
  }
};

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

// Computes rows [m0,m1) x columns [n0,n1) of the problem on the calling thread.
template <class Isa>
void gemm_tile(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1) {
  constexpr size_t MR = Isa::MR, NR = Isa::NR, KC = Isa::KC, NC = Isa::NC, MC = Isa::MC;
  static_assert(MC % MR == 0 && NC % NR == 0, "block sizes must be multiples of the micro-tile");
  if (m0 >= m1 || n0 >= n1) return;

  thread_local Scratch<Isa> a_buf, b_buf, c_buf;
  if (p.K == 0) { fill_empty_product<Isa>(p, m0, m1, n0, n1, c_buf.get(n1 - n0)); return; }

  const size_t tile_m = m1 - m0, tile_n = n1 - n0;
  float* Ap = a_buf.get(std::min(MC, (tile_m + MR - 1) / MR * MR) * std::min(KC, p.K));
  float* Bp = b_buf.get(std::min(KC, p.K) * std::min(NC, (tile_n + NR - 1) / NR * NR));
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
  const size_t b_es = dtype_size(p.b_dtype);
  NextBlockPrefetcher<Isa> prefetch;
  const size_t m_blocks = (tile_m + MC - 1) / MC;
  const size_t mc_step = std::min(MC, ((tile_m + m_blocks - 1) / m_blocks + MR - 1) / MR * MR);
  for (size_t ic = m0; ic < m1; ic += mc_step) {
    const size_t mc = std::min(mc_step, m1 - ic);
    for (size_t pc = 0; pc < p.K; pc += KC) {
      const size_t kc = std::min(KC, p.K - pc);
      const bool first = pc == 0 && !p.accumulate;
      const bool last = pc + kc == p.K;
      pack_a<Isa>(p, ic, mc, pc, kc, Ap);
      for (size_t jc = n0; jc < n1; jc += NC) {
        const size_t nc = std::min(NC, n1 - jc);
        pack_b<Isa>(p, pc, kc, jc, nc, Bp);
        {
          // The B block packed after this one: next columns, else next K
          // block, else the first block again for the next rows of A.
          size_t next_pc = pc, next_jc = jc + NC, next_ic = ic;
          if (next_jc >= n1) { next_jc = n0; next_pc = pc + KC; }
          if (next_pc >= p.K) { next_pc = 0; next_ic = ic + mc_step; }
          const size_t steps = (mc + MR - 1) / MR * ((nc + NR - 1) / NR);
          if (next_ic >= m1) {
            prefetch.stop();
          } else {
            const size_t next_kc = std::min(KC, p.K - next_pc), next_nc = std::min(NC, n1 - next_jc);
            const char* src = static_cast<const char*>(p.B);
            if (p.transB)
              prefetch.start(src + (next_jc * p.ldb + next_pc) * b_es, next_nc, next_kc * b_es, p.ldb * b_es, steps);
            else
              prefetch.start(src + (next_pc * p.ldb + next_jc) * b_es, next_kc, next_nc * b_es, p.ldb * b_es, steps);
          }
        }
        for (size_t ir = 0; ir < mc; ir += MR) {
          const size_t mr = std::min(MR, mc - ir);
          const float* a_panel = Ap + ir * kc;
          for (size_t jr = 0; jr < nc; jr += NR) {
            const size_t nr = std::min(NR, nc - jr);
            const float* b_panel = Bp + jr * kc;
            prefetch.step();
            float* c;
            size_t ldc;
            if (direct) { c = static_cast<float*>(p.C) + (ic + ir) * p.ldc + jc + jr; ldc = p.ldc; }
            else if (single_pass) { c = tile; ldc = NR; }
            else { c = Cs + ir * cs_ld + (jc - n0) + jr; ldc = cs_ld; }

            if (mr == MR && nr == NR) {
              Isa::kernel(kc, a_panel, b_panel, c, ldc, !first);
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
GemmBlocking gemm_blocking_portable();
GemmBlocking gemm_blocking_avx2();
GemmBlocking gemm_blocking_avx512();
}  // namespace vl
