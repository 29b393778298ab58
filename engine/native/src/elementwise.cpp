// Elementwise kernels on float activations (float32/float16/bfloat16): binary
// ops with strides (broadcasting), unary activations, tensor-scalar ops and
// AdaLN modulation. Values are staged as float32 in small blocks, computed in
// float32 and rounded once on store. Also the run-time choice of vector math
// (float_ops.h) between elementwise_avx512.cpp, elementwise_avx2.cpp and the
// portable loops here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>
#include "cpu_features.h"
#include "float_ops.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {

void exp_avx512(const float* x, float* y, size_t n);
void silu_avx512(const float* x, float* y, size_t n);
void gelu_tanh_avx512(const float* x, float* y, size_t n);
float max_avx512(const float* x, size_t n);
double exp_shifted_sum_avx512(const float* x, float* y, size_t n, float shift);
void exp_avx2(const float* x, float* y, size_t n);
void silu_avx2(const float* x, float* y, size_t n);
void gelu_tanh_avx2(const float* x, float* y, size_t n);
float max_avx2(const float* x, size_t n);
double exp_shifted_sum_avx2(const float* x, float* y, size_t n, float shift);

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;  // sqrt(2/pi), as PyTorch's kBeta
constexpr float kGeluCubic = 0.044715f;
constexpr size_t kBlock = 1024;   // float32 staging block (4 KiB per buffer, on the stack)
constexpr size_t kGrain = 16384;  // elements worth a thread of their own
}  // namespace

// ---- vector math, chosen at run time ----
// exp everywhere is SLEEF's expf_u10 (max error 1 ulp), the exp PyTorch's
// vectorised CPU kernels use; the scalar version below performs the same
// operations (std::fma is a single rounding, as the vector FMAs), so exp, silu
// and gelu_tanh give bit-identical results at every CPU level.
static inline float pow2i(int q) { return bits_f32(static_cast<uint32_t>(q + 0x7f) << 23); }
static float sleef_expf(float d) {
  if (std::isnan(d)) return d;
  if (d < -104.0f) return 0.0f;
  if (d > 100.0f) return INFINITY;
  const float qf = std::rint(d * 1.442695040888963407359924681001892137426645954152985934135449406931f);
  const int q = static_cast<int>(qf);
  float s = std::fma(qf, -0.693145751953125f, d);
  s = std::fma(qf, -1.428606765330187045e-06f, s);
  float u = 0.000198527617612853646278381f;
  u = std::fma(u, s, 0.00139304355252534151077271f);
  u = std::fma(u, s, 0.00833336077630519866943359f);
  u = std::fma(u, s, 0.0416664853692054748535156f);
  u = std::fma(u, s, 0.166666671633720397949219f);
  u = std::fma(u, s, 0.5f);
  u = 1.0f + std::fma(s * s, u, s);
  const int half = q >> 1;  // 2^q in two normal factors: gradual underflow rounds once
  return (u * pow2i(half)) * pow2i(q - half);
}

void vec_exp(const float* x, float* y, size_t n) {
  if (cpu_features().avx512) return exp_avx512(x, y, n);
  if (cpu_features().avx2_fma) return exp_avx2(x, y, n);
  for (size_t i = 0; i < n; i++) y[i] = sleef_expf(x[i]);
}
// x / (1 + exp(-x)), as PyTorch's vectorised silu.
void vec_silu(const float* x, float* y, size_t n) {
  if (cpu_features().avx512) return silu_avx512(x, y, n);
  if (cpu_features().avx2_fma) return silu_avx2(x, y, n);
  for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + sleef_expf(-x[i]));
}
// GELU(approximate="tanh") = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3),
// computed as the identical x * sigmoid(2u) = x / (1 + exp(-2u)): same function,
// but no cancellation in 1 + tanh(u) for negative x, so it stays within a few
// ulp of the exact value everywhere (PyTorch's float result loses digits there).
// x + 0.044715 x^3 is one explicit FMA on every path, so all paths agree bitwise.
void vec_gelu_tanh(const float* x, float* y, size_t n) {
  if (cpu_features().avx512) return gelu_tanh_avx512(x, y, n);
  if (cpu_features().avx2_fma) return gelu_tanh_avx2(x, y, n);
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    const float u = kSqrt2OverPi * std::fma(kGeluCubic, (v * v) * v, v);
    y[i] = v / (1.0f + sleef_expf(-2.0f * u));
  }
}
float vec_max(const float* x, size_t n) {
  if (cpu_features().avx512) return max_avx512(x, n);
  if (cpu_features().avx2_fma) return max_avx2(x, n);
  float m[8];
  size_t i = 0;
  std::fill(m, m + 8, -INFINITY);
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
  for (; i < n; i++) m[0] = x[i] > m[0] ? x[i] : m[0];
  float r = m[0];
  for (int k = 1; k < 8; k++) r = m[k] > r ? m[k] : r;
  return r;
}
double vec_exp_shifted_sum(const float* x, float* y, size_t n, float shift) {
  if (cpu_features().avx512) return exp_shifted_sum_avx512(x, y, n, shift);
  if (cpu_features().avx2_fma) return exp_shifted_sum_avx2(x, y, n, shift);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (y[i] = sleef_expf(x[i] - shift));
  return sum;
}

namespace {

enum class BinaryOp { add, sub, mul, div };
enum class UnaryOp { gelu_tanh, gelu, silu, relu, neg, exp, sqrt, rsqrt, sin, cos };

std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw std::invalid_argument(std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}
BinaryOp parse_binary(const std::string& s) {
  if (s == "add") return BinaryOp::add;
  if (s == "sub") return BinaryOp::sub;
  if (s == "mul") return BinaryOp::mul;
  if (s == "div") return BinaryOp::div;
  throw std::invalid_argument("unknown binary op \"" + s + "\" (expected add, sub, mul or div)");
}
UnaryOp parse_unary(const std::string& s) {
  static const std::pair<const char*, UnaryOp> names[] = {
      {"gelu_tanh", UnaryOp::gelu_tanh}, {"gelu", UnaryOp::gelu}, {"silu", UnaryOp::silu}, {"relu", UnaryOp::relu},
      {"neg", UnaryOp::neg}, {"exp", UnaryOp::exp}, {"sqrt", UnaryOp::sqrt}, {"rsqrt", UnaryOp::rsqrt},
      {"sin", UnaryOp::sin}, {"cos", UnaryOp::cos}};
  for (const auto& [name, op] : names)
    if (s == name) return op;
  throw std::invalid_argument("unknown unary op \"" + s + "\"");
}

void apply_binary(BinaryOp op, const float* a, const float* b, float* o, size_t n) {
  switch (op) {
    case BinaryOp::add: for (size_t i = 0; i < n; i++) o[i] = a[i] + b[i]; break;
    case BinaryOp::sub: for (size_t i = 0; i < n; i++) o[i] = a[i] - b[i]; break;
    case BinaryOp::mul: for (size_t i = 0; i < n; i++) o[i] = a[i] * b[i]; break;
    case BinaryOp::div: for (size_t i = 0; i < n; i++) o[i] = a[i] / b[i]; break;
  }
}
void apply_scalar(BinaryOp op, const float* x, float s, bool scalar_first, float* o, size_t n) {
  switch (op) {
    case BinaryOp::add: for (size_t i = 0; i < n; i++) o[i] = x[i] + s; break;
    case BinaryOp::mul: for (size_t i = 0; i < n; i++) o[i] = x[i] * s; break;
    case BinaryOp::sub:
      if (scalar_first) for (size_t i = 0; i < n; i++) o[i] = s - x[i];
      else for (size_t i = 0; i < n; i++) o[i] = x[i] - s;
      break;
    case BinaryOp::div:
      if (scalar_first) for (size_t i = 0; i < n; i++) o[i] = s / x[i];
      else for (size_t i = 0; i < n; i++) o[i] = x[i] / s;
      break;
  }
}
void apply_unary(UnaryOp op, const float* x, float* y, size_t n) {
  switch (op) {
    case UnaryOp::gelu_tanh: vec_gelu_tanh(x, y, n); break;
    case UnaryOp::silu: vec_silu(x, y, n); break;
    case UnaryOp::exp: vec_exp(x, y, n); break;
    case UnaryOp::gelu:  // erf form, as PyTorch: x * 0.5 * (1 + erf(x / sqrt(2)))
      for (size_t i = 0; i < n; i++) y[i] = (x[i] * 0.5f) * (1.0f + std::erf(x[i] * 0.70710678118654752f));
      break;
    case UnaryOp::relu: for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i]; break;  // NaN stays NaN
    case UnaryOp::neg: for (size_t i = 0; i < n; i++) y[i] = -x[i]; break;
    case UnaryOp::sqrt: for (size_t i = 0; i < n; i++) y[i] = std::sqrt(x[i]); break;
    case UnaryOp::rsqrt: for (size_t i = 0; i < n; i++) y[i] = 1.0f / std::sqrt(x[i]); break;
    case UnaryOp::sin: for (size_t i = 0; i < n; i++) y[i] = std::sin(x[i]); break;
    case UnaryOp::cos: for (size_t i = 0; i < n; i++) y[i] = std::cos(x[i]); break;
  }
}

// float32 target for a block of n outputs at element pos: the output itself for
// float32, else a staging buffer that finish_block() rounds into the output.
struct OutputBlock {
  DType dtype;
  uint8_t* base;
  float* target(size_t pos, float* staging) const {
    return dtype == DType::float32 ? reinterpret_cast<float*>(base) + pos : staging;
  }
  void finish(size_t pos, const float* staging, size_t n) const {
    if (dtype != DType::float32) f32_to_activations(dtype, staging, base + pos * float_elem_bytes(dtype), n);
  }
};

template <DType D>
void gather(const uint8_t* base, size_t off, size_t stride, size_t n, float* dst) {
  const auto* p = reinterpret_cast<const typename Elem<D>::T*>(base);
  for (size_t i = 0; i < n; i++) dst[i] = Elem<D>::load(p, off + i * stride);
}
// float32 values of n elements starting at element off with element stride `stride` (0 = broadcast).
const float* load_run(DType d, const uint8_t* base, size_t off, size_t stride, size_t n, float* scratch) {
  if (stride == 1) return f32_view(d, base + off * float_elem_bytes(d), scratch, n);
  if (stride == 0) {
    float v;
    activations_to_f32(d, base + off * float_elem_bytes(d), &v, 1);
    std::fill(scratch, scratch + n, v);
    return scratch;
  }
  VL_DISPATCH_FLOAT(d, D, gather<D>(base, off, stride, n, scratch));
  return scratch;
}

constexpr int kMaxRank = 8;

// binary's iteration space: the output is contiguous, a and b are strided.
// size-1 dims are dropped and a dim merges into its outer neighbour when both
// inputs step over it contiguously (the all-contiguous case becomes one run).
struct BinaryPlan {
  int rank = 0;
  size_t shape[kMaxRank], a[kMaxRank], b[kMaxRank];
};

BinaryPlan plan_binary(const std::vector<int64_t>& shape, const std::vector<int64_t>& as, const std::vector<int64_t>& bs) {
  BinaryPlan p;
  for (size_t i = 0; i < shape.size(); i++) {
    size_t n = static_cast<size_t>(shape[i]), sa = static_cast<size_t>(as[i]), sb = static_cast<size_t>(bs[i]);
    if (n == 1) continue;
    if (p.rank > 0 && p.a[p.rank - 1] == sa * n && p.b[p.rank - 1] == sb * n) {
      p.shape[p.rank - 1] *= n;
      p.a[p.rank - 1] = sa;
      p.b[p.rank - 1] = sb;
      continue;
    }
    p.shape[p.rank] = n;
    p.a[p.rank] = sa;
    p.b[p.rank] = sb;
    p.rank++;
  }
  if (p.rank == 0) {
    p.rank = 1;
    p.shape[0] = 1;
    p.a[0] = p.b[0] = 1;
  }
  return p;
}

// Checks a strided input view and returns the number of elements its extent spans.
size_t strided_extent(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, const char* what) {
  if (strides.size() != shape.size())
    throw std::invalid_argument(std::string(what) + " has " + std::to_string(strides.size()) + " entries for a shape of rank " +
                                std::to_string(shape.size()));
  size_t last = 0;
  for (size_t i = 0; i < shape.size(); i++) {
    if (strides[i] < 0) throw std::out_of_range(std::string(what) + ": negative strides are not supported");
    if (shape[i] == 0) return 0;
    last = add_checked(last, mul_checked(static_cast<size_t>(shape[i]) - 1, static_cast<size_t>(strides[i]), what), what);
  }
  return last + 1;
}

}  // namespace

// binaryOp(op, out, outDtype, a, aDtype, aOffset, aStrides, b, bDtype, bOffset, bStrides, shape)
static Napi::Value Binary(const Napi::CallbackInfo& info) {
  BinaryOp op = parse_binary(arg_string(info, 0, "binary: op"));
  DType out_dtype = arg_float_dtype(info, 2, "binary: outDtype");
  DType a_dtype = arg_float_dtype(info, 4, "binary: aDtype");
  size_t a_offset = arg_size(info, 5, "binary: aOffset");
  std::vector<int64_t> a_strides = arg_index_array(info, 6, "binary: aStrides");
  DType b_dtype = arg_float_dtype(info, 8, "binary: bDtype");
  size_t b_offset = arg_size(info, 9, "binary: bOffset");
  std::vector<int64_t> b_strides = arg_index_array(info, 10, "binary: bStrides");
  std::vector<int64_t> shape = arg_index_array(info, 11, "binary: shape");
  if (shape.size() > kMaxRank) throw std::invalid_argument("binary: rank " + std::to_string(shape.size()) + " is above the supported 8");
  size_t numel = 1;
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] < 0) throw std::out_of_range("binary: shape[" + std::to_string(i) + "] is negative");
    numel = mul_checked(numel, static_cast<size_t>(shape[i]), "binary: shape");
  }
  size_t a_extent = strided_extent(shape, a_strides, "binary: aStrides");
  size_t b_extent = strided_extent(shape, b_strides, "binary: bStrides");
  uint8_t* out = checked_storage(info[1], out_dtype, 0, numel, "binary: out");
  const uint8_t* a = checked_storage(info[3], a_dtype, a_offset, a_extent, "binary: a");
  const uint8_t* b = checked_storage(info[7], b_dtype, b_offset, b_extent, "binary: b");
  if (numel == 0) return info.Env().Undefined();

  const BinaryPlan plan = plan_binary(shape, a_strides, b_strides);
  const int inner = plan.rank - 1;
  const size_t run = plan.shape[inner];
  const OutputBlock output{out_dtype, out};
  parallel_for_checked(numel, kGrain, [&](size_t begin, size_t end) {
    float abuf[kBlock], bbuf[kBlock], obuf[kBlock];
    for (size_t pos = begin; pos < end;) {
      // locate pos: outer multi-index -> input offsets, then a piece of the inner run
      size_t outer = pos / run, in_run = pos % run;
      size_t aoff = a_offset + in_run * plan.a[inner], boff = b_offset + in_run * plan.b[inner];
      for (int i = inner - 1; i >= 0; i--) {
        size_t idx = outer % plan.shape[i];
        outer /= plan.shape[i];
        aoff += idx * plan.a[i];
        boff += idx * plan.b[i];
      }
      size_t n = std::min({run - in_run, end - pos, kBlock});
      const float* av = load_run(a_dtype, a, aoff, plan.a[inner], n, abuf);
      const float* bv = load_run(b_dtype, b, boff, plan.b[inner], n, bbuf);
      apply_binary(op, av, bv, output.target(pos, obuf), n);
      output.finish(pos, obuf, n);
      pos += n;
    }
  });
  return info.Env().Undefined();
}

// unaryOp(op, out, outDtype, x, xDtype, n)
static Napi::Value Unary(const Napi::CallbackInfo& info) {
  UnaryOp op = parse_unary(arg_string(info, 0, "unary: op"));
  DType out_dtype = arg_float_dtype(info, 2, "unary: outDtype");
  DType x_dtype = arg_float_dtype(info, 4, "unary: xDtype");
  size_t n = arg_size(info, 5, "unary: n");
  uint8_t* out = checked_storage(info[1], out_dtype, 0, n, "unary: out");
  const uint8_t* x = checked_storage(info[3], x_dtype, 0, n, "unary: x");
  const OutputBlock output{out_dtype, out};
  parallel_for_checked(n, kGrain, [&](size_t begin, size_t end) {
    float xbuf[kBlock], obuf[kBlock];
    for (size_t pos = begin; pos < end; pos += kBlock) {
      size_t m = std::min(kBlock, end - pos);
      const float* xv = f32_view(x_dtype, x + pos * float_elem_bytes(x_dtype), xbuf, m);
      apply_unary(op, xv, output.target(pos, obuf), m);
      output.finish(pos, obuf, m);
    }
  });
  return info.Env().Undefined();
}

// scalarOp(op, out, outDtype, x, xDtype, scalar, n, scalarFirst)
static Napi::Value ScalarOp(const Napi::CallbackInfo& info) {
  BinaryOp op = parse_binary(arg_string(info, 0, "scalarOp: op"));
  DType out_dtype = arg_float_dtype(info, 2, "scalarOp: outDtype");
  DType x_dtype = arg_float_dtype(info, 4, "scalarOp: xDtype");
  // a Python scalar meets a float tensor as a float32 (PyTorch's opmath type)
  const float scalar = static_cast<float>(arg_num(info, 5, "scalarOp: scalar"));
  size_t n = arg_size(info, 6, "scalarOp: n");
  bool scalar_first = arg_bool(info, 7, "scalarOp: scalarFirst");
  uint8_t* out = checked_storage(info[1], out_dtype, 0, n, "scalarOp: out");
  const uint8_t* x = checked_storage(info[3], x_dtype, 0, n, "scalarOp: x");
  const OutputBlock output{out_dtype, out};
  parallel_for_checked(n, kGrain, [&](size_t begin, size_t end) {
    float xbuf[kBlock], obuf[kBlock];
    for (size_t pos = begin; pos < end; pos += kBlock) {
      size_t m = std::min(kBlock, end - pos);
      const float* xv = f32_view(x_dtype, x + pos * float_elem_bytes(x_dtype), xbuf, m);
      apply_scalar(op, xv, scalar, scalar_first, output.target(pos, obuf), m);
      output.finish(pos, obuf, m);
    }
  });
  return info.Env().Undefined();
}

// The three rounded steps of x * (1 + scale) + shift. fp-contract is off so
// the compiler cannot fuse a multiply and an add into one FMA (one rounding
// instead of two would differ from PyTorch).
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
static void one_plus(const float* scale, float* t, size_t n) {
  for (size_t i = 0; i < n; i++) t[i] = 1.0f + scale[i];
}
static void multiply(const float* x, const float* t, float* y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] * t[i];
}
static void add(const float* y, const float* shift, float* o, size_t n) {
  for (size_t i = 0; i < n; i++) o[i] = y[i] + shift[i];
}
#pragma GCC pop_options

// [batch, tokens, dim] activations modulated per batch row: the shape arguments at `first`
// (batch, tokens, dim), the modulation row stride at `stride_arg`, and what they span.
struct ModulatedShape {
  size_t batch, tokens, dim, mod_stride, rows, numel, mod_extent;
};
static ModulatedShape modulated_shape(const Napi::CallbackInfo& info, size_t first, size_t stride_arg, const std::string& op) {
  ModulatedShape m;
  m.batch = arg_size(info, first, (op + ": batch").c_str());
  m.tokens = arg_size(info, first + 1, (op + ": tokens").c_str());
  m.dim = arg_size(info, first + 2, (op + ": dim").c_str());
  m.mod_stride = arg_size(info, stride_arg, (op + ": modStride").c_str());
  m.rows = mul_checked(m.batch, m.tokens, (op + ": batch * tokens").c_str());
  m.numel = mul_checked(m.rows, m.dim, (op + ": batch * tokens * dim").c_str());
  // the modulation rows span (batch - 1) * modStride + dim elements
  m.mod_extent = m.batch == 0 || m.dim == 0 ? 0 : add_checked(mul_checked(m.batch - 1, m.mod_stride, (op + ": modStride").c_str()), m.dim, (op + ": modStride").c_str());
  return m;
}

// modulate(out, outDtype, x, xDtype, scale, shift, modDtype, batch, tokens, dim, scaleOffset, shiftOffset, modStride)
// out[b, t, :] = x[b, t, :] * (1 + scale_b) + shift_b with scale_b at scaleOffset + b * modStride.
// Each step rounds like PyTorch's tensor ops: 1 + scale to modDtype, the
// product and the sum to the promoted dtype of their operands (float32 when
// x and the modulation differ), then once more to outDtype.
static Napi::Value Modulate(const Napi::CallbackInfo& info) {
  DType out_dtype = arg_float_dtype(info, 1, "modulate: outDtype");
  DType x_dtype = arg_float_dtype(info, 3, "modulate: xDtype");
  DType mod_dtype = arg_float_dtype(info, 6, "modulate: modDtype");
  const ModulatedShape sh = modulated_shape(info, 7, 12, "modulate");
  const size_t tokens = sh.tokens, dim = sh.dim, rows = sh.rows, numel = sh.numel, mod_extent = sh.mod_extent, mod_stride = sh.mod_stride;
  size_t scale_offset = arg_size(info, 10, "modulate: scaleOffset");
  size_t shift_offset = arg_size(info, 11, "modulate: shiftOffset");
  uint8_t* out = checked_storage(info[0], out_dtype, 0, numel, "modulate: out");
  const uint8_t* x = checked_storage(info[2], x_dtype, 0, numel, "modulate: x");
  const uint8_t* scale = checked_storage(info[4], mod_dtype, scale_offset, mod_extent, "modulate: scale");
  const uint8_t* shift = checked_storage(info[5], mod_dtype, shift_offset, mod_extent, "modulate: shift");
  const DType step_dtype = x_dtype == mod_dtype ? x_dtype : DType::float32;
  const size_t xb = float_elem_bytes(x_dtype), mb = float_elem_bytes(mod_dtype);
  const OutputBlock output{out_dtype, out};

  parallel_for_checked(rows, std::max<size_t>(1, kGrain / std::max<size_t>(1, dim)), [&](size_t begin, size_t end) {
    float sbuf[kBlock], hbuf[kBlock], tbuf[kBlock], xbuf[kBlock], ybuf[kBlock], obuf[kBlock];
    for (size_t row = begin; row < end; row++) {
      const size_t b = row / tokens;
      for (size_t d = 0; d < dim; d += kBlock) {
        const size_t m = std::min(kBlock, dim - d), pos = row * dim + d;
        const float* sv = f32_view(mod_dtype, scale + (scale_offset + b * mod_stride + d) * mb, sbuf, m);
        const float* hv = f32_view(mod_dtype, shift + (shift_offset + b * mod_stride + d) * mb, hbuf, m);
        const float* xv = f32_view(x_dtype, x + pos * xb, xbuf, m);
        one_plus(sv, tbuf, m);
        round_to_dtype(mod_dtype, tbuf, m);
        multiply(xv, tbuf, ybuf, m);
        round_to_dtype(step_dtype, ybuf, m);
        float* o = output.target(pos, obuf);
        add(ybuf, hv, o, m);
        if (out_dtype != step_dtype) round_to_dtype(step_dtype, o, m);
        output.finish(pos, obuf, m);
      }
    }
  });
  return info.Env().Undefined();
}

// gatedResidual(out, outDtype, x, xDtype, y, yDtype, mod, modDtype, gatedDtype, batch, tokens, dim, gateOffset, modStride)
// out[b, t, :] = x[b, t, :] + gate_b * y[b, t, :] with gate_b at gateOffset + b * modStride:
// diffusers' `x + gate.unsqueeze(1) * y` as PyTorch's two ops round it, the product to
// gatedDtype (the promotion of y and mod), the sum to outDtype (the promotion of x and gatedDtype),
// in one pass and without the product's tensor.
static Napi::Value GatedResidual(const Napi::CallbackInfo& info) {
  DType out_dtype = arg_float_dtype(info, 1, "gatedResidual: outDtype");
  DType x_dtype = arg_float_dtype(info, 3, "gatedResidual: xDtype");
  DType y_dtype = arg_float_dtype(info, 5, "gatedResidual: yDtype");
  DType mod_dtype = arg_float_dtype(info, 7, "gatedResidual: modDtype");
  DType gated_dtype = arg_float_dtype(info, 8, "gatedResidual: gatedDtype");
  const ModulatedShape sh = modulated_shape(info, 9, 13, "gatedResidual");
  const size_t tokens = sh.tokens, dim = sh.dim, rows = sh.rows, numel = sh.numel, mod_extent = sh.mod_extent, mod_stride = sh.mod_stride;
  size_t gate_offset = arg_size(info, 12, "gatedResidual: gateOffset");
  uint8_t* out = checked_storage(info[0], out_dtype, 0, numel, "gatedResidual: out");
  const uint8_t* x = checked_storage(info[2], x_dtype, 0, numel, "gatedResidual: x");
  const uint8_t* y = checked_storage(info[4], y_dtype, 0, numel, "gatedResidual: y");
  const uint8_t* gate = checked_storage(info[6], mod_dtype, gate_offset, mod_extent, "gatedResidual: mod");
  const size_t xb = float_elem_bytes(x_dtype), yb = float_elem_bytes(y_dtype), mb = float_elem_bytes(mod_dtype);
  const OutputBlock output{out_dtype, out};

  parallel_for_checked(rows, std::max<size_t>(1, kGrain / std::max<size_t>(1, dim)), [&](size_t begin, size_t end) {
    float gbuf[kBlock], xbuf[kBlock], ybuf[kBlock], pbuf[kBlock], obuf[kBlock];
    for (size_t row = begin; row < end; row++) {
      const size_t b = row / tokens;
      for (size_t d = 0; d < dim; d += kBlock) {
        const size_t m = std::min(kBlock, dim - d), pos = row * dim + d;
        const float* gv = f32_view(mod_dtype, gate + (gate_offset + b * mod_stride + d) * mb, gbuf, m);
        const float* yv = f32_view(y_dtype, y + pos * yb, ybuf, m);
        const float* xv = f32_view(x_dtype, x + pos * xb, xbuf, m);
        apply_binary(BinaryOp::mul, gv, yv, pbuf, m);
        round_to_dtype(gated_dtype, pbuf, m);
        apply_binary(BinaryOp::add, xv, pbuf, output.target(pos, obuf), m);
        output.finish(pos, obuf, m);
      }
    }
  });
  return info.Env().Undefined();
}

static void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("binaryOp", Binary);
  VL_EXPORT("unaryOp", Unary);
  VL_EXPORT("scalarOp", ScalarOp);
  VL_EXPORT("modulate", Modulate);
  VL_EXPORT("gatedResidual", GatedResidual);
}
VL_REGISTER(Register);

}  // namespace vl
