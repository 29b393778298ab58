// GEMMs for the CUDA kernels: cuBLASLt when it was found at run time
// (cublaslt_loader.cpp), the project's tiled kernels otherwise.
// All matrices are row-major, as the engine stores them.
#pragma once
#include "cuda_common.cuh"

namespace vl {
namespace cu {

// One (possibly strided-batched) product D[b] = alpha * A[b] @ op(B[b]) in row-major terms:
// A [m, k] (lda), B [n, k] when trans_b (else [k, n]) (ldb), D [m, n] (ldd).
struct RowMajorGemm {
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr; int a_type = 0; int64_t lda = 0; int64_t stride_a = 0;
  const void* b = nullptr; int b_type = 0; int64_t ldb = 0; int64_t stride_b = 0; bool trans_b = true;
  void* d = nullptr; int d_type = 0; int64_t ldd = 0; int64_t stride_d = 0;
  int batch = 1;
  int compute = 68;  // lt::COMPUTE_32F
  float alpha = 1.0f;
  const void* bias = nullptr;  // per output column (n), same type as D
};

// True when cuBLASLt ran it; false when cuBLASLt is absent or has no algorithm for
// these types/shapes (the caller then uses a fallback). Throws on launch errors.
bool lt_gemm(const RowMajorGemm& g, cudaStream_t stream);
// Whether cuBLASLt is loaded (and why not).
bool lt_available(std::string* why = nullptr);
// cudaDataType_t of a float activation dtype, or -1.
int lt_type(DType d);

}  // namespace cu
}  // namespace vl
