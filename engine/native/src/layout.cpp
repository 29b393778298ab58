// Layout kernels: copyStrided (the one kernel behind permute/transpose, slice,
// chunk, concat, expand, contiguous and dtype-converting copies) and fill.
// Also the float32 staging conversions every float kernel uses (float_ops.h).
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

// ---- f16/bf16 <-> f32 staging (vector paths in layout_avx2.cpp / layout_avx512.cpp) ----
void f16_to_f32_avx512(const uint16_t* src, float* dst, size_t n);
void f32_to_f16_avx512(const float* src, uint16_t* dst, size_t n);
void bf16_to_f32_avx512(const uint16_t* src, float* dst, size_t n);
void f32_to_bf16_avx512(const float* src, uint16_t* dst, size_t n);
void f16_to_f32_avx2(const uint16_t* src, float* dst, size_t n);
void f32_to_f16_avx2(const float* src, uint16_t* dst, size_t n);
void bf16_to_f32_avx2(const uint16_t* src, float* dst, size_t n);
void f32_to_bf16_avx2(const float* src, uint16_t* dst, size_t n);

namespace {
enum class Isa { portable, avx2, avx512 };
Isa conversion_isa() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512 && f.f16c) return Isa::avx512;
  if (f.avx2_fma && f.f16c) return Isa::avx2;
  return Isa::portable;
}
}  // namespace

void activations_to_f32(DType d, const void* src, float* dst, size_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  switch (d) {
    case DType::float32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::float16:
      switch (conversion_isa()) {
        case Isa::avx512: f16_to_f32_avx512(h, dst, n); return;
        case Isa::avx2: f16_to_f32_avx2(h, dst, n); return;
        case Isa::portable: for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(h[i]); return;
      }
      return;
    case DType::bfloat16:
      switch (conversion_isa()) {
        case Isa::avx512: bf16_to_f32_avx512(h, dst, n); return;
        case Isa::avx2: bf16_to_f32_avx2(h, dst, n); return;
        case Isa::portable: for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(h[i]); return;
      }
      return;
    default: throw std::invalid_argument("expected a float32, float16 or bfloat16 tensor");
  }
}

void f32_to_activations(DType d, const float* src, void* dst, size_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  switch (d) {
    case DType::float32: std::memmove(dst, src, n * sizeof(float)); return;
    case DType::float16:
      switch (conversion_isa()) {
        case Isa::avx512: f32_to_f16_avx512(src, h, n); return;
        case Isa::avx2: f32_to_f16_avx2(src, h, n); return;
        case Isa::portable: for (size_t i = 0; i < n; i++) h[i] = f32_to_f16(src[i]); return;
      }
      return;
    case DType::bfloat16:
      switch (conversion_isa()) {
        case Isa::avx512: f32_to_bf16_avx512(src, h, n); return;
        case Isa::avx2: f32_to_bf16_avx2(src, h, n); return;
        case Isa::portable: for (size_t i = 0; i < n; i++) h[i] = f32_to_bf16(src[i]); return;
      }
      return;
    default: throw std::invalid_argument("expected a float32, float16 or bfloat16 tensor");
  }
}

void round_to_dtype(DType d, float* x, size_t n) {
  if (d == DType::float32) return;
  uint16_t tmp[512];
  for (size_t i = 0; i < n; i += 512) {
    size_t m = std::min<size_t>(512, n - i);
    f32_to_activations(d, x + i, tmp, m);
    activations_to_f32(d, tmp, x + i, m);
  }
}

namespace {

constexpr int kMaxRank = 8;

// A strided view pair over one shape, after dropping size-1 dims and merging
// dims that are contiguous with their inner neighbour in both views.
struct CopyPlan {
  int rank = 0;
  size_t shape[kMaxRank];
  size_t dst[kMaxRank];
  size_t src[kMaxRank];
};

std::vector<size_t> checked_dims(const std::vector<int64_t>& v, const char* what, bool is_shape) {
  std::vector<size_t> r(v.size());
  for (size_t i = 0; i < v.size(); i++) {
    if (v[i] < 0)
      throw std::out_of_range(std::string(what) + "[" + std::to_string(i) + "] = " + std::to_string(v[i]) +
                              (is_shape ? " (sizes must be >= 0)" : " (negative strides are not supported)"));
    r[i] = static_cast<size_t>(v[i]);
  }
  return r;
}

// Largest element index a view touches plus one (0 for an empty shape).
size_t view_extent(const std::vector<size_t>& shape, const std::vector<size_t>& strides, const char* what) {
  size_t last = 0;
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] == 0) return 0;
    last = add_checked(last, mul_checked(shape[i] - 1, strides[i], what), what);
  }
  return last + 1;
}

CopyPlan plan_copy(const std::vector<size_t>& shape, const std::vector<size_t>& dst, const std::vector<size_t>& src) {
  CopyPlan p;
  for (size_t i = 0; i < shape.size(); i++) {
    if (shape[i] == 1) continue;
    if (p.rank > 0) {
      int j = p.rank - 1;  // merge dim i into the previous kept dim when the outer one steps over it exactly
      if (p.dst[j] == dst[i] * shape[i] && p.src[j] == src[i] * shape[i]) {
        p.shape[j] *= shape[i];
        p.dst[j] = dst[i];
        p.src[j] = src[i];
        continue;
      }
    }
    p.shape[p.rank] = shape[i];
    p.dst[p.rank] = dst[i];
    p.src[p.rank] = src[i];
    p.rank++;
  }
  if (p.rank == 0) {  // a single element
    p.rank = 1;
    p.shape[0] = 1;
    p.dst[0] = p.src[0] = 1;
  }
  return p;
}

template <typename T>
void copy_run_raw(uint8_t* dst, size_t dst_stride, const uint8_t* src, size_t src_stride, size_t n) {
  T* d = reinterpret_cast<T*>(dst);
  const T* s = reinterpret_cast<const T*>(src);
  for (size_t i = 0; i < n; i++) d[i * dst_stride] = s[i * src_stride];
}

template <DType S, DType D>
void convert_run_strided(uint8_t* dst, size_t dst_stride, const uint8_t* src, size_t src_stride, size_t n) {
  auto* d = reinterpret_cast<typename Elem<D>::T*>(dst);
  auto* s = reinterpret_cast<const typename Elem<S>::T*>(src);
  for (size_t i = 0; i < n; i++) Elem<D>::store(d, i * dst_stride, Elem<S>::load(s, i * src_stride));
}

// Copies one inner run of n elements (element strides ds, ss; byte pointers).
struct RunCopier {
  DType src_dtype, dst_dtype;
  size_t src_bytes, dst_bytes;  // bytes per element

  void operator()(uint8_t* dst, size_t ds, const uint8_t* src, size_t ss, size_t n) const {
    if (src_dtype == dst_dtype) {
      if (ds == 1 && ss == 1) { std::memcpy(dst, src, n * src_bytes); return; }
      switch (src_bytes) {
        case 1: copy_run_raw<uint8_t>(dst, ds, src, ss, n); return;
        case 2: copy_run_raw<uint16_t>(dst, ds, src, ss, n); return;
        default: copy_run_raw<uint32_t>(dst, ds, src, ss, n); return;
      }
    }
    if (ds == 1 && ss == 1) {
      if (src_dtype == DType::float32) { f32_to_activations(dst_dtype, reinterpret_cast<const float*>(src), dst, n); return; }
      if (dst_dtype == DType::float32) { activations_to_f32(src_dtype, src, reinterpret_cast<float*>(dst), n); return; }
      float buf[1024];
      for (size_t i = 0; i < n; i += 1024) {
        size_t m = std::min<size_t>(1024, n - i);
        activations_to_f32(src_dtype, src + i * src_bytes, buf, m);
        f32_to_activations(dst_dtype, buf, dst + i * dst_bytes, m);
      }
      return;
    }
    VL_DISPATCH_FLOAT(src_dtype, S, VL_DISPATCH_FLOAT(dst_dtype, D, convert_run_strided<S, D>(dst, ds, src, ss, n)));
  }
};

}  // namespace

// copyStrided(dst, dstDtype, dstOffset, dstStrides, src, srcDtype, srcOffset, srcStrides, shape)
static Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  DType dst_dtype = arg_dtype(info, 1, "copyStrided: dstDtype");
  size_t dst_offset = arg_size(info, 2, "copyStrided: dstOffset");
  std::vector<size_t> dst_strides = checked_dims(arg_index_array(info, 3, "copyStrided: dstStrides"), "copyStrided: dstStrides", false);
  DType src_dtype = arg_dtype(info, 5, "copyStrided: srcDtype");
  size_t src_offset = arg_size(info, 6, "copyStrided: srcOffset");
  std::vector<size_t> src_strides = checked_dims(arg_index_array(info, 7, "copyStrided: srcStrides"), "copyStrided: srcStrides", false);
  std::vector<size_t> shape = checked_dims(arg_index_array(info, 8, "copyStrided: shape"), "copyStrided: shape", true);

  if (shape.size() > kMaxRank) throw std::invalid_argument("copyStrided: rank " + std::to_string(shape.size()) + " is above the supported 8");
  if (dst_strides.size() != shape.size() || src_strides.size() != shape.size())
    throw std::invalid_argument("copyStrided: shape has " + std::to_string(shape.size()) + " dims but dstStrides has " +
                                std::to_string(dst_strides.size()) + " and srcStrides " + std::to_string(src_strides.size()));
  if (src_dtype == dst_dtype) {
    if (dtype_bits(src_dtype) % 8 != 0)
      throw std::invalid_argument("copyStrided: packed dtypes (int4, fp6/fp5/fp4) cannot be copied element-wise");
  } else if (!is_float_activation(src_dtype) || !is_float_activation(dst_dtype)) {
    throw std::invalid_argument("copyStrided: dtype conversion is only between float32, float16 and bfloat16");
  }
  for (size_t i = 0; i < shape.size(); i++)
    if (shape[i] > 1 && dst_strides[i] == 0)
      throw std::invalid_argument("copyStrided: dstStrides[" + std::to_string(i) + "] is 0 for a dim of size " +
                                  std::to_string(shape[i]) + " (several elements would be written to one place)");

  size_t dst_extent = view_extent(shape, dst_strides, "copyStrided: destination extent");
  size_t src_extent = view_extent(shape, src_strides, "copyStrided: source extent");
  uint8_t* dst = checked_storage(info[0], dst_dtype, dst_offset, dst_extent, "copyStrided: dst");
  const uint8_t* src = checked_storage(info[4], src_dtype, src_offset, src_extent, "copyStrided: src");
  if (dst_extent == 0) return info.Env().Undefined();  // empty shape

  const size_t src_bytes = dtype_bits(src_dtype) / 8, dst_bytes = dtype_bits(dst_dtype) / 8;
  dst += dst_offset * dst_bytes;
  src += src_offset * src_bytes;
  const CopyPlan plan = plan_copy(shape, dst_strides, src_strides);
  const RunCopier copy_run{src_dtype, dst_dtype, src_bytes, dst_bytes};
  const int outer_rank = plan.rank - 1;
  const size_t run = plan.shape[outer_rank];
  const size_t run_ds = plan.dst[outer_rank], run_ss = plan.src[outer_rank];
  size_t outer = 1;
  for (int i = 0; i < outer_rank; i++) outer *= plan.shape[i];

  parallel_for_checked(outer, std::max<size_t>(1, 32768 / run), [&](size_t begin, size_t end) {
    size_t idx[kMaxRank] = {0};
    size_t rem = begin, doff = 0, soff = 0;
    for (int i = outer_rank - 1; i >= 0; i--) {
      idx[i] = rem % plan.shape[i];
      rem /= plan.shape[i];
      doff += idx[i] * plan.dst[i];
      soff += idx[i] * plan.src[i];
    }
    for (size_t o = begin; o < end; o++) {
      copy_run(dst + doff * dst_bytes, run_ds, src + soff * src_bytes, run_ss, run);
      for (int i = outer_rank - 1; i >= 0; i--) {  // odometer step
        doff += plan.dst[i];
        soff += plan.src[i];
        if (++idx[i] < plan.shape[i]) break;
        doff -= plan.dst[i] * plan.shape[i];
        soff -= plan.src[i] * plan.shape[i];
        idx[i] = 0;
      }
    }
  });
  return info.Env().Undefined();
}

namespace {

int64_t integer_fill_value(double v, double lo, double hi, const char* dtype) {
  if (!(v == std::floor(v)) || v < lo || v > hi)
    throw std::out_of_range(std::string("fill: ") + std::to_string(v) + " is not an integer in the range of " + dtype);
  return static_cast<int64_t>(v);
}

template <typename T>
void fill_pattern(uint8_t* dst, size_t n, T pattern) {
  parallel_for_checked(n, 1 << 16, [&](size_t b, size_t e) {
    T* p = reinterpret_cast<T*>(dst);
    if (sizeof(T) == 1) std::memset(p + b, static_cast<int>(pattern), e - b);
    else std::fill(p + b, p + e, pattern);
  });
}

}  // namespace

// fill(dst, dtype, offset, n, value)
static Napi::Value Fill(const Napi::CallbackInfo& info) {
  DType dtype = arg_dtype(info, 1, "fill: dtype");
  size_t offset = arg_size(info, 2, "fill: offset");
  size_t n = arg_size(info, 3, "fill: n");
  double value = arg_num(info, 4, "fill: value");
  if (dtype_bits(dtype) % 8 != 0) throw std::invalid_argument("fill: packed dtypes (int4, fp6/fp5/fp4) are not supported");
  uint8_t* dst = checked_storage(info[0], dtype, offset, n, "fill: dst");
  dst += offset * (dtype_bits(dtype) / 8);
  const float f = static_cast<float>(value);
  switch (dtype) {
    case DType::float32: fill_pattern<uint32_t>(dst, n, f32_bits(f)); break;
    case DType::float16: fill_pattern<uint16_t>(dst, n, f32_to_f16(f)); break;
    case DType::bfloat16: fill_pattern<uint16_t>(dst, n, f32_to_bf16(f)); break;
    case DType::float8_e4m3fn: fill_pattern<uint8_t>(dst, n, hd::f32_to_e4m3fn(f)); break;
    case DType::float8_e5m2: fill_pattern<uint8_t>(dst, n, hd::f32_to_e5m2(f)); break;
    case DType::int8: fill_pattern<uint8_t>(dst, n, static_cast<uint8_t>(integer_fill_value(value, -128, 127, "int8"))); break;
    case DType::uint8: fill_pattern<uint8_t>(dst, n, static_cast<uint8_t>(integer_fill_value(value, 0, 255, "uint8"))); break;
    case DType::int32:
      fill_pattern<uint32_t>(dst, n, static_cast<uint32_t>(integer_fill_value(value, -2147483648.0, 2147483647.0, "int32")));
      break;
    default: throw std::invalid_argument("fill: unsupported dtype");
  }
  return info.Env().Undefined();
}

static void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("copyStrided", CopyStrided);
  VL_EXPORT("fill", Fill);
}
VL_REGISTER(Register);

}  // namespace vl
