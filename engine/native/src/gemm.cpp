// CPU matmul: run-time choice of the AVX-512 / AVX2 / portable GEMM build,
// the split of the work over the thread pool, the portable micro-kernel, and
// the exported `matmul`, `gemmF32` and `gemmInfo` functions.
#include "gemm.h"

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>
#include "cpu_features.h"
#include "gemm_driver.h"
#include "napi_args.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {
namespace {

// Plain C++ micro-kernel; -O3 vectorises the NR loop with the baseline SSE2.
struct PortableIsa {
  static constexpr size_t MR = 4, NR = 8, KC = 256, NC = 512, MC = 512;
  // no partial-panel kernels: edge panels go through the full kernel and a tile buffer
  static bool kernel_rows(size_t, size_t, const float*, const float*, float*, size_t, bool) { return false; }

  static void kernel(size_t kc, const float* A, const float* B, float* C, size_t ldc, bool add) {
    float acc[MR][NR] = {};
    for (size_t k = 0; k < kc; k++, A += MR, B += NR)
      for (size_t i = 0; i < MR; i++)
        for (size_t j = 0; j < NR; j++) acc[i][j] += A[i] * B[j];
    for (size_t i = 0; i < MR; i++)
      for (size_t j = 0; j < NR; j++) C[i * ldc + j] = add ? C[i * ldc + j] + acc[i][j] : acc[i][j];
  }

  static float load(const void* src, DType d, size_t i) {
    if (d == DType::float32) return static_cast<const float*>(src)[i];
    const uint16_t h = static_cast<const uint16_t*>(src)[i];
    return d == DType::float16 ? f16_to_f32(h) : bf16_to_f32(h);
  }
  static void load_row(const void* src, DType d, size_t n, float* dst) {
    for (size_t i = 0; i < n; i++) dst[i] = load(src, d, i);
  }
  static void pack_a_panel(const void* src, size_t lda, DType d, size_t rows, size_t kc, float* dst) {
    for (size_t i = 0; i < MR; i++)
      for (size_t k = 0; k < kc; k++) dst[k * MR + i] = i < rows ? load(src, d, i * lda + k) : 0.f;
  }
  static void pack_b_trans(const void* src, size_t ldb, DType d, size_t kc, size_t cols, float* dst) {
    for (size_t j = 0; j < NR; j++)
      for (size_t k = 0; k < kc; k++) dst[k * NR + j] = j < cols ? load(src, d, j * ldb + k) : 0.f;
  }
  static void dot_block(const float* A, size_t lda, size_t m, const void* W, size_t ldw, DType d, size_t K, size_t cols, float* out) {
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < cols; j++) {
        float acc = 0.f;
        for (size_t k = 0; k < K; k++) acc += A[i * lda + k] * load(W, d, j * ldw + k);
        out[i * 4 + j] = acc;
      }
  }
  static void epilogue(const float* C, size_t ldc, size_t mr, size_t nr, const float* bias, void* out, size_t ldo, DType d) {
    for (size_t i = 0; i < mr; i++)
      for (size_t j = 0; j < nr; j++) {
        const float v = C[i * ldc + j] + (bias ? bias[j] : 0.f);
        const size_t o = i * ldo + j;
        if (d == DType::float32) static_cast<float*>(out)[o] = v;
        else if (d == DType::float16) static_cast<uint16_t*>(out)[o] = f32_to_f16(v);
        else static_cast<uint16_t*>(out)[o] = f32_to_bf16(v);
      }
  }
};

using TileFn = void (*)(const GemmProblem&, size_t, size_t, size_t, size_t);
using PackFn = void (*)(const void*, size_t, DType, size_t, size_t, size_t, size_t, float*);
struct GemmPath { TileFn tile; PackFn pack_b; GemmBlocking blocking; };

const GemmPath& active_path() {
  static const GemmPath path = [] {
    const CpuFeatures& f = cpu_features();
    if (f.avx512) return GemmPath{gemm_tile_avx512, gemm_pack_b_avx512, gemm_blocking_avx512()};
    if (f.avx2_fma && f.f16c) return GemmPath{gemm_tile_avx2, gemm_pack_b_avx2, gemm_blocking_avx2()};
    return GemmPath{gemm_tile_portable, gemm_pack_b_portable, gemm_blocking_portable()};
  }();
  return path;
}

// Floats of the prepacked B[N,K] on the active path: K x N rounded up to whole NR panels.
size_t packed_b_floats(size_t N, size_t K) {
  const size_t NR = active_path().blocking.NR;
  return K * ((N + NR - 1) / NR * NR);
}

// Below this many flops waking the pool costs more than it saves.
constexpr double kParallelMinFlops = 4.0e6;
// ... or below this many bytes of B (a one-token Linear reads a 768 x 2304 float32 weight, 7 MB,
// in 0.6 ms on one thread: memory-bound work that a second thread speeds up too)
constexpr double kParallelMinBytes = 1.0e6;

// Splits C into a pm x pn grid of tiles (one per thread). Each row of tiles
// packs its own copy of A's rows and each column of tiles its copy of B's
// columns, so the grid is chosen to minimise the packing done twice.
void run_parallel(const GemmProblem& p, const GemmPath& path) {
  const size_t MR = path.blocking.MR, NR = path.blocking.NR;
  const size_t m_units = (p.M + MR - 1) / MR, n_units = (p.N + NR - 1) / NR;
  size_t parts = static_cast<size_t>(num_threads());
  // a product with few rows is bound by reading B, which two threads read faster than one
  const double b_bytes = static_cast<double>(p.N) * p.K * gemm_detail::dtype_size(p.b_dtype);
  if (2.0 * p.M * p.N * p.K < kParallelMinFlops && b_bytes < kParallelMinBytes) parts = 1;
  parts = std::min(parts, m_units * n_units);
  if (parts <= 1) { path.tile(p, 0, p.M, 0, p.N); return; }

  size_t best_pm = 1, best_pn = parts;
  double best_cost = -1;
  for (size_t pm = 1; pm <= parts; pm++) {
    if (parts % pm) continue;
    const size_t pn = parts / pm;
    if (pm > m_units || pn > n_units) continue;
    const double cost = static_cast<double>(pm) * p.N * p.K + static_cast<double>(pn) * p.M * p.K;
    if (best_cost < 0 || cost < best_cost) { best_cost = cost; best_pm = pm; best_pn = pn; }
  }
  if (best_cost < 0) { best_pm = 1; best_pn = std::min(parts, n_units); parts = best_pn; }

  std::vector<std::exception_ptr> errors(parts);
  parallel_for(parts, 1, [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; t++) {
      const size_t tm = t / best_pn, tn = t % best_pn;
      const size_t m0 = std::min(p.M, m_units * tm / best_pm * MR), m1 = std::min(p.M, m_units * (tm + 1) / best_pm * MR);
      const size_t n0 = std::min(p.N, n_units * tn / best_pn * NR), n1 = std::min(p.N, n_units * (tn + 1) / best_pn * NR);
      try { path.tile(p, m0, m1, n0, n1); } catch (...) { errors[t] = std::current_exception(); }
    }
  });
  for (auto& e : errors) if (e) std::rethrow_exception(e);
}

}  // namespace

void gemm_tile_portable(const GemmProblem& p, size_t m0, size_t m1, size_t n0, size_t n1) {
  gemm_detail::gemm_tile<PortableIsa>(p, m0, m1, n0, n1);
}
void gemm_pack_b_portable(const void* B, size_t ldb, DType d, size_t N, size_t K, size_t j_begin, size_t j_end, float* dst) {
  gemm_detail::pack_b_panels<PortableIsa>(B, ldb, d, N, K, j_begin, j_end, dst);
}
GemmBlocking gemm_blocking_portable() {
  return {PortableIsa::MR, PortableIsa::NR, PortableIsa::KC, PortableIsa::NC, PortableIsa::MC, "portable"};
}

void gemm_f32(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* B, size_t ldb, bool transB, float* C, size_t ldc, bool accumulate) {
  if (M == 0 || N == 0) return;
  GemmProblem p;
  p.M = M; p.N = N; p.K = K;
  p.A = A; p.lda = lda;
  p.B = B; p.ldb = ldb; p.transB = transB;
  p.C = C; p.ldc = ldc;
  p.accumulate = accumulate;
  run_parallel(p, active_path());
}

namespace {

size_t checked_mul(size_t a, size_t b, const char* what) {
  size_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw std::out_of_range(std::string("matmul: ") + what + " is too large");
  return r;
}

// Bias[N] of any float dtype as floats (empty when null).
std::vector<float> read_bias(const Napi::CallbackInfo& info, size_t arg, size_t n, const char* what) {
  std::vector<float> bias;
  if (is_nullish(info[arg])) return bias;
  const DType bias_d = arg_dtype(info, arg + 1, what);
  if (!is_float_activation(bias_d)) throw std::invalid_argument(std::string(what) + " must be float32, float16 or bfloat16");
  check_fits(info[arg], bias_d, 0, n, what);
  const uint8_t* src = storage_ptr(info[arg], what);
  bias.resize(n);
  VL_DISPATCH_FLOAT(bias_d, D, {
    const auto* typed = reinterpret_cast<const typename Elem<D>::T*>(src);
    for (size_t j = 0; j < n; j++) bias[j] = Elem<D>::load(typed, j);
  });
  return bias;
}

// Checks the matmul operands (out, a, b at args 0/2/4 with their dtypes) and
// fills everything of p but bias and packed_b.
void matmul_problem(const Napi::CallbackInfo& info, size_t M_arg, bool transB, const char* fn, GemmProblem& p) {
  const std::string f(fn);
  const DType out_d = arg_dtype(info, 1, (f + ": outDtype").c_str());
  const DType a_d = arg_dtype(info, 3, (f + ": aDtype").c_str());
  const DType b_d = arg_dtype(info, 5, (f + ": bDtype").c_str());
  const int64_t M = arg_int(info, M_arg, (f + ": M").c_str()), N = arg_int(info, M_arg + 1, (f + ": N").c_str()), K = arg_int(info, M_arg + 2, (f + ": K").c_str());
  if (M < 0 || N < 0 || K < 0) throw std::invalid_argument(f + ": M, N and K must be non-negative");
  for (DType d : {out_d, a_d, b_d})
    if (!is_float_activation(d)) throw std::invalid_argument(f + ": out, a and b must be float32, float16 or bfloat16");
  const size_t m = static_cast<size_t>(M), n = static_cast<size_t>(N), k = static_cast<size_t>(K);
  check_fits(info[0], out_d, 0, checked_mul(m, n, "M*N"), (f + ": out").c_str());
  check_fits(info[2], a_d, 0, checked_mul(m, k, "M*K"), (f + ": a").c_str());
  check_fits(info[4], b_d, 0, checked_mul(k, n, "K*N"), (f + ": b").c_str());
  void* out = storage_ptr(info[0], (f + ": out").c_str());
  const void* a = storage_ptr(info[2], (f + ": a").c_str());
  const void* b = storage_ptr(info[4], (f + ": b").c_str());
  if (out == a || out == b) throw std::invalid_argument(f + ": out must not share its storage with a or b");
  p.M = m; p.N = n; p.K = k;
  p.A = a; p.lda = k; p.a_dtype = a_d;
  p.B = b; p.ldb = transB ? k : n; p.b_dtype = b_d; p.transB = transB;
  p.C = out; p.ldc = n; p.c_dtype = out_d;
}

// matmul(out, outDtype, a, aDtype, b, bDtype, bias|null, biasDtype, M, N, K, transB)
// out[M,N] = a[M,K] @ (transB ? b[N,K]^T : b[K,N]) + bias[N]
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  if (info.Length() < 12) throw std::invalid_argument("matmul expects 12 arguments (out, outDtype, a, aDtype, b, bDtype, bias, biasDtype, M, N, K, transB)");
  GemmProblem p;
  matmul_problem(info, 8, arg_bool(info, 11, "matmul: transB"), "matmul", p);
  const std::vector<float> bias = read_bias(info, 6, p.N, "matmul: bias");
  if (p.M == 0 || p.N == 0) return info.Env().Undefined();
  p.bias = bias.empty() ? nullptr : bias.data();
  run_parallel(p, active_path());
  return info.Env().Undefined();
}

// gemmPackedBFloats(N, K) -> floats of the prepacked B[N,K] on this CPU's GEMM path.
Napi::Value GemmPackedBFloats(const Napi::CallbackInfo& info) {
  const int64_t N = arg_int(info, 0, "gemmPackedBFloats: N"), K = arg_int(info, 1, "gemmPackedBFloats: K");
  if (N < 0 || K < 0) throw std::invalid_argument("gemmPackedBFloats: N and K must be non-negative");
  return Napi::Number::New(info.Env(), static_cast<double>(packed_b_floats(static_cast<size_t>(N), static_cast<size_t>(K))));
}

// gemmPackB(dst, b, bDtype, N, K): packs a Linear weight b[N,K] once into dst
// (gemmPackedBFloats(N, K) float32s) in the layout the GEMM driver packs
// per call, so matmulPackedB can skip that step.
Napi::Value GemmPackB(const Napi::CallbackInfo& info) {
  if (info.Length() < 5) throw std::invalid_argument("gemmPackB expects 5 arguments (dst, b, bDtype, N, K)");
  const DType b_d = arg_dtype(info, 2, "gemmPackB: bDtype");
  if (!is_float_activation(b_d)) throw std::invalid_argument("gemmPackB: b must be float32, float16 or bfloat16");
  const int64_t N = arg_int(info, 3, "gemmPackB: N"), K = arg_int(info, 4, "gemmPackB: K");
  if (N < 0 || K < 0) throw std::invalid_argument("gemmPackB: N and K must be non-negative");
  const size_t n = static_cast<size_t>(N), k = static_cast<size_t>(K);
  check_fits(info[1], b_d, 0, checked_mul(n, k, "N*K"), "gemmPackB: b");
  check_fits(info[0], DType::float32, 0, packed_b_floats(n, k), "gemmPackB: dst");
  float* dst = reinterpret_cast<float*>(storage_ptr(info[0], "gemmPackB: dst"));
  const void* b = storage_ptr(info[1], "gemmPackB: b");
  const GemmPath& path = active_path();
  const size_t NR = path.blocking.NR, panels = (n + NR - 1) / NR;
  parallel_for(panels, 8, [&](size_t begin, size_t end) { path.pack_b(b, k, b_d, n, k, begin * NR, end * NR, dst); });
  return info.Env().Undefined();
}

// matmulPackedB(out, outDtype, a, aDtype, b, bDtype, packed, bias|null, biasDtype, M, N, K)
// out[M,N] = a[M,K] @ b[N,K]^T + bias[N] with b's panels taken from `packed`
// (gemmPackB of this b). Bit-identical to matmul(..., transB = true): the
// same micro-kernel and K blocks for every element (and the same split over
// threads); b itself serves products of at most kGemvMaxRows rows, which
// take the dot-product path.
Napi::Value MatmulPackedB(const Napi::CallbackInfo& info) {
  if (info.Length() < 12) throw std::invalid_argument("matmulPackedB expects 12 arguments (out, outDtype, a, aDtype, b, bDtype, packed, bias, biasDtype, M, N, K)");
  GemmProblem p;
  matmul_problem(info, 9, true, "matmulPackedB", p);
  check_fits(info[6], DType::float32, 0, packed_b_floats(p.N, p.K), "matmulPackedB: packed");
  const float* packed = reinterpret_cast<const float*>(storage_ptr(info[6], "matmulPackedB: packed"));
  const std::vector<float> bias = read_bias(info, 7, p.N, "matmulPackedB: bias");
  if (p.M == 0 || p.N == 0) return info.Env().Undefined();
  p.bias = bias.empty() ? nullptr : bias.data();
  p.packed_b = packed;
  run_parallel(p, active_path());
  return info.Env().Undefined();
}

// Elements a row-major [rows, cols] view with leading dimension ld spans.
size_t view_extent(size_t rows, size_t cols, size_t ld, const char* what) {
  if (ld < cols) throw std::invalid_argument(std::string("gemmF32: the leading dimension of ") + what + " is smaller than its row length");
  if (rows == 0 || cols == 0) return 0;
  return checked_mul(rows - 1, ld, what) + cols;
}

// gemmF32(M, N, K, a, aOffset, lda, b, bOffset, ldb, transB, c, cOffset, ldc, accumulate)
// The float32 gemm_f32 on strided views of storages (offsets in elements):
// c[M,N] (=|+=) a[M,K] @ op(b).
Napi::Value GemmF32(const Napi::CallbackInfo& info) {
  if (info.Length() < 14) throw std::invalid_argument("gemmF32 expects 14 arguments (M, N, K, a, aOffset, lda, b, bOffset, ldb, transB, c, cOffset, ldc, accumulate)");
  int64_t v[9];
  const size_t idx[9] = {0, 1, 2, 4, 5, 7, 8, 11, 12};
  const char* names[9] = {"gemmF32: M", "gemmF32: N", "gemmF32: K", "gemmF32: aOffset", "gemmF32: lda", "gemmF32: bOffset", "gemmF32: ldb", "gemmF32: cOffset", "gemmF32: ldc"};
  for (int i = 0; i < 9; i++) {
    v[i] = arg_int(info, idx[i], names[i]);
    if (v[i] < 0) throw std::invalid_argument(std::string(names[i]) + " must be non-negative");
  }
  const size_t M = v[0], N = v[1], K = v[2], a_off = v[3], lda = v[4], b_off = v[5], ldb = v[6], c_off = v[7], ldc = v[8];
  const bool transB = arg_bool(info, 9, "gemmF32: transB");
  const bool accumulate = arg_bool(info, 13, "gemmF32: accumulate");
  const size_t a_n = view_extent(M, K, lda, "a");
  const size_t b_n = transB ? view_extent(N, K, ldb, "b") : view_extent(K, N, ldb, "b");
  const size_t c_n = view_extent(M, N, ldc, "c");
  check_fits(info[3], DType::float32, a_off, a_n, "gemmF32: a");
  check_fits(info[6], DType::float32, b_off, b_n, "gemmF32: b");
  check_fits(info[10], DType::float32, c_off, c_n, "gemmF32: c");
  float* a = reinterpret_cast<float*>(storage_ptr(info[3], "gemmF32: a")) + a_off;
  float* b = reinterpret_cast<float*>(storage_ptr(info[6], "gemmF32: b")) + b_off;
  float* c = reinterpret_cast<float*>(storage_ptr(info[10], "gemmF32: c")) + c_off;
  auto overlaps = [&](const float* x, size_t xn) { return c_n && xn && x < c + c_n && c < x + xn; };
  if (overlaps(a, a_n) || overlaps(b, b_n)) throw std::invalid_argument("gemmF32: c must not overlap a or b");
  gemm_f32(M, N, K, a, lda, b, ldb, transB, c, ldc, accumulate);
  return info.Env().Undefined();
}

// gemmInfo() -> { level, mr, nr, kc, nc, mc, gemvMaxRows }: the blocking of the active path.
Napi::Value GemmInfo(const Napi::CallbackInfo& info) {
  const GemmBlocking& b = active_path().blocking;
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("level", b.level);
  o.Set("mr", static_cast<double>(b.MR));
  o.Set("nr", static_cast<double>(b.NR));
  o.Set("kc", static_cast<double>(b.KC));
  o.Set("nc", static_cast<double>(b.NC));
  o.Set("mc", static_cast<double>(b.MC));
  o.Set("gemvMaxRows", static_cast<double>(gemm_detail::kGemvMaxRows));
  return o;
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("matmul", Matmul);
  VL_EXPORT("gemmF32", GemmF32);
  VL_EXPORT("gemmInfo", GemmInfo);
  VL_EXPORT("gemmPackedBFloats", GemmPackedBFloats);
  VL_EXPORT("gemmPackB", GemmPackB);
  VL_EXPORT("matmulPackedB", MatmulPackedB);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
