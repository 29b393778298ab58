// CPU matrix multiply (fp32 accumulation), BLIS-style packed GEMM with
// AVX-512 / AVX2+FMA / portable micro-kernels chosen at run time.
#pragma once
#include <cstddef>

namespace vl {
// C[M,N] (row-major, leading dim ldc) = A[M,K] (row-major, lda) * op(B)  (+= when accumulate)
// op(B) = B[K,N] (row-major, ldb) when !transB, or the transpose of B[N,K] (row-major, ldb) when transB.
// All fp32. Safe to call from inside a parallel_for body (it then runs on the calling thread).
void gemm_f32(size_t M, size_t N, size_t K, const float* A, size_t lda, const float* B, size_t ldb, bool transB, float* C, size_t ldc, bool accumulate);
}  // namespace vl
