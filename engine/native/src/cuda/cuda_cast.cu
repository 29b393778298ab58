// cudaCast: the cast kernel on the GPU. Same contract as cast() (cast.cpp);
// every element goes through hd::cast_code, the function the cpu parity test
// (cuda_host_checks.cpp, test/engine/cuda-codecs.test.ts) checks bit for bit.
// One thread per group of 8 destination elements: a group of 8 packed
// elements fills whole bytes, so no two threads write the same byte.
#include "cuda_common.cuh"

namespace vl {
namespace cu {
namespace {

__global__ void cast_kernel(const uint8_t* src, DType sd, size_t so, uint8_t* dst, DType dd, size_t dof, size_t n, bool sat,
                            size_t first_group, size_t groups) {
  VL_GRID_STRIDE(g, groups) hd::cast_group(src, sd, so, dst, dd, dof, n, sat, first_group + g);
}

// cudaCast(src, srcDtype, srcOffset, dst, dstDtype, dstOffset, n, saturate, stream)
Napi::Value Cast(const Napi::CallbackInfo& info) {
  DType sd = arg_dtype(info, 1, "cudaCast: srcDtype");
  DType dd = arg_dtype(info, 4, "cudaCast: dstDtype");
  int64_t so = arg_int(info, 2, "cudaCast: srcOffset"), dof = arg_int(info, 5, "cudaCast: dstOffset"), n = arg_int(info, 6, "cudaCast: n");
  if (so < 0 || dof < 0 || n < 0) throw std::out_of_range("cudaCast: offsets and n must be >= 0");
  bool sat = arg_bool(info, 7, "cudaCast: saturate");
  const uint8_t* src = dev_checked(info[0], sd, so, n, "cudaCast: src");
  uint8_t* dst = dev_checked(info[3], dd, dof, n, "cudaCast: dst");
  cudaStream_t st = arg_stream(info, 8);
  if (n == 0) return info.Env().Undefined();
  if (src == dst) {
    size_t sb = hd::bits_of(sd), db = hd::bits_of(dd);
    size_t s0 = so * sb, s1 = (so + n) * sb, d0 = dof * db, d1 = (dof + n) * db;
    bool in_place = sb == db && so == dof;
    if (s0 < d1 && d0 < s1 && !in_place) throw std::out_of_range("cudaCast: src and dst overlap in the same storage");
  }
  size_t first_group = dof / 8, last_group = (dof + n - 1) / 8, groups = last_group - first_group + 1;
  cast_kernel<<<grid_for(groups, 256), 256, 0, st>>>(src, sd, so, dst, dd, dof, n, sat, first_group, groups);
  check_launch("cudaCast");
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { VL_EXPORT("cudaCast", Cast); }
VL_REGISTER(Register);

}  // namespace
}  // namespace cu
}  // namespace vl
