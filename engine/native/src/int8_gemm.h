// The int8 GEMM's instruction-set builds (int8_gemm.cpp drives them): each
// packs X [M,K] and W [N,K] (int8, row-major) into its own layout and computes
// exact int32 sums acc[m][n] = sum_k x[m,k] * w[n,k] for one MR x NR micro-tile.
// Panels are zero-padded past K, M and N, so a micro-tile always runs whole.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vl {

struct Int8GemmKernels {
  const char* name;
  size_t mr, nr;
  // Bytes of one packed group of MR rows of X / one packed panel of NR rows of W.
  size_t (*x_group_bytes)(size_t K);
  size_t (*w_panel_bytes)(size_t K);
  // Packs `rows` (<= MR) rows of x (leading dimension K) into one group.
  void (*pack_x)(const int8_t* x, size_t K, size_t rows, uint8_t* dst);
  // Packs `rows` (<= NR) rows of w into one panel.
  void (*pack_w)(const int8_t* w, size_t K, size_t rows, uint8_t* dst);
  // c[i * NR + j] = exact int32 sum for row i of the group, row j of the panel.
  void (*tile)(const uint8_t* x_group, const uint8_t* w_panel, size_t K, int32_t* c);
};

const Int8GemmKernels& int8_gemm_kernels_avx2();
// AVX-512 VNNI (vpdpbusd); only call when the CPU has avx512vnni.
const Int8GemmKernels& int8_gemm_kernels_avx512_vnni();

}  // namespace vl
