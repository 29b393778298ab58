// Shared by the CUDA kernel families: error checks, device storages
// (CudaStorage, owned by the caching allocator), stream ids, launch helpers.
// Every kernel export takes the cpu kernel's arguments with CudaStorage
// objects in place of Storage, plus a trailing stream id (0 = the device's
// default stream); kernels are queued, never waited for.
#pragma once
#include <cuda_runtime.h>
#include <napi.h>
#include <cstdint>
#include <stdexcept>
#include <string>
#include "hd_codecs.h"
#include "../napi_args.h"
#include "../registry.h"

namespace vl {
namespace cu {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state so the next call starts clean
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e) + " (CUDA error " + std::to_string(static_cast<int>(e)) + ")");
  }
}
// After a launch: reports configuration errors at once (execution errors surface at the next sync).
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

// Device memory of a CudaStorage argument (throws if disposed or not a CudaStorage).
uint8_t* dev_ptr(const Napi::Value& v, const char* what);
size_t dev_nbytes(const Napi::Value& v, const char* what);
// Bounds check like check_fits: n elements of d after element `offset`.
uint8_t* dev_checked(const Napi::Value& v, DType d, size_t offset, size_t n, const char* what);
// The cudaStream_t behind a stream id argument (0 = legacy default stream).
cudaStream_t arg_stream(const Napi::CallbackInfo& info, size_t i);
// A float32 workspace on `stream` from the caching allocator, returned to it on destruction
// (the allocator orders reuse by stream, so no synchronisation is needed).
class Workspace {
 public:
  Workspace(size_t bytes, cudaStream_t stream);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* get() const { return ptr_; }
 private:
  void* ptr_ = nullptr;
  int device_ = 0;
};

inline unsigned grid_for(size_t n, unsigned threads, size_t max_blocks = 65535u * 16u) {
  size_t b = (n + threads - 1) / threads;
  if (b == 0) b = 1;
  return static_cast<unsigned>(b < max_blocks ? b : max_blocks);
}
#define VL_GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

}  // namespace cu
}  // namespace vl
