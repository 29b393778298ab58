// Elementwise kernels on float activations (float32/float16/bfloat16):
// binary with broadcasting strides, unary, scalar ops, clamp, AdaLN
// modulation. Same contracts and rounding steps as elementwise.cpp / clamp.cpp;
// values computed in float32 and rounded once on store (hd::store_act).
#include <cstring>
#include "cuda_common.cuh"
#include "../float_ops.h"

namespace vl {
namespace cu {
namespace {

enum class Bin : int { add, sub, mul, div };
enum class Un : int { gelu_tanh, gelu, silu, relu, neg, exp, sqrt, rsqrt, sin, cos };

Bin parse_bin(const std::string& s) {
  if (s == "add") return Bin::add;
  if (s == "sub") return Bin::sub;
  if (s == "mul") return Bin::mul;
  if (s == "div") return Bin::div;
  throw std::invalid_argument("unknown binary op \"" + s + "\" (add, sub, mul, div)");
}
Un parse_un(const std::string& s) {
  static const char* names[] = {"gelu_tanh", "gelu", "silu", "relu", "neg", "exp", "sqrt", "rsqrt", "sin", "cos"};
  for (int i = 0; i < 10; i++) if (s == names[i]) return static_cast<Un>(i);
  throw std::invalid_argument("unknown unary op \"" + s + "\"");
}
std::string arg_str(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw std::invalid_argument(std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

__device__ __forceinline__ float apply_bin(Bin op, float a, float b) {
  switch (op) {
    case Bin::add: return a + b;
    case Bin::sub: return a - b;
    case Bin::mul: return a * b;
    default: return a / b;
  }
}
__device__ __forceinline__ float apply_un(Un op, float x) {
  switch (op) {
    case Un::gelu_tanh: {
      const float k = 2.0f * 0.7978845608028654f;
      return x / (1.0f + expf(-k * (x + 0.044715f * x * x * x)));
    }
    case Un::gelu: return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
    case Un::silu: return x / (1.0f + expf(-x));
    case Un::relu: return x > 0.0f ? x : (x == x ? 0.0f : x);
    case Un::neg: return -x;
    case Un::exp: return expf(x);
    case Un::sqrt: return sqrtf(x);
    case Un::rsqrt: return 1.0f / sqrtf(x);
    case Un::sin: return sinf(x);
    default: return cosf(x);
  }
}

struct Strided8 {
  int rank;
  int64_t shape[8], a[8], b[8];
};

__global__ void binary_kernel(Bin op, void* out, DType od, const void* a, DType ad, size_t ao, const void* b, DType bd, size_t bo,
                              Strided8 s, size_t numel) {
  VL_GRID_STRIDE(i, numel) {
    size_t rem = i, ai = ao, bi = bo;
    for (int k = s.rank - 1; k >= 0; k--) {
      size_t idx = rem % s.shape[k];
      rem /= s.shape[k];
      ai += idx * s.a[k];
      bi += idx * s.b[k];
    }
    hd::store_act(out, od, i, apply_bin(op, hd::load_act(a, ad, ai), hd::load_act(b, bd, bi)));
  }
}
__global__ void unary_kernel(Un op, void* out, DType od, const void* x, DType xd, size_t n) {
  VL_GRID_STRIDE(i, n) hd::store_act(out, od, i, apply_un(op, hd::load_act(x, xd, i)));
}
__global__ void scalar_kernel(Bin op, void* out, DType od, const void* x, DType xd, float s, bool first, size_t n) {
  VL_GRID_STRIDE(i, n) {
    float v = hd::load_act(x, xd, i);
    hd::store_act(out, od, i, first ? apply_bin(op, s, v) : apply_bin(op, v, s));
  }
}
__global__ void clamp_kernel(void* out, DType od, const void* x, DType xd, float lo, float hi, size_t n) {
  VL_GRID_STRIDE(i, n) {
    float v = hd::load_act(x, xd, i);
    if (v == v) v = v < lo ? lo : (v > hi ? hi : v);  // NaN stays NaN
    hd::store_act(out, od, i, v);
  }
}
__global__ void modulate_kernel(void* out, DType od, const void* x, DType xd, const void* scale, const void* shift, DType md,
                                size_t tokens, size_t dim, size_t so, size_t ho, size_t stride, DType step, size_t n) {
  VL_GRID_STRIDE(i, n) {
    size_t row = i / dim, d = i % dim, b = row / tokens;
    float sc = hd::load_act(scale, md, so + b * stride + d), sh = hd::load_act(shift, md, ho + b * stride + d);
    float t = hd::round_to(md, 1.0f + sc);
    float y = hd::round_to(step, hd::load_act(x, xd, i) * t);
    float o = y + sh;
    if (od != step) o = hd::round_to(step, o);
    hd::store_act(out, od, i, o);
  }
}

size_t extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, const char* what) {
  if (strides.size() != shape.size()) throw std::invalid_argument(std::string(what) + " must have one entry per dim");
  size_t e = 1;
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] == 0) return 0;
    if (strides[i] < 0) throw std::out_of_range(std::string(what) + " must be >= 0");
    e += static_cast<size_t>(shape[i] - 1) * static_cast<size_t>(strides[i]);
  }
  return e;
}

// cudaBinaryOp(op, out, outDtype, a, aDtype, aOffset, aStrides, b, bDtype, bOffset, bStrides, shape, stream)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Bin op = parse_bin(arg_str(info, 0, "cudaBinaryOp: op"));
  DType od = arg_float_dtype(info, 2, "outDtype"), ad = arg_float_dtype(info, 4, "aDtype"), bd = arg_float_dtype(info, 8, "bDtype");
  size_t ao = arg_size(info, 5, "aOffset"), bo = arg_size(info, 9, "bOffset");
  std::vector<int64_t> as = arg_index_array(info, 6, "aStrides"), bs = arg_index_array(info, 10, "bStrides"), shape = arg_index_array(info, 11, "shape");
  if (shape.size() > 8) throw std::invalid_argument("cudaBinaryOp: rank above 8");
  size_t numel = 1;
  for (int64_t d : shape) { if (d < 0) throw std::out_of_range("negative dim"); numel = mul_checked(numel, static_cast<size_t>(d), "shape"); }
  void* out = dev_checked(info[1], od, 0, numel, "cudaBinaryOp: out");
  const void* a = dev_checked(info[3], ad, ao, extent(shape, as, "aStrides"), "cudaBinaryOp: a");
  const void* b = dev_checked(info[7], bd, bo, extent(shape, bs, "bStrides"), "cudaBinaryOp: b");
  cudaStream_t st = arg_stream(info, 12);
  if (numel == 0) return info.Env().Undefined();
  Strided8 s{};
  s.rank = static_cast<int>(shape.size());
  for (int k = 0; k < s.rank; k++) { s.shape[k] = shape[k]; s.a[k] = as[k]; s.b[k] = bs[k]; }
  binary_kernel<<<grid_for(numel, 256), 256, 0, st>>>(op, out, od, a, ad, ao, b, bd, bo, s, numel);
  check_launch("cudaBinaryOp");
  return info.Env().Undefined();
}
// cudaUnaryOp(op, out, outDtype, x, xDtype, n, stream)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Un op = parse_un(arg_str(info, 0, "cudaUnaryOp: op"));
  DType od = arg_float_dtype(info, 2, "outDtype"), xd = arg_float_dtype(info, 4, "xDtype");
  size_t n = arg_size(info, 5, "n");
  void* out = dev_checked(info[1], od, 0, n, "cudaUnaryOp: out");
  const void* x = dev_checked(info[3], xd, 0, n, "cudaUnaryOp: x");
  cudaStream_t st = arg_stream(info, 6);
  if (!n) return info.Env().Undefined();
  unary_kernel<<<grid_for(n, 256), 256, 0, st>>>(op, out, od, x, xd, n);
  check_launch("cudaUnaryOp");
  return info.Env().Undefined();
}
// cudaScalarOp(op, out, outDtype, x, xDtype, scalar, n, scalarFirst, stream)
Napi::Value Scalar(const Napi::CallbackInfo& info) {
  Bin op = parse_bin(arg_str(info, 0, "cudaScalarOp: op"));
  DType od = arg_float_dtype(info, 2, "outDtype"), xd = arg_float_dtype(info, 4, "xDtype");
  float s = static_cast<float>(arg_num(info, 5, "scalar"));
  size_t n = arg_size(info, 6, "n");
  bool first = arg_bool(info, 7, "scalarFirst");
  void* out = dev_checked(info[1], od, 0, n, "cudaScalarOp: out");
  const void* x = dev_checked(info[3], xd, 0, n, "cudaScalarOp: x");
  cudaStream_t st = arg_stream(info, 8);
  if (!n) return info.Env().Undefined();
  scalar_kernel<<<grid_for(n, 256), 256, 0, st>>>(op, out, od, x, xd, s, first, n);
  check_launch("cudaScalarOp");
  return info.Env().Undefined();
}
// cudaClamp(out, outDtype, x, xDtype, n, lo, hi, stream)
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), xd = arg_float_dtype(info, 3, "xDtype");
  size_t n = arg_size(info, 4, "n");
  float lo = static_cast<float>(arg_num(info, 5, "lo")), hi = static_cast<float>(arg_num(info, 6, "hi"));
  void* out = dev_checked(info[0], od, 0, n, "cudaClamp: out");
  const void* x = dev_checked(info[2], xd, 0, n, "cudaClamp: x");
  cudaStream_t st = arg_stream(info, 7);
  if (!n) return info.Env().Undefined();
  clamp_kernel<<<grid_for(n, 256), 256, 0, st>>>(out, od, x, xd, lo, hi, n);
  check_launch("cudaClamp");
  return info.Env().Undefined();
}
// cudaModulate(out, outDtype, x, xDtype, scale, shift, modDtype, batch, tokens, dim, scaleOffset, shiftOffset, modStride, stream)
Napi::Value Modulate(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), xd = arg_float_dtype(info, 3, "xDtype"), md = arg_float_dtype(info, 6, "modDtype");
  size_t batch = arg_size(info, 7, "batch"), tokens = arg_size(info, 8, "tokens"), dim = arg_size(info, 9, "dim");
  size_t so = arg_size(info, 10, "scaleOffset"), ho = arg_size(info, 11, "shiftOffset"), stride = arg_size(info, 12, "modStride");
  size_t n = mul_checked(mul_checked(batch, tokens, "batch*tokens"), dim, "numel");
  size_t mext = batch == 0 || dim == 0 ? 0 : (batch - 1) * stride + dim;
  void* out = dev_checked(info[0], od, 0, n, "cudaModulate: out");
  const void* x = dev_checked(info[2], xd, 0, n, "cudaModulate: x");
  const void* scale = dev_checked(info[4], md, so, mext, "cudaModulate: scale");
  const void* shift = dev_checked(info[5], md, ho, mext, "cudaModulate: shift");
  cudaStream_t st = arg_stream(info, 13);
  if (!n) return info.Env().Undefined();
  DType step = xd == md ? xd : DType::float32;
  modulate_kernel<<<grid_for(n, 256), 256, 0, st>>>(out, od, x, xd, scale, shift, md, tokens, dim, so, ho, stride, step, n);
  check_launch("cudaModulate");
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("cudaBinaryOp", Binary);
  VL_EXPORT("cudaUnaryOp", Unary);
  VL_EXPORT("cudaScalarOp", Scalar);
  VL_EXPORT("cudaClamp", Clamp);
  VL_EXPORT("cudaModulate", Modulate);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace cu
}  // namespace vl
