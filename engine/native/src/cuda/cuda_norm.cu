// Row normalisations over the last dim: LayerNorm, RMSNorm, softmax. One block
// per row; statistics accumulated in double as norm.cpp does, the rounding
// steps of norm.cpp kept (RMSNorm's casts to the weight / input dtype).
#include "cuda_common.cuh"
#include "../float_ops.h"

namespace vl {
namespace cu {
namespace {

constexpr int kThreads = 256;

// Sum over the block (all threads get the result).
template <typename T>
__device__ T block_sum(T v, T* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T t = 0;
  for (int w = 0; w < kThreads / 32; w++) t += shared[w];
  return t;
}
__device__ float block_max(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float t = shared[0];
  for (int w = 1; w < kThreads / 32; w++) t = fmaxf(t, shared[w]);
  return t;
}

__global__ void layer_norm_kernel(void* out, DType od, const void* x, DType xd, const void* w, const void* b, DType pd, size_t cols, double eps) {
  __shared__ double sd[kThreads / 32];
  size_t row = blockIdx.x, base = row * cols;
  double s = 0;
  for (size_t c = threadIdx.x; c < cols; c += kThreads) s += hd::load_act(x, xd, base + c);
  double mean = block_sum(s, sd) / static_cast<double>(cols);
  double q = 0;
  for (size_t c = threadIdx.x; c < cols; c += kThreads) { double d = hd::load_act(x, xd, base + c) - mean; q += d * d; }
  double var = block_sum(q, sd) / static_cast<double>(cols);
  double rstd = 1.0 / sqrt(var + eps);
  for (size_t c = threadIdx.x; c < cols; c += kThreads) {
    float y = static_cast<float>((static_cast<double>(hd::load_act(x, xd, base + c)) - mean) * rstd);
    if (w) y *= hd::load_act(w, pd, c);
    if (b) y += hd::load_act(b, pd, c);
    hd::store_act(out, od, base + c, y);
  }
}
__global__ void rms_norm_kernel(void* out, DType od, const void* x, DType xd, const void* w, DType wd, size_t cols, float eps) {
  __shared__ double sd[kThreads / 32];
  size_t row = blockIdx.x, base = row * cols;
  double s = 0;
  for (size_t c = threadIdx.x; c < cols; c += kThreads) { double v = hd::load_act(x, xd, base + c); s += v * v; }
  float variance = static_cast<float>(block_sum(s, sd) / static_cast<double>(cols));
  float inv = 1.0f / sqrtf(variance + eps);
  for (size_t c = threadIdx.x; c < cols; c += kThreads) {
    float y = hd::load_act(x, xd, base + c) * inv;
    if (w) {
      y = hd::round_to(wd, y) * hd::load_act(w, wd, c);
      if (od != wd) y = hd::round_to(wd, y);
    } else if (od != xd) {
      y = hd::round_to(xd, y);
    }
    hd::store_act(out, od, base + c, y);
  }
}
__global__ void softmax_kernel(void* out, DType od, const void* x, DType xd, size_t cols) {
  __shared__ float sf[kThreads / 32];
  __shared__ double sd[kThreads / 32];
  size_t row = blockIdx.x, base = row * cols;
  float m = -INFINITY;
  for (size_t c = threadIdx.x; c < cols; c += kThreads) m = fmaxf(m, hd::load_act(x, xd, base + c));
  m = block_max(m, sf);
  double s = 0;
  for (size_t c = threadIdx.x; c < cols; c += kThreads) s += expf(hd::load_act(x, xd, base + c) - m);
  float inv = static_cast<float>(1.0 / block_sum(s, sd));
  for (size_t c = threadIdx.x; c < cols; c += kThreads) hd::store_act(out, od, base + c, expf(hd::load_act(x, xd, base + c) - m) * inv);
}

const void* opt_dev(const Napi::Value& v, DType d, size_t n, const char* what) {
  return is_nullish(v) ? nullptr : dev_checked(v, d, 0, n, what);
}

// cudaLayerNorm(out, outDtype, x, xDtype, weight|null, bias|null, paramDtype, rows, cols, eps, stream)
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), xd = arg_float_dtype(info, 3, "xDtype"), pd = arg_float_dtype(info, 6, "paramDtype");
  size_t rows = arg_size(info, 7, "rows"), cols = arg_size(info, 8, "cols");
  double eps = arg_num(info, 9, "eps");
  if (!(eps >= 0)) throw std::out_of_range("cudaLayerNorm: eps must be >= 0");
  size_t n = mul_checked(rows, cols, "rows*cols");
  void* out = dev_checked(info[0], od, 0, n, "cudaLayerNorm: out");
  const void* x = dev_checked(info[2], xd, 0, n, "cudaLayerNorm: x");
  const void* w = opt_dev(info[4], pd, cols, "cudaLayerNorm: weight");
  const void* b = opt_dev(info[5], pd, cols, "cudaLayerNorm: bias");
  cudaStream_t st = arg_stream(info, 10);
  if (!n) return info.Env().Undefined();
  if (rows > 0x7fffffffu) throw std::out_of_range("cudaLayerNorm: too many rows");
  layer_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, st>>>(out, od, x, xd, w, b, pd, cols, eps);
  check_launch("cudaLayerNorm");
  return info.Env().Undefined();
}
// cudaRmsNorm(out, outDtype, x, xDtype, weight|null, weightDtype, rows, cols, eps, stream)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), xd = arg_float_dtype(info, 3, "xDtype"), wd = arg_float_dtype(info, 5, "weightDtype");
  size_t rows = arg_size(info, 6, "rows"), cols = arg_size(info, 7, "cols");
  double eps = arg_num(info, 8, "eps");
  if (!(eps >= 0)) throw std::out_of_range("cudaRmsNorm: eps must be >= 0");
  size_t n = mul_checked(rows, cols, "rows*cols");
  void* out = dev_checked(info[0], od, 0, n, "cudaRmsNorm: out");
  const void* x = dev_checked(info[2], xd, 0, n, "cudaRmsNorm: x");
  const void* w = opt_dev(info[4], wd, cols, "cudaRmsNorm: weight");
  cudaStream_t st = arg_stream(info, 9);
  if (!n) return info.Env().Undefined();
  if (rows > 0x7fffffffu) throw std::out_of_range("cudaRmsNorm: too many rows");
  rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, st>>>(out, od, x, xd, w, wd, cols, static_cast<float>(eps));
  check_launch("cudaRmsNorm");
  return info.Env().Undefined();
}
// cudaSoftmax(out, outDtype, x, xDtype, rows, cols, stream)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), xd = arg_float_dtype(info, 3, "xDtype");
  size_t rows = arg_size(info, 4, "rows"), cols = arg_size(info, 5, "cols");
  size_t n = mul_checked(rows, cols, "rows*cols");
  void* out = dev_checked(info[0], od, 0, n, "cudaSoftmax: out");
  const void* x = dev_checked(info[2], xd, 0, n, "cudaSoftmax: x");
  cudaStream_t st = arg_stream(info, 6);
  if (!n) return info.Env().Undefined();
  if (rows > 0x7fffffffu) throw std::out_of_range("cudaSoftmax: too many rows");
  softmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, st>>>(out, od, x, xd, cols);
  check_launch("cudaSoftmax");
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("cudaLayerNorm", LayerNorm);
  VL_EXPORT("cudaRmsNorm", RmsNorm);
  VL_EXPORT("cudaSoftmax", Softmax);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace cu
}  // namespace vl
