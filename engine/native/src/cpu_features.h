// Instruction sets the running CPU supports, checked once at load; kernels
// compiled with -mavx2 / -mavx512f are called only when these say so.
#pragma once
namespace vl {
struct CpuFeatures { bool avx2_fma; bool avx512; bool f16c; };
const CpuFeatures& cpu_features();
// VRAMLAB_CPU=portable|avx2|avx512 caps the level (for testing the fallbacks).
}  // namespace vl
