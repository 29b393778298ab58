// Row normalisations over the last dim of float activations: LayerNorm,
// RMSNorm (diffusers' RMSNorm) and a numerically stable softmax.
// Statistics are accumulated in double: the mean and the biased variance of
// LayerNorm are two-pass (mean first, then the sum of squared deviations), so
// rows with a large common offset do not lose digits to cancellation.
#include <algorithm>
#include <cmath>
#include <vector>
#include "float_ops.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {
namespace {

constexpr size_t kGrain = 16384;  // elements worth a thread of their own

// Sums with 8 independent double accumulators (vectorisable, and far more
// accurate than a float running sum).
double sum_double(const float* x, size_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) acc[k] += static_cast<double>(x[i + k]);
  for (; i < n; i++) acc[0] += static_cast<double>(x[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
double sum_squared_deviation(const float* x, size_t n, double mean) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) {
      double d = static_cast<double>(x[i + k]) - mean;
      acc[k] += d * d;
    }
  for (; i < n; i++) {
    double d = static_cast<double>(x[i]) - mean;
    acc[0] += d * d;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// float32 copy of an optional parameter vector (converted once, shared by all rows).
std::vector<float> load_param(const Napi::Value& v, DType d, size_t n, const char* what) {
  if (is_nullish(v)) return {};
  const uint8_t* p = checked_storage(v, d, 0, n, what);
  std::vector<float> r(n);
  activations_to_f32(d, p, r.data(), n);
  return r;
}

struct RowIO {
  DType in_dtype, out_dtype;
  const uint8_t* in;
  uint8_t* out;
  size_t cols;
  const float* load(size_t row, float* scratch) const {
    return f32_view(in_dtype, in + row * cols * float_elem_bytes(in_dtype), scratch, cols);
  }
  void store(size_t row, const float* y) const { f32_to_activations(out_dtype, y, out + row * cols * float_elem_bytes(out_dtype), cols); }
};

size_t rows_grain(size_t cols) { return std::max<size_t>(1, kGrain / std::max<size_t>(1, cols)); }

}  // namespace

// layerNorm(out, outDtype, x, xDtype, weight|null, bias|null, paramDtype, rows, cols, eps)
// y = (x - mean) / sqrt(var + eps) * weight + bias, biased variance (PyTorch).
static Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  DType out_dtype = arg_float_dtype(info, 1, "layerNorm: outDtype");
  DType x_dtype = arg_float_dtype(info, 3, "layerNorm: xDtype");
  DType param_dtype = arg_float_dtype(info, 6, "layerNorm: paramDtype");
  size_t rows = arg_size(info, 7, "layerNorm: rows");
  size_t cols = arg_size(info, 8, "layerNorm: cols");
  double eps = arg_num(info, 9, "layerNorm: eps");
  if (!(eps >= 0)) throw std::out_of_range("layerNorm: eps must be >= 0");
  size_t numel = mul_checked(rows, cols, "layerNorm: rows * cols");
  uint8_t* out = checked_storage(info[0], out_dtype, 0, numel, "layerNorm: out");
  const uint8_t* x = checked_storage(info[2], x_dtype, 0, numel, "layerNorm: x");
  const std::vector<float> weight = load_param(info[4], param_dtype, cols, "layerNorm: weight");
  const std::vector<float> bias = load_param(info[5], param_dtype, cols, "layerNorm: bias");
  if (numel == 0) return info.Env().Undefined();
  const RowIO io{x_dtype, out_dtype, x, out, cols};

  parallel_for_checked(rows, rows_grain(cols), [&](size_t begin, size_t end) {
    std::vector<float> xbuf(cols), ybuf(cols);
    for (size_t r = begin; r < end; r++) {
      const float* xv = io.load(r, xbuf.data());
      const double mean = sum_double(xv, cols) / static_cast<double>(cols);
      const double var = sum_squared_deviation(xv, cols, mean) / static_cast<double>(cols);
      const double rstd = 1.0 / std::sqrt(var + eps);
      float* y = ybuf.data();
      for (size_t c = 0; c < cols; c++) y[c] = static_cast<float>((static_cast<double>(xv[c]) - mean) * rstd);
      if (!weight.empty()) for (size_t c = 0; c < cols; c++) y[c] *= weight[c];
      if (!bias.empty()) for (size_t c = 0; c < cols; c++) y[c] += bias[c];
      io.store(r, y);
    }
  });
  return info.Env().Undefined();
}

// rmsNorm(out, outDtype, x, xDtype, weight|null, weightDtype, rows, cols, eps) as diffusers' RMSNorm:
//   variance = mean(x.float()^2); h = x * rsqrt(variance + eps)   (float32)
//   if weight: h = h.to(weight.dtype) when that is half precision; h = h * weight
static Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  DType out_dtype = arg_float_dtype(info, 1, "rmsNorm: outDtype");
  DType x_dtype = arg_float_dtype(info, 3, "rmsNorm: xDtype");
  DType weight_dtype = arg_float_dtype(info, 5, "rmsNorm: weightDtype");
  size_t rows = arg_size(info, 6, "rmsNorm: rows");
  size_t cols = arg_size(info, 7, "rmsNorm: cols");
  double eps = arg_num(info, 8, "rmsNorm: eps");
  if (!(eps >= 0)) throw std::out_of_range("rmsNorm: eps must be >= 0");
  size_t numel = mul_checked(rows, cols, "rmsNorm: rows * cols");
  uint8_t* out = checked_storage(info[0], out_dtype, 0, numel, "rmsNorm: out");
  const uint8_t* x = checked_storage(info[2], x_dtype, 0, numel, "rmsNorm: x");
  const std::vector<float> weight = load_param(info[4], weight_dtype, cols, "rmsNorm: weight");
  if (numel == 0) return info.Env().Undefined();
  const RowIO io{x_dtype, out_dtype, x, out, cols};
  const float eps_f = static_cast<float>(eps);  // a Python float added to a float32 tensor

  parallel_for_checked(rows, rows_grain(cols), [&](size_t begin, size_t end) {
    std::vector<float> xbuf(cols), ybuf(cols);
    for (size_t r = begin; r < end; r++) {
      const float* xv = io.load(r, xbuf.data());
      double ss = 0;
      {
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t c = 0;
        for (; c + 8 <= cols; c += 8)
          for (int k = 0; k < 8; k++) acc[k] += static_cast<double>(xv[c + k]) * xv[c + k];
        for (; c < cols; c++) acc[0] += static_cast<double>(xv[c]) * xv[c];
        ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      }
      const float variance = static_cast<float>(ss / static_cast<double>(cols));
      const float inv_rms = 1.0f / std::sqrt(variance + eps_f);
      float* y = ybuf.data();
      for (size_t c = 0; c < cols; c++) y[c] = xv[c] * inv_rms;
      if (!weight.empty()) {
        round_to_dtype(weight_dtype, y, cols);  // h.to(weight.dtype) for half-precision weights
        for (size_t c = 0; c < cols; c++) y[c] *= weight[c];
        if (out_dtype != weight_dtype) round_to_dtype(weight_dtype, y, cols);  // the product's dtype
      } else if (out_dtype != x_dtype) {
        round_to_dtype(x_dtype, y, cols);  // h.to(input_dtype)
      }
      io.store(r, y);
    }
  });
  return info.Env().Undefined();
}

// softmax(out, outDtype, x, xDtype, rows, cols): exp(x - max) / sum over the last dim.
static Napi::Value Softmax(const Napi::CallbackInfo& info) {
  DType out_dtype = arg_float_dtype(info, 1, "softmax: outDtype");
  DType x_dtype = arg_float_dtype(info, 3, "softmax: xDtype");
  size_t rows = arg_size(info, 4, "softmax: rows");
  size_t cols = arg_size(info, 5, "softmax: cols");
  size_t numel = mul_checked(rows, cols, "softmax: rows * cols");
  uint8_t* out = checked_storage(info[0], out_dtype, 0, numel, "softmax: out");
  const uint8_t* x = checked_storage(info[2], x_dtype, 0, numel, "softmax: x");
  if (numel == 0) return info.Env().Undefined();
  const RowIO io{x_dtype, out_dtype, x, out, cols};

  parallel_for_checked(rows, rows_grain(cols), [&](size_t begin, size_t end) {
    std::vector<float> xbuf(cols), ybuf(cols);
    for (size_t r = begin; r < end; r++) {
      const float* xv = io.load(r, xbuf.data());
      float* y = ybuf.data();
      const float max = vec_max(xv, cols);
      const float inv_sum = static_cast<float>(1.0 / vec_exp_shifted_sum(xv, y, cols, max));
      for (size_t c = 0; c < cols; c++) y[c] *= inv_sum;
      io.store(r, y);
    }
  });
  return info.Env().Undefined();
}

static void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("layerNorm", LayerNorm);
  VL_EXPORT("rmsNorm", RmsNorm);
  VL_EXPORT("softmax", Softmax);
}
VL_REGISTER(Register);

}  // namespace vl
