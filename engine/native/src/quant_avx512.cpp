// AVX-512 build of the quantization element loops (quant_kernels.h).
// Statistics and encode are the shared source compiled for AVX-512;
// dequantize has explicit vector paths that decode, scale and store 16
// elements per step: int8 widens, the packed formats (int4, fp4, fp5, fp6)
// extract 16 codes with 64-bit variable shifts and look their values up with
// in-register permutes, and float8_e4m3fn is rebuilt as a float16 (same
// exponent and mantissa bits, exactly 2^-8 times the value) and widened.
// Every path gives the same float32 bits as the portable table lookup.
// fp-contract is off: a*b+c rounds twice, as on every other level.
#pragma GCC optimize("fp-contract=off")
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#include "quant_kernels.h"

namespace vl {
namespace {

// 16 codes of B bits starting at byte p (elements 0..7 in the 8 bytes at p,
// elements 8..15 in the 8 bytes at p + B), one per 32-bit lane.
template <unsigned B>
inline __m512i extract_codes16(const uint8_t* p) {
  const __m512i shifts = _mm512_setr_epi64(0, B, 2 * B, 3 * B, 4 * B, 5 * B, 6 * B, 7 * B);
  const __m512i mask = _mm512_set1_epi64((1u << B) - 1);
  uint64_t lo, hi;
  std::memcpy(&lo, p, 8);
  std::memcpy(&hi, p + B, 8);
  const __m512i l = _mm512_and_si512(_mm512_srlv_epi64(_mm512_set1_epi64(static_cast<long long>(lo)), shifts), mask);
  const __m512i h = _mm512_and_si512(_mm512_srlv_epi64(_mm512_set1_epi64(static_cast<long long>(hi)), shifts), mask);
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(l)), _mm512_cvtepi64_epi32(h), 1);
}

// Values of 16 codes from a table of 2^B floats held in registers.
template <unsigned B>
struct CodeLookup {
  __m512 t0, t1, t2, t3;
  explicit CodeLookup(const float* table) {
    t0 = _mm512_load_ps(table);
    t1 = B >= 5 ? _mm512_load_ps(table + 16) : t0;
    t2 = B >= 6 ? _mm512_load_ps(table + 32) : t0;
    t3 = B >= 6 ? _mm512_load_ps(table + 48) : t0;
  }
  __m512 operator()(__m512i codes) const {
    if (B == 4) return _mm512_permutexvar_ps(codes, t0);
    const __m512 low = _mm512_permutex2var_ps(t0, codes, t1);  // bit 4 picks t1
    if (B == 5) return low;
    const __m512 high = _mm512_permutex2var_ps(t2, codes, t3);
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(codes, _mm512_set1_epi32(32)), low, high);
  }
};

// value * scale (+ zero): two roundings, never fused (fp-contract is off).
struct ScaleStep {
  __m512 scale, zero;
  bool has_zero;
  ScaleStep(float s, const float* z) : scale(_mm512_set1_ps(s)), zero(_mm512_set1_ps(z ? *z : 0.0f)), has_zero(z != nullptr) {}
  __m512 operator()(__m512 v) const {
    v = _mm512_mul_ps(v, scale);
    return has_zero ? _mm512_add_ps(v, zero) : v;
  }
};

// The packed formats (B = 4, 5, 6 bits): each group segment runs whole
// 16-element steps from its first byte-aligned element while the 8-byte loads
// stay inside the storage; its ragged ends use the portable loops.
template <unsigned B>
void dequantize_packed(const QuantView& v, size_t begin, size_t end, float* out) {
  const CodeLookup<B> lookup(quant_decode_table(v.qdtype));
  for_each_group_segment(v, begin, end, out, [&](size_t first, size_t n, float scale, const float* zero, float* o) {
    const size_t head = std::min(n, (8 - first % 8) % 8);
    if (head) {
      generic_decode(v.qdtype, v.q, v.q_bytes, first, head, o);
      generic_apply_scale(o, head, scale, zero);
    }
    const ScaleStep step(scale, zero);
    size_t i = head;
    for (; n - i >= 16; i += 16) {
      const size_t byte = (first + i) / 8 * B;
      if (byte + B + 8 > v.q_bytes) break;
      _mm512_storeu_ps(o + i, step(lookup(extract_codes16<B>(v.q + byte))));
    }
    if (i < n) {
      generic_decode(v.qdtype, v.q, v.q_bytes, first + i, n - i, o + i);
      generic_apply_scale(o + i, n - i, scale, zero);
    }
  });
}

inline __m512 decode16_int8(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

// e4m3fn code -> float16 bits with the same exponent/mantissa fields: the
// float16 value is the e4m3fn value times 2^-8 (subnormals included), so
// widening and multiplying by 256 is exact. The NaN codes 0x7f / 0xff become
// PyTorch's 0x7ff00000 | sign, as the table decode gives.
inline __m512 decode16_e4m3fn(const uint8_t* p) {
  const __m512i magnitude_mask = _mm512_set1_epi32(0x7f), sign_mask = _mm512_set1_epi32(0x80);
  const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m512i magnitude = _mm512_and_si512(c, magnitude_mask);
  const __m512i sign = _mm512_and_si512(c, sign_mask);
  const __m512i half_bits = _mm512_or_si512(_mm512_slli_epi32(magnitude, 7), _mm512_slli_epi32(sign, 8));
  const __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(half_bits)), _mm512_set1_ps(256.0f));
  const __m512i nan_bits = _mm512_or_si512(_mm512_slli_epi32(sign, 24), _mm512_set1_epi32(0x7ff00000));
  return _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(magnitude, magnitude_mask), v, _mm512_castsi512_ps(nan_bits));
}

// The byte formats (int8, float8_e4m3fn): 16 elements per step, the rest portable.
template <__m512 (*Decode16)(const uint8_t*)>
void dequantize_bytes(const QuantView& v, size_t begin, size_t end, float* out) {
  for_each_group_segment(v, begin, end, out, [&](size_t first, size_t n, float scale, const float* zero, float* o) {
    const ScaleStep step(scale, zero);
    size_t i = 0;
    for (; n - i >= 16; i += 16) _mm512_storeu_ps(o + i, step(Decode16(v.q + first + i)));
    if (i < n) {
      generic_decode(v.qdtype, v.q, v.q_bytes, first + i, n - i, o + i);
      generic_apply_scale(o + i, n - i, scale, zero);
    }
  });
}

void dequantize_avx512(const QuantView& v, size_t begin, size_t end, float* out) {
  switch (v.qdtype) {
    case DType::int8: dequantize_bytes<decode16_int8>(v, begin, end, out); return;
    case DType::float8_e4m3fn: dequantize_bytes<decode16_e4m3fn>(v, begin, end, out); return;
    case DType::fp6_e3m2: dequantize_packed<6>(v, begin, end, out); return;
    case DType::fp5_e2m2: dequantize_packed<5>(v, begin, end, out); return;
    default: dequantize_packed<4>(v, begin, end, out); return;  // int4, fp4_e2m1
  }
}

}  // namespace

const QuantLoops& quant_loops_avx512() {
  static const QuantLoops loops{generic_stats, generic_encode, dequantize_avx512};
  return loops;
}
}  // namespace vl
