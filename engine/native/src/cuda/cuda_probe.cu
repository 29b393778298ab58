// CUDA availability probe and a trivial kernel proving the toolchain works.
// The runtime is linked statically; with no driver, cudaGetDeviceCount
// returns an error and we report "no CUDA device" instead of failing to load.
#include <cuda_runtime.h>
#include <napi.h>
#include <string>
#include "../registry.h"

namespace vl {

__global__ void vl_fill_kernel(float* p, float v, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}

static Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", true);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    o.Set("available", false);
    o.Set("deviceCount", 0);
    o.Set("reason", std::string("no CUDA device: ") + cudaGetErrorString(err) + " (error " + std::to_string(static_cast<int>(err)) + ")");
    cudaGetLastError();
    return o;
  }
  o.Set("available", count > 0);
  o.Set("deviceCount", count);
  if (count == 0) o.Set("reason", "no CUDA device: the driver reports 0 devices");
  Napi::Array devs = Napi::Array::New(env, count);
  for (int d = 0; d < count; d++) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("name", p.name);
    dev.Set("totalMemory", static_cast<double>(p.totalGlobalMem));
    dev.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
    devs.Set(static_cast<uint32_t>(d), dev);
  }
  o.Set("devices", devs);
  return o;
}

// cudaSelfTest(n, value): fills a device buffer with a kernel and copies it
// back; returns the sum (n * value) so a caller can check the round trip.
static Napi::Value CudaSelfTest(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  float v = info[1].As<Napi::Number>().FloatValue();
  float* d = nullptr;
  cudaError_t err = cudaMalloc(&d, sizeof(float) * n);
  if (err != cudaSuccess) throw Napi::Error::New(info.Env(), std::string("cudaMalloc failed: ") + cudaGetErrorString(err));
  vl_fill_kernel<<<(n + 255) / 256, 256>>>(d, v, n);
  std::string h_err;
  float* h = new float[n];
  err = cudaMemcpy(h, d, sizeof(float) * n, cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (err != cudaSuccess) { delete[] h; throw Napi::Error::New(info.Env(), std::string("kernel or copy failed: ") + cudaGetErrorString(err)); }
  double sum = 0;
  for (int i = 0; i < n; i++) sum += h[i];
  delete[] h;
  return Napi::Number::New(info.Env(), sum);
}

static void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("cudaInfo", CudaInfo);
  VL_EXPORT("cudaSelfTest", CudaSelfTest);
}
VL_REGISTER(Register);

}  // namespace vl
