// Shared by the float kernel families (elementwise, norm, attention, layout):
// float32 staging of float32/float16/bfloat16 activations, vector math picked
// at run time (AVX-512 / AVX2 / portable), and argument checks.
#pragma once
#include <napi.h>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>
#include "dtype.h"
#include "napi_args.h"
#include "threadpool.h"

namespace vl {

inline size_t float_elem_bytes(DType d) { return d == DType::float32 ? 4 : 2; }

// n contiguous activations of dtype d <-> float32 (stores round to nearest even).
// Implemented in layout.cpp; bit-identical on every CPU level.
void activations_to_f32(DType d, const void* src, float* dst, size_t n);
void f32_to_activations(DType d, const float* src, void* dst, size_t n);
// float32 values of n activations: src itself for float32, else scratch after converting.
inline const float* f32_view(DType d, const void* src, float* scratch, size_t n) {
  if (d == DType::float32) return static_cast<const float*>(src);
  activations_to_f32(d, src, scratch, n);
  return scratch;
}
// Replaces each value by the nearest value of dtype d (identity for float32),
// to emulate PyTorch rounding an intermediate tensor to that dtype.
void round_to_dtype(DType d, float* x, size_t n);

// Vector math on float32 arrays (implemented in elementwise*.cpp). x may equal y.
void vec_exp(const float* x, float* y, size_t n);
void vec_silu(const float* x, float* y, size_t n);       // x / (1 + exp(-x))
void vec_gelu_tanh(const float* x, float* y, size_t n);  // see elementwise.cpp for the form used
float vec_max(const float* x, size_t n);                 // n >= 1
// y[i] = exp(x[i] - shift); returns the sum of the y (accumulated in double).
double vec_exp_shifted_sum(const float* x, float* y, size_t n, float shift);

// ---- argument checks (errors become JS TypeError / RangeError) ----
// A count or size: an integer >= 0.
inline size_t arg_size(const Napi::CallbackInfo& info, size_t i, const char* what) {
  int64_t v = arg_int(info, i, what);
  if (v < 0) throw std::out_of_range(std::string(what) + " must be >= 0, got " + std::to_string(v));
  return static_cast<size_t>(v);
}
// An array of integers (shape or strides); unlike arg_int_array, rejects
// non-numbers and fractions instead of truncating them.
inline std::vector<int64_t> arg_index_array(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsArray()) throw std::invalid_argument(std::string(what) + " must be an array of integers");
  Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() > 64) throw std::invalid_argument(std::string(what) + " has too many entries");
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value e = a.Get(k);
    double v = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!(std::fabs(v) <= 9007199254740991.0) || v != std::floor(v))
      throw std::invalid_argument(std::string(what) + "[" + std::to_string(k) + "] must be an integer");
    out[k] = static_cast<int64_t>(v);
  }
  return out;
}
inline size_t mul_checked(size_t a, size_t b, const char* what) {
  size_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw std::out_of_range(std::string(what) + " is too large");
  return r;
}
inline size_t add_checked(size_t a, size_t b, const char* what) {
  size_t r;
  if (__builtin_add_overflow(a, b, &r)) throw std::out_of_range(std::string(what) + " is too large");
  return r;
}
inline DType arg_float_dtype(const Napi::CallbackInfo& info, size_t i, const char* what) {
  DType d = arg_dtype(info, i, what);
  if (!is_float_activation(d))
    throw std::invalid_argument(std::string(what) + " must be float32, float16 or bfloat16");
  return d;
}
// A storage argument whose bounds are checked: n elements of d from element offset.
inline uint8_t* checked_storage(const Napi::Value& v, DType d, size_t offset, size_t n, const char* what) {
  uint8_t* p = storage_ptr(v, what);
  constexpr size_t kMaxElements = size_t(1) << 53;  // also keeps check_fits' byte arithmetic from overflowing
  if (offset > kMaxElements || n > kMaxElements)
    throw std::out_of_range(std::string(what) + ": offset or extent is too large");
  check_fits(v, d, offset, n, what);
  return p;
}

// parallel_for for bodies that may throw (scratch allocation, checks): a body
// must not throw into the pool, so the first exception is caught and
// rethrown here on the calling thread once every chunk has finished.
template <typename F>
void parallel_for_checked(size_t n, size_t grain, F&& fn) {
  std::exception_ptr error;
  std::mutex error_mutex;
  parallel_for(n, grain, [&](size_t begin, size_t end) {
    try {
      fn(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  });
  if (error) std::rethrow_exception(error);
}

}  // namespace vl
