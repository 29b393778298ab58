// The cast block converters of cast_simd.h compiled for AVX-512 (F/BW/VL/DQ) + F16C.
#define VL_CAST_SIMD_IMPLEMENTATION
#include "cast_simd.h"

namespace vl {
const CastSimdCodecs& cast_simd_codecs_avx512() { return kCastSimdCodecs; }
}  // namespace vl
