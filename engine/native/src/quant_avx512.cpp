// AVX-512 build of the quantization element loops (quant_kernels.h).
// Statistics, encode and scaling are the shared source compiled for AVX-512;
// decoding has explicit vector paths: int8 widens, the packed formats (int4,
// fp4, fp5, fp6) extract 16 codes per step with 64-bit variable shifts and
// look their values up with in-register permutes, and float8_e4m3fn is
// rebuilt as a float16 (same exponent and mantissa bits, exactly 2^-8 times
// the value) and widened. Every path gives the same float32 bits as the
// portable table lookup. fp-contract is off: a*b+c rounds twice, as on every
// other level.
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

template <unsigned B>
void decode_packed(DType qdtype, const uint8_t* q, size_t q_bytes, size_t first, size_t count, float* out) {
  size_t i = 0;
  // Scalar head up to a byte-aligned element (a multiple of 8).
  const size_t head = std::min(count, (8 - first % 8) % 8);
  if (head) generic_decode(qdtype, q, q_bytes, first, head, out);
  i = head;
  const CodeLookup<B> lookup(quant_decode_table(qdtype));
  // A step reads bytes [p, p + B + 8): it must stay inside the storage.
  for (; count - i >= 16; i += 16) {
    const size_t byte = (first + i) / 8 * B;
    if (byte + B + 8 > q_bytes) break;
    _mm512_storeu_ps(out + i, lookup(extract_codes16<B>(q + byte)));
  }
  if (i < count) generic_decode(qdtype, q, q_bytes, first + i, count - i, out + i);
}

void decode_int8(const uint8_t* q, size_t first, size_t count, float* out) {
  const uint8_t* s = q + first;
  size_t i = 0;
  for (; count - i >= 16; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)))));
  for (; i < count; i++) out[i] = static_cast<float>(static_cast<int8_t>(s[i]));
}

// e4m3fn code -> float16 bits with the same exponent/mantissa fields: the
// float16 value is the e4m3fn value times 2^-8 (subnormals included), so
// widening and multiplying by 256 is exact. The NaN codes 0x7f / 0xff become
// PyTorch's 0x7ff00000 | sign, as the table decode gives.
void decode_e4m3fn(const uint8_t* q, size_t first, size_t count, float* out) {
  const uint8_t* s = q + first;
  const __m512i magnitude_mask = _mm512_set1_epi32(0x7f), sign_mask = _mm512_set1_epi32(0x80);
  const __m512 two_pow_8 = _mm512_set1_ps(256.0f);
  size_t i = 0;
  for (; count - i >= 16; i += 16) {
    const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
    const __m512i magnitude = _mm512_and_si512(c, magnitude_mask);
    const __m512i sign = _mm512_and_si512(c, sign_mask);
    const __m512i half_bits = _mm512_or_si512(_mm512_slli_epi32(magnitude, 7), _mm512_slli_epi32(sign, 8));
    __m512 v = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(half_bits)), two_pow_8);
    const __m512i nan_bits = _mm512_or_si512(_mm512_slli_epi32(sign, 24), _mm512_set1_epi32(0x7ff00000));
    const __mmask16 is_nan = _mm512_cmpeq_epi32_mask(magnitude, magnitude_mask);
    v = _mm512_mask_blend_ps(is_nan, v, _mm512_castsi512_ps(nan_bits));
    _mm512_storeu_ps(out + i, v);
  }
  const float* table = quant_decode_tables().e4m3fn;
  for (; i < count; i++) out[i] = table[s[i]];
}

void decode_avx512(DType qdtype, const uint8_t* q, size_t q_bytes, size_t first, size_t count, float* out) {
  switch (qdtype) {
    case DType::int8: decode_int8(q, first, count, out); return;
    case DType::float8_e4m3fn: decode_e4m3fn(q, first, count, out); return;
    case DType::fp6_e3m2: decode_packed<6>(qdtype, q, q_bytes, first, count, out); return;
    case DType::fp5_e2m2: decode_packed<5>(qdtype, q, q_bytes, first, count, out); return;
    default: decode_packed<4>(qdtype, q, q_bytes, first, count, out); return;  // int4, fp4_e2m1
  }
}

}  // namespace

const QuantLoops& quant_loops_avx512() {
  static const QuantLoops loops{generic_stats, generic_encode, decode_avx512, generic_apply_scale};
  return loops;
}
}  // namespace vl
