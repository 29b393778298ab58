// AVX2 build of the quantization element loops (quant_kernels.h): the same
// source as the portable build, vectorised by the compiler for AVX2. FMA is
// available here, so contraction is turned off: a*b+c must round twice, as
// on every other level.
#pragma GCC optimize("fp-contract=off")
#include "quant_kernels.h"

namespace vl {
const QuantLoops& quant_loops_avx2() {
  static const QuantLoops loops{generic_stats, generic_encode, generic_dequantize};
  return loops;
}
}  // namespace vl
