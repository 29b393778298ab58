// Layout kernels: the strided copy behind permute / slice / concat / expand /
// contiguous (raw elements of one dtype, or float32/float16/bfloat16
// conversions), and fill with an element bit pattern (the caller encodes the
// value with the cpu fill kernel, so both devices store identical bits).
#include "cuda_common.cuh"
#include "../float_ops.h"

namespace vl {
namespace cu {
namespace {

struct Strided8 {
  int rank;
  int64_t shape[8], d[8], s[8];
};

// Destination and source element offsets of the i-th element (row-major over p.shape).
__device__ inline void strided_offsets(size_t i, const Strided8& p, size_t& di, size_t& si) {
  size_t rem = i;
  di = 0;
  si = 0;
  for (int k = p.rank - 1; k >= 0; k--) {
    size_t idx = rem % p.shape[k];
    rem /= p.shape[k];
    di += idx * p.d[k];
    si += idx * p.s[k];
  }
}
template <typename T>
__global__ void copy_raw_kernel(T* dst, const T* src, Strided8 p, size_t n) {
  VL_GRID_STRIDE(i, n) {
    size_t di, si;
    strided_offsets(i, p, di, si);
    dst[di] = src[si];
  }
}
__global__ void copy_convert_kernel(void* dst, DType dd, const void* src, DType sd, Strided8 p, size_t n) {
  VL_GRID_STRIDE(i, n) {
    size_t di, si;
    strided_offsets(i, p, di, si);
    hd::store_act(dst, dd, di, hd::load_act(src, sd, si));
  }
}
template <typename T>
__global__ void fill_kernel(T* dst, T pattern, size_t n) {
  VL_GRID_STRIDE(i, n) dst[i] = pattern;
}

// cudaCopyStrided(dst, dstDtype, dstOffset, dstStrides, src, srcDtype, srcOffset, srcStrides, shape, stream)
Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  DType dd = arg_dtype(info, 1, "dstDtype"), sd = arg_dtype(info, 5, "srcDtype");
  size_t doff = arg_size(info, 2, "dstOffset"), soff = arg_size(info, 6, "srcOffset");
  std::vector<int64_t> ds = arg_index_array(info, 3, "dstStrides"), ss = arg_index_array(info, 7, "srcStrides"), shape = arg_index_array(info, 8, "shape");
  if (shape.size() > 8) throw std::invalid_argument("cudaCopyStrided: rank above 8");
  if (ds.size() != shape.size() || ss.size() != shape.size()) throw std::invalid_argument("cudaCopyStrided: strides need one entry per dim");
  if (sd == dd) {
    if (hd::bits_of(sd) % 8 != 0) throw std::invalid_argument("cudaCopyStrided: packed dtypes cannot be copied element-wise");
  } else if (!is_float_activation(sd) || !is_float_activation(dd)) {
    throw std::invalid_argument("cudaCopyStrided: dtype conversion is only between float32, float16 and bfloat16");
  }
  size_t n = 1, dext = 1, sext = 1;
  for (size_t k = 0; k < shape.size(); k++) {
    if (shape[k] < 0 || ds[k] < 0 || ss[k] < 0) throw std::out_of_range("cudaCopyStrided: negative shape or stride");
    if (shape[k] > 1 && ds[k] == 0) throw std::invalid_argument("cudaCopyStrided: a dst stride of 0 on a dim longer than 1");
    n = mul_checked(n, static_cast<size_t>(shape[k]), "shape");
    if (shape[k] > 0) { dext += (shape[k] - 1) * ds[k]; sext += (shape[k] - 1) * ss[k]; }
  }
  if (n == 0) return info.Env().Undefined();
  uint8_t* dst = dev_checked(info[0], dd, doff, dext, "cudaCopyStrided: dst");
  const uint8_t* src = dev_checked(info[4], sd, soff, sext, "cudaCopyStrided: src");
  cudaStream_t st = arg_stream(info, 9);
  Strided8 p{};
  p.rank = static_cast<int>(shape.size());
  for (int k = 0; k < p.rank; k++) { p.shape[k] = shape[k]; p.d[k] = ds[k]; p.s[k] = ss[k]; }
  const size_t sb = hd::bits_of(sd) / 8, db = hd::bits_of(dd) / 8;
  unsigned g = grid_for(n, 256);
  if (sd != dd) {
    copy_convert_kernel<<<g, 256, 0, st>>>(dst + doff * db, dd, src + soff * sb, sd, p, n);
  } else if (sb == 4) {
    copy_raw_kernel<uint32_t><<<g, 256, 0, st>>>(reinterpret_cast<uint32_t*>(dst) + doff, reinterpret_cast<const uint32_t*>(src) + soff, p, n);
  } else if (sb == 2) {
    copy_raw_kernel<uint16_t><<<g, 256, 0, st>>>(reinterpret_cast<uint16_t*>(dst) + doff, reinterpret_cast<const uint16_t*>(src) + soff, p, n);
  } else {
    copy_raw_kernel<uint8_t><<<g, 256, 0, st>>>(dst + doff, src + soff, p, n);
  }
  check_launch("cudaCopyStrided");
  return info.Env().Undefined();
}

// cudaFillPattern(dst, elemBytes, offset, n, pattern, stream): n elements of 1, 2 or 4 bytes set to `pattern`
Napi::Value FillPattern(const Napi::CallbackInfo& info) {
  int64_t eb = arg_int(info, 1, "elemBytes");
  size_t off = arg_size(info, 2, "offset"), n = arg_size(info, 3, "n");
  uint32_t pattern = static_cast<uint32_t>(arg_num(info, 4, "pattern"));
  DType d = eb == 4 ? DType::float32 : eb == 2 ? DType::float16 : eb == 1 ? DType::uint8 : throw std::invalid_argument("elemBytes must be 1, 2 or 4");
  uint8_t* dst = dev_checked(info[0], d, off, n, "cudaFillPattern: dst");
  cudaStream_t st = arg_stream(info, 5);
  if (!n) return info.Env().Undefined();
  unsigned g = grid_for(n, 256);
  if (eb == 4) fill_kernel<uint32_t><<<g, 256, 0, st>>>(reinterpret_cast<uint32_t*>(dst) + off, pattern, n);
  else if (eb == 2) fill_kernel<uint16_t><<<g, 256, 0, st>>>(reinterpret_cast<uint16_t*>(dst) + off, static_cast<uint16_t>(pattern), n);
  else fill_kernel<uint8_t><<<g, 256, 0, st>>>(dst + off, static_cast<uint8_t>(pattern), n);
  check_launch("cudaFillPattern");
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("cudaCopyStrided", CopyStrided);
  VL_EXPORT("cudaFillPattern", FillPattern);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace cu
}  // namespace vl
