// Quantization building blocks shared by quant.cpp (quantize / dequantize),
// quant_gemm.cpp (matmul with a quantized weight) and their *_avx2 / *_avx512
// builds: element codecs of the quantized formats, packed bit streams, the
// per-group statistics and the encode / decode / scale loops.
//
// The loops below are defined in an anonymous namespace, so each file that
// includes this header compiles its own copy with its own instruction set
// (quant_avx2.cpp gets an AVX2 build of the same source) and the linker can
// never hand a wide-ISA body to a portable caller. Files built with FMA turn
// fp-contract off, so a*b+c is never fused: every level rounds each float32
// operation separately and writes identical bytes.
//
// Quantized data layout: element i of a tensor (row-major [rows, cols]) is at
// bits [i*b, (i+1)*b) of a little-endian bit stream (b = 8 for int8 and
// float8_e4m3fn, 4 for int4 / fp4_e2m1, 5 for fp5_e2m2, 6 for fp6_e3m2), the
// same packing as the cast kernel. int4 codes are two's complement nibbles.
#pragma once
#include "packed_bits.h"
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include "dtype.h"

namespace vl {

// What quantize() computes per group.
enum class QuantScheme : int { symmetric_int, symmetric_float, asymmetric_int };

// Parameters of one group's encode: q = f(x) with the group's scale (and the
// asymmetric grid's lowest value).
struct EncodeParams {
  QuantScheme scheme;
  DType qdtype;
  float scale;
  float min_val;   // asymmetric: zero - scale * mid (the value of code qmin)
  float qmin, qmax;
  int32_t mid;     // asymmetric: stored code = q - mid
};

// min / max of a group's values and whether it held a NaN (min/max ignore NaN;
// the flag makes the statistics NaN afterwards, as torch.amax does).
struct GroupStats {
  float min = INFINITY, max = -INFINITY;
  bool nan = false;
};

// A quantized [rows, cols] tensor as dequantize() reads it: the scale of row r,
// group g is scale[r * scale_row_stride + g] (stride 0: every row shares one
// row of scales); zero is null for symmetric schemes.
struct QuantView {
  DType qdtype;
  const uint8_t* q;
  size_t q_bytes;  // readable bytes at q (bounds the vector decoders' loads)
  const float* scale;
  const float* zero;
  size_t cols, group, scale_row_stride;
};

// One instruction-set build of the element loops.
struct QuantLoops {
  // Merges the statistics of n values into s.
  void (*stats)(const float* x, size_t n, GroupStats* s);
  // codes[i] = the code of x[i] (low bits only, as stored), for n values of one group.
  void (*encode)(const float* x, size_t n, const EncodeParams& p, uint8_t* codes);
  // out[i] = dequantized float32 value of flat element begin + i, for [begin, end):
  // decode(code) * scale, (+ zero), each step rounded to float32.
  void (*dequantize)(const QuantView& v, size_t begin, size_t end, float* out);
};
const QuantLoops& quant_loops_portable();
const QuantLoops& quant_loops_avx2();
const QuantLoops& quant_loops_avx512();
// The build for the running CPU (VRAMLAB_CPU caps it).
const QuantLoops& quant_loops();

namespace {

// ---- element formats ---------------------------------------------------------

inline unsigned qdtype_bits(DType d) {
  switch (d) {
    case DType::int8: case DType::float8_e4m3fn: return 8;
    case DType::fp6_e3m2: return 6;
    case DType::fp5_e2m2: return 5;
    default: return 4;  // int4, fp4_e2m1
  }
}
inline bool is_quant_float(DType d) {
  return d == DType::float8_e4m3fn || d == DType::fp6_e3m2 || d == DType::fp5_e2m2 || d == DType::fp4_e2m1;
}
inline bool is_quant_int(DType d) { return d == DType::int8 || d == DType::int4; }
// Largest finite value of a float quantization format.
inline float quant_float_max(DType d) {
  switch (d) {
    case DType::float8_e4m3fn: return 448.0f;
    case DType::fp6_e3m2: return 28.0f;
    case DType::fp5_e2m2: return 7.0f;
    default: return 6.0f;  // fp4_e2m1
  }
}

// The element codecs (codecs.h, shared with the cast kernel and the CUDA
// kernels). float8_e4m3fn is encoded with saturation: |x| > 448 and inf
// become +-448, NaN gives 0x7f | sign.
using hd::f32_to_e4m3fn_saturated;
using hd::e4m3fn_to_f32;
using hd::Fp6E3M2;
using hd::Fp5E2M2;
using hd::Fp4E2M1;

// Decoded value of every code of each quantized format.
struct QuantDecodeTables {
  alignas(64) float e4m3fn[256];
  alignas(64) float fp6[64];
  alignas(64) float fp5[32];
  alignas(64) float fp4[16];
  alignas(64) float int4[16];
  QuantDecodeTables() {
    for (uint32_t c = 0; c < 256; c++) e4m3fn[c] = e4m3fn_to_f32(static_cast<uint8_t>(c));
    for (uint32_t c = 0; c < 64; c++) fp6[c] = Fp6E3M2::decode(c);
    for (uint32_t c = 0; c < 32; c++) fp5[c] = Fp5E2M2::decode(c);
    for (uint32_t c = 0; c < 16; c++) fp4[c] = Fp4E2M1::decode(c);
    for (uint32_t c = 0; c < 16; c++) int4[c] = static_cast<float>(static_cast<int>(c) - (c >= 8 ? 16 : 0));
  }
};
inline const QuantDecodeTables& quant_decode_tables() {
  static const QuantDecodeTables t;
  return t;
}
// The table of a packed format's codes (int4, fp4, fp5, fp6) or of e4m3fn.
inline const float* quant_decode_table(DType d) {
  const QuantDecodeTables& t = quant_decode_tables();
  switch (d) {
    case DType::float8_e4m3fn: return t.e4m3fn;
    case DType::fp6_e3m2: return t.fp6;
    case DType::fp5_e2m2: return t.fp5;
    case DType::fp4_e2m1: return t.fp4;
    default: return t.int4;
  }
}


// ---- the element loops (compiled once per instruction-set file) -------------

// min/max skip NaN (a comparison with NaN is false); the flag records it.
inline void generic_stats(const float* x, size_t n, GroupStats* s) {
  float lo = s->min, hi = s->max;
  bool nan = false;
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    nan |= v != v;
  }
  s->min = lo;
  s->max = hi;
  s->nan = s->nan || nan;
}

// Round half to even of a float32 already clamped to |y| <= 2^22: adding and
// subtracting 1.5 * 2^23 leaves the integer nearest y (the FPU rounds the sum
// to nearest even). Unlike nearbyint this needs no SSE4.1, so every level uses it.
inline float round_half_even_small(float y) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (y + kMagic) - kMagic;
}
// clamp(round(y), qmin, qmax) == round(clamp(y, qmin, qmax)) for integer bounds;
// NaN gives code 0 (what PyTorch's float -> int8 conversion gives on x86).
inline int32_t round_clamped(float y, float qmin, float qmax) {
  float c = y > qmin ? y : qmin;
  c = c < qmax ? c : qmax;
  float r = round_half_even_small(c);
  return y == y ? static_cast<int32_t>(r) : 0;
}

inline void generic_encode(const float* x, size_t n, const EncodeParams& p, uint8_t* codes) {
  const float scale = p.scale, qmin = p.qmin, qmax = p.qmax;
  switch (p.scheme) {
    case QuantScheme::symmetric_int: {
      const uint32_t mask = p.qdtype == DType::int4 ? 0xfu : 0xffu;
      for (size_t i = 0; i < n; i++)
        codes[i] = static_cast<uint8_t>(static_cast<uint32_t>(round_clamped(x[i] / scale, qmin, qmax)) & mask);
      return;
    }
    case QuantScheme::asymmetric_int: {
      // torchao's float zero point: q = round((x - min_val) / scale), min_val = zero - scale * mid.
      const uint32_t mask = p.qdtype == DType::int4 ? 0xfu : 0xffu;
      const float min_val = p.min_val;
      const int32_t mid = p.mid;
      for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        int32_t q = round_clamped((v - min_val) / scale, qmin, qmax);
        q = v == v ? q - mid : 0;  // NaN: stored code 0
        codes[i] = static_cast<uint8_t>(static_cast<uint32_t>(q) & mask);
      }
      return;
    }
    case QuantScheme::symmetric_float:
      switch (p.qdtype) {
        case DType::float8_e4m3fn:
          for (size_t i = 0; i < n; i++) codes[i] = f32_to_e4m3fn_saturated(x[i] / scale);
          return;
        case DType::fp6_e3m2:
          for (size_t i = 0; i < n; i++) codes[i] = Fp6E3M2::encode(x[i] / scale);
          return;
        case DType::fp5_e2m2:
          for (size_t i = 0; i < n; i++) codes[i] = Fp5E2M2::encode(x[i] / scale);
          return;
        default:
          for (size_t i = 0; i < n; i++) codes[i] = Fp4E2M1::encode(x[i] / scale);
          return;
      }
  }
}

inline void generic_decode(DType qdtype, const uint8_t* q, size_t /*q_bytes*/, size_t first, size_t count, float* out) {
  if (qdtype == DType::int8) {
    const int8_t* s = reinterpret_cast<const int8_t*>(q) + first;
    for (size_t i = 0; i < count; i++) out[i] = static_cast<float>(s[i]);
    return;
  }
  const float* table = quant_decode_table(qdtype);
  constexpr size_t kStep = 1024;
  uint8_t codes[kStep];
  for (size_t done = 0; done < count; done += kStep) {
    const size_t m = std::min(kStep, count - done);
    unpack_codes(q, first + done, m, qdtype_bits(qdtype), codes);
    for (size_t i = 0; i < m; i++) out[done + i] = table[codes[i]];
  }
}

inline void generic_apply_scale(float* v, size_t n, float scale, const float* zero) {
  if (zero) {
    const float z = *zero;
    for (size_t i = 0; i < n; i++) {
      const float scaled = v[i] * scale;
      v[i] = scaled + z;
    }
  } else {
    for (size_t i = 0; i < n; i++) v[i] = v[i] * scale;
  }
}

// Splits [begin, end) at group boundaries and calls seg(first, n, scale, zero|null, out).
// Row, column and group advance incrementally (a division per small group
// would cost as much as decoding it).
template <typename Segment>
inline void for_each_group_segment(const QuantView& v, size_t begin, size_t end, float* out, Segment seg) {
  if (begin >= end) return;
  size_t row = begin / v.cols, col = begin % v.cols, g = col / v.group;
  size_t group_end = (g + 1) * v.group;  // column where the current group ends
  for (size_t i = begin; i < end;) {
    const size_t n = std::min(end - i, group_end - col);
    const size_t s = row * v.scale_row_stride + g;
    seg(i, n, v.scale[s], v.zero ? v.zero + s : nullptr, out + (i - begin));
    i += n;
    col += n;
    if (col == group_end) {
      g++;
      group_end += v.group;
      if (col == v.cols) { row++; col = 0; g = 0; group_end = v.group; }
    }
  }
}

inline void generic_dequantize(const QuantView& v, size_t begin, size_t end, float* out) {
  for_each_group_segment(v, begin, end, out, [&](size_t first, size_t n, float scale, const float* zero, float* o) {
    generic_decode(v.qdtype, v.q, v.q_bytes, first, n, o);
    generic_apply_scale(o, n, scale, zero);
  });
}

}  // namespace
}  // namespace vl
