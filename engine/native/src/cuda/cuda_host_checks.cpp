// Runs the CUDA cast kernel's work items (hd::cast_group from hd_codecs.h:
// the codecs and the 8-element byte partitioning) on the CPU, so tests can
// compare them bit for bit with the cpu cast kernel on any machine. What it
// does not cover is nvcc's device build of those functions and their running
// concurrently, which the GPU session verifies (README.md).
#include <napi.h>
#include <stdexcept>
#include "hd_codecs.h"
#include "../napi_args.h"
#include "../registry.h"

namespace vl {
namespace {

// cudaCodecCast(src, srcDtype, srcOffset, dst, dstDtype, dstOffset, n, saturate): same contract as cast().
Napi::Value CudaCodecCast(const Napi::CallbackInfo& info) {
  if (info.Length() != 8) throw std::invalid_argument("cudaCodecCast expects (src, srcDtype, srcOffset, dst, dstDtype, dstOffset, n, saturate)");
  DType sd = arg_dtype(info, 1, "cudaCodecCast: srcDtype");
  DType dd = arg_dtype(info, 4, "cudaCodecCast: dstDtype");
  int64_t so = arg_int(info, 2, "cudaCodecCast: srcOffset"), dof = arg_int(info, 5, "cudaCodecCast: dstOffset"), n = arg_int(info, 6, "cudaCodecCast: n");
  if (so < 0 || dof < 0 || n < 0) throw std::out_of_range("cudaCodecCast: offsets and n must be >= 0");
  bool sat = arg_bool(info, 7, "cudaCodecCast: saturate");
  const uint8_t* src = storage_ptr(info[0], "cudaCodecCast: src");
  uint8_t* dst = storage_ptr(info[3], "cudaCodecCast: dst");
  check_fits(info[0], sd, so, n, "cudaCodecCast: src");
  check_fits(info[3], dd, dof, n, "cudaCodecCast: dst");
  if (n == 0) return info.Env().Undefined();
  // the cast kernel's work items, in reverse order (any order must give the same bytes)
  for (size_t g = (dof + n - 1) / 8 + 1; g-- > static_cast<size_t>(dof) / 8;) hd::cast_group(src, sd, so, dst, dd, dof, n, sat, g);
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { VL_EXPORT("cudaCodecCast", CudaCodecCast); }
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
