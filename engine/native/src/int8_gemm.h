// The int8 GEMM's instruction-set builds (int8_gemm.cpp drives them). A
// micro-kernel computes exact int32 sums c[i * NR + j] = sum_k x_i[k] * w_j[k]
// for MR rows of X and NR rows of W, both int8 row-major with K elements, read
// in place through row pointers (no packing: past the edges of M and N the
// driver repeats the last row and drops the extra results; only a K that is
// not a multiple of the kernel's step makes it copy the rows, zero-padded).
#pragma once
#include <cstddef>
#include <cstdint>

namespace vl {

struct Int8GemmKernels {
  const char* name;
  size_t mr, nr;
  // tile() needs K to be a multiple of this; the driver zero-pads rows otherwise.
  size_t k_multiple;
  // True when tile() needs x_row_sums[i] = sum_k x_i[k] (the VNNI kernel's
  // correction for its unsigned operand).
  bool needs_x_row_sums;
  void (*tile)(const int8_t* const* x_rows, const int8_t* const* w_rows, size_t K, const int32_t* x_row_sums, int32_t* c);
};

const Int8GemmKernels& int8_gemm_kernels_avx2();
// AVX-512 VNNI (vpdpbusd); only call when the CPU has avx512vnni (and AVX-512 BW).
const Int8GemmKernels& int8_gemm_kernels_avx512_vnni();

}  // namespace vl
