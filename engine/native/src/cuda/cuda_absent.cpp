// Built instead of the .cu files where nvcc was not found.
#include <napi.h>
#include "../registry.h"

namespace vl {
static Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("compiled", false);
  o.Set("available", false);
  o.Set("deviceCount", 0);
  o.Set("reason", "no CUDA device: vramlab was built without nvcc");
  return o;
}
static Napi::Value CudaSelfTest(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "CUDA is not available: vramlab was built without nvcc");
}
static void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("cudaInfo", CudaInfo);
  VL_EXPORT("cudaSelfTest", CudaSelfTest);
}
VL_REGISTER(Register);
}  // namespace vl
