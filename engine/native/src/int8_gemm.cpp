// int8Gemm: out[M,N] = float32(acc[m,n]) * xScale[m] * wScale[n * wScaleStride] + bias[n]
// with acc = sum_k xq[m,k] * wq[n,k] accumulated exactly in int32 (int8 x int8
// products, K <= 131071 so no sum can leave int32's range). The epilogue is
// float32, left to right, each step rounded: v = float32(acc); v = v * xScale[m];
// v = v * wScale[n * stride]; v = v + bias[n]; then v is rounded to outDtype
// (torchao's int8 dynamic-activation path: int_scaled_matmul, then * w_scales).
//
// Paths: AVX-512 VNNI (vpdpbusd), AVX2 (vpmaddwd on sign-extended int16) and
// portable C++. All produce the same int32 sums, and the epilogue lives here
// (built without FMA), so every level writes identical bytes. X and W are
// packed once per call into the path's layout, then the output is computed in
// blocks of rows x panels over the thread pool.
#include "int8_gemm.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "float_ops.h"
#include "napi_args.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {
namespace {

// Largest K whose worst-case sum (K * (-128) * (-128)) still fits int32.
constexpr size_t kMaxK = 131071;

// ---- portable path: dot products of row pairs (the compiler vectorises the k loop) ----

constexpr size_t kPortableMR = 4, kPortableNR = 4;

int32_t dot_int8(const int8_t* a, const int8_t* b, size_t K) {
  int32_t acc = 0;
  for (size_t k = 0; k < K; k++) acc += static_cast<int32_t>(a[k]) * static_cast<int32_t>(b[k]);
  return acc;
}
void portable_tile(const int8_t* const* x_rows, const int8_t* const* w_rows, size_t K, const int32_t*, int32_t* c) {
  for (size_t i = 0; i < kPortableMR; i++)
    for (size_t j = 0; j < kPortableNR; j++) c[i * kPortableNR + j] = dot_int8(x_rows[i], w_rows[j], K);
}

const Int8GemmKernels kPortableKernels{"portable", kPortableMR, kPortableNR, 1, false, portable_tile};

const Int8GemmKernels& active_kernels() {
  static const Int8GemmKernels& k = [&]() -> const Int8GemmKernels& {
    const CpuFeatures& f = cpu_features();
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (f.avx512 && __builtin_cpu_supports("avx512vnni")) return int8_gemm_kernels_avx512_vnni();
#endif
    if (f.avx2_fma) return int8_gemm_kernels_avx2();
    return kPortableKernels;
  }();
  return k;
}

// ---- driver ----------------------------------------------------------------

struct Int8Problem {
  size_t M, N, K;
  const int8_t* x;
  const float* x_scale;
  const int8_t* w;
  const float* w_scale;
  size_t w_scale_stride;
  const float* bias;  // float32 or null
  uint8_t* out;
  DType out_dtype;
};

// Scales and stores the valid rows x cols of one micro-tile (row stride nr).
void epilogue(const Int8Problem& p, const int32_t* acc, size_t nr, size_t m0, size_t rows, size_t n0, size_t cols) {
  float v[64];
  for (size_t i = 0; i < rows; i++) {
    const float xs = p.x_scale[m0 + i];
    for (size_t j = 0; j < cols; j++) {
      float y = static_cast<float>(acc[i * nr + j]);
      y = y * xs;
      y = y * p.w_scale[(n0 + j) * p.w_scale_stride];
      if (p.bias) y = y + p.bias[n0 + j];
      v[j] = y;
    }
    const size_t o = (m0 + i) * p.N + n0;
    switch (p.out_dtype) {
      case DType::float32: std::memcpy(reinterpret_cast<float*>(p.out) + o, v, cols * sizeof(float)); break;
      case DType::float16: for (size_t j = 0; j < cols; j++) reinterpret_cast<uint16_t*>(p.out)[o + j] = f32_to_f16(v[j]); break;
      default: for (size_t j = 0; j < cols; j++) reinterpret_cast<uint16_t*>(p.out)[o + j] = f32_to_bf16(v[j]); break;
    }
  }
}

void run(const Int8Problem& p, const Int8GemmKernels& kern) {
  const size_t mr = kern.mr, nr = kern.nr;
  const size_t groups = (p.M + mr - 1) / mr, panels = (p.N + nr - 1) / nr;
  // Rows are read in place, with leading dimension ld; a K the kernel cannot
  // step through exactly is zero-padded (zeros add nothing to the sums).
  const size_t ld = (p.K + kern.k_multiple - 1) / kern.k_multiple * kern.k_multiple;
  const int8_t* x = p.x;
  const int8_t* w = p.w;
  std::vector<int8_t> x_padded, w_padded;
  if (ld != p.K) {
    x_padded.assign(p.M * ld, 0);
    w_padded.assign(p.N * ld, 0);
    parallel_for(p.M + p.N, std::max<size_t>(1, 65536 / ld), [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; r++) {
        if (r < p.M) std::memcpy(x_padded.data() + r * ld, p.x + r * p.K, p.K);
        else std::memcpy(w_padded.data() + (r - p.M) * ld, p.w + (r - p.M) * p.K, p.K);
      }
    });
    x = x_padded.data();
    w = w_padded.data();
  }
  std::vector<int32_t> x_row_sums;
  if (kern.needs_x_row_sums) {
    x_row_sums.resize(p.M);
    parallel_for(p.M, std::max<size_t>(1, 65536 / std::max<size_t>(p.K, 1)), [&](size_t m0, size_t m1) {
      for (size_t m = m0; m < m1; m++) {
        int32_t s = 0;
        for (size_t k = 0; k < p.K; k++) s += p.x[m * p.K + k];
        x_row_sums[m] = s;
      }
    });
  }

  // A block of X rows (at most ~384 KiB) stays in L2 while every row panel of
  // W in the task's range passes it once; a panel (NR rows) stays in L1 while
  // the block's row groups stream past it.
  const size_t block_groups = std::max<size_t>(1, std::min<size_t>(groups, (size_t(384) << 10) / std::max<size_t>(mr * ld, 1)));
  const size_t row_blocks = (groups + block_groups - 1) / block_groups;
  // Tasks: row blocks x panel ranges, about four per thread for balance.
  const size_t threads = static_cast<size_t>(num_threads());
  const size_t panel_parts = std::min(panels, std::max<size_t>(1, (4 * threads + row_blocks - 1) / row_blocks));
  parallel_for(row_blocks * panel_parts, 1, [&](size_t t0, size_t t1) {
    int32_t acc[16 * 16];
    const int8_t* x_rows[16];
    const int8_t* w_rows[16];
    int32_t sums[16] = {};
    for (size_t t = t0; t < t1; t++) {
      const size_t rb = t / panel_parts, pp = t % panel_parts;
      const size_t g0 = rb * block_groups, g1 = std::min(groups, g0 + block_groups);
      const size_t q0 = panels * pp / panel_parts, q1 = panels * (pp + 1) / panel_parts;
      for (size_t q = q0; q < q1; q++) {
        const size_t n0 = q * nr, cols = std::min(nr, p.N - n0);
        for (size_t j = 0; j < nr; j++) w_rows[j] = w + (n0 + std::min(j, cols - 1)) * ld;  // repeat the last row past N
        for (size_t g = g0; g < g1; g++) {
          const size_t m0 = g * mr, rows = std::min(mr, p.M - m0);
          for (size_t i = 0; i < mr; i++) {
            const size_t m = m0 + std::min(i, rows - 1);  // repeat the last row past M
            x_rows[i] = x + m * ld;
            if (kern.needs_x_row_sums) sums[i] = x_row_sums[m];
          }
          kern.tile(x_rows, w_rows, ld, sums, acc);
          epilogue(p, acc, nr, m0, rows, n0, cols);
        }
      }
    }
  });
}

// int8Gemm(out, outDtype, xq, xScale, wq, wScale, wScaleStride, bias|null, biasDtype, M, N, K)
Napi::Value Int8Gemm(const Napi::CallbackInfo& info) {
  if (info.Length() != 12)
    throw std::invalid_argument("int8Gemm expects (out, outDtype, xq, xScale, wq, wScale, wScaleStride, bias, biasDtype, M, N, K)");
  Int8Problem p;
  p.out_dtype = arg_float_dtype(info, 1, "int8Gemm: outDtype");
  p.w_scale_stride = arg_size(info, 6, "int8Gemm: wScaleStride");
  p.M = arg_size(info, 9, "int8Gemm: M");
  p.N = arg_size(info, 10, "int8Gemm: N");
  p.K = arg_size(info, 11, "int8Gemm: K");
  if (p.K > kMaxK)
    throw std::out_of_range("int8Gemm: K = " + std::to_string(p.K) + " exceeds 131071, past which an int32 sum of int8 products could overflow");
  const size_t mn = mul_checked(p.M, p.N, "int8Gemm: M * N");
  p.out = checked_storage(info[0], p.out_dtype, 0, mn, "int8Gemm: out");
  p.x = reinterpret_cast<const int8_t*>(checked_storage(info[2], DType::int8, 0, mul_checked(p.M, p.K, "int8Gemm: M * K"), "int8Gemm: xq"));
  p.x_scale = reinterpret_cast<const float*>(checked_storage(info[3], DType::float32, 0, p.M, "int8Gemm: xScale"));
  p.w = reinterpret_cast<const int8_t*>(checked_storage(info[4], DType::int8, 0, mul_checked(p.N, p.K, "int8Gemm: N * K"), "int8Gemm: wq"));
  const size_t ws_n = p.N == 0 ? 0 : add_checked(mul_checked(p.N - 1, p.w_scale_stride, "int8Gemm: wScale extent"), 1, "int8Gemm: wScale extent");
  p.w_scale = reinterpret_cast<const float*>(checked_storage(info[5], DType::float32, 0, ws_n, "int8Gemm: wScale"));
  std::vector<float> bias;
  if (!is_nullish(info[7])) {
    const DType bias_d = arg_float_dtype(info, 8, "int8Gemm: biasDtype");
    const uint8_t* b = checked_storage(info[7], bias_d, 0, p.N, "int8Gemm: bias");
    bias.resize(p.N);
    activations_to_f32(bias_d, b, bias.data(), p.N);
  }
  p.bias = bias.empty() ? nullptr : bias.data();
  for (const void* input : {static_cast<const void*>(p.x), static_cast<const void*>(p.x_scale), static_cast<const void*>(p.w),
                            static_cast<const void*>(p.w_scale)})
    if (input == p.out) throw std::invalid_argument("int8Gemm: out must not share its storage with an input");
  if (mn == 0) return info.Env().Undefined();
  run(p, active_kernels());
  return info.Env().Undefined();
}

// int8GemmInfo() -> { path, mr, nr }: the build in use (for tests and benchmarks).
Napi::Value Int8GemmInfo(const Napi::CallbackInfo& info) {
  const Int8GemmKernels& k = active_kernels();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("path", k.name);
  o.Set("mr", static_cast<double>(k.mr));
  o.Set("nr", static_cast<double>(k.nr));
  return o;
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("int8Gemm", Int8Gemm);
  VL_EXPORT("int8GemmInfo", Int8GemmInfo);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
