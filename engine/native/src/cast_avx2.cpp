// The cast block converters of cast_simd.h compiled for AVX2 + F16C.
#define VL_CAST_SIMD_IMPLEMENTATION
#include "cast_simd.h"

namespace vl {
const CastSimdCodecs& cast_simd_codecs_avx2() { return kCastSimdCodecs; }
}  // namespace vl
