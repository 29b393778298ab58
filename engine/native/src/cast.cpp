// cast(src, srcDtype, srcOffset, dst, dstDtype, dstOffset, n, saturate):
// converts n elements between any two engine dtypes. Offsets count elements
// (for packed dtypes they address elements inside the bit stream).
//
// Semantics (the tests in test/engine/casts-*.test.ts pin every line):
// - float -> float rounds to nearest, ties to even, exactly as PyTorch's CPU
//   casts (c10/util Half.h, BFloat16.h, Float8_e4m3fn.h, Float8_e5m2.h).
//   Two non-float32 formats convert through float32, as PyTorch does.
//   saturate=false: float16/bfloat16/e5m2 overflow to inf (e5m2 from 61440,
//   float16 from 65520); float8_e4m3fn has no inf, |x| > 464 (and inf) gives
//   NaN 0x7f/0xff.
// - saturate=true (what quantisers use): finite values and inf are first
//   clamped to +-max finite of the target (torchao's saturated cast; float32
//   targets clamp only inf), then rounded; NaN stays NaN.
// - NaN bits: fp8 NaN is 0x7f|sign; float16/bfloat16 keep the sign and the
//   top payload bits and set the quiet bit (F16C / PyTorch's vectorised
//   float16 path; PyTorch's own bfloat16 NaN bits differ between its scalar
//   and vector paths). Decoding: float16 and e5m2 NaNs become quiet float32
//   NaNs with the payload kept, e4m3fn NaN becomes 0x7ff00000|sign (PyTorch's
//   bits), bfloat16 decodes by a plain shift.
// - fp6_e3m2 / fp5_e2m2 / fp4_e2m1 (torchao fpx / MX element formats, no inf
//   or NaN): round to nearest even, magnitudes beyond max (28 / 7 / 6) and inf
//   saturate to +-max whatever `saturate` says; NaN becomes +0.
// - float -> int8/uint8/int32/int4 truncates toward zero. saturate=false
//   keeps what PyTorch on x86 gives: 8- and 4-bit targets take the low bits
//   of the truncated value (two's complement wrap; NaN, inf and |x| >= 2^63
//   give 0), int32 gives INT32_MIN for NaN, inf and anything outside
//   [-2^31, 2^31). saturate=true clamps to the target's range, NaN -> 0.
// - int -> int wraps like a C cast (saturate=false) or clamps (true).
//   int -> float converts the integer to float32 (exact below 2^24, RNE
//   above) and rounds that to the target, as PyTorch does.
// - The same dtype with saturate=false is a bit copy (NaN payloads kept).
// - src and dst may share a storage only if their bit ranges are disjoint or
//   the same elements in place (same element width and offset).
#include "packed_bits.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cast_simd.h"
#include "cpu_features.h"
#include "dtype.h"
#include "napi_args.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {
namespace {

// Elements converted per step. A multiple of 8, so every block after the
// first starts on a byte boundary of a packed destination and threads never
// write the same byte.
constexpr size_t kBlock = 2048;
// Blocks a thread must have before work is split (about 32K elements).
constexpr size_t kGrainBlocks = 16;

bool is_integer(DType d) {
  return d == DType::int8 || d == DType::uint8 || d == DType::int32 || d == DType::int4;
}

// The scalar codecs (codecs.h, shared with the CUDA kernels).
using hd::clamp_magnitude;
using hd::kF32Max;
using hd::kBf16Max;
using hd::kF16Max;
using hd::kE5m2Max;
using hd::f32_to_e4m3fn;
using hd::f32_to_e4m3fn_saturated;
using hd::f32_to_e5m2;
using hd::e4m3fn_to_f32;
using hd::e5m2_to_f32;
using hd::Fp6E3M2;
using hd::Fp5E2M2;
using hd::Fp4E2M1;
using hd::truncate_wide;
using hd::truncate_int32;
using hd::truncate_clamped;

// Decoded value of every code of the table-decoded formats.
struct DecodeTables {
  float e4m3fn[256], e5m2[256], fp6[64], fp5[32], fp4[16], int4[16];
  DecodeTables() {
    for (uint32_t c = 0; c < 256; c++) {
      e4m3fn[c] = e4m3fn_to_f32(static_cast<uint8_t>(c));
      e5m2[c] = e5m2_to_f32(static_cast<uint8_t>(c));
    }
    for (uint32_t c = 0; c < 64; c++) fp6[c] = Fp6E3M2::decode(c);
    for (uint32_t c = 0; c < 32; c++) fp5[c] = Fp5E2M2::decode(c);
    for (uint32_t c = 0; c < 16; c++) fp4[c] = Fp4E2M1::decode(c);
    for (uint32_t c = 0; c < 16; c++) int4[c] = static_cast<float>(static_cast<int>(c) - (c >= 8 ? 16 : 0));
  }
};
const DecodeTables& tables() {
  static const DecodeTables t;
  return t;
}


// ---- float -> integer ------------------------------------------------------

template <typename T>
inline T load(const uint8_t* base, size_t index) {
  T v;
  std::memcpy(&v, base + index * sizeof(T), sizeof(T));
  return v;
}
template <typename T>
inline void store(uint8_t* base, size_t index, T v) {
  std::memcpy(base + index * sizeof(T), &v, sizeof(T));
}

struct IntRange { int64_t lo, hi; };
IntRange int_range(DType d) {
  switch (d) {
    case DType::int8: return {-128, 127};
    case DType::uint8: return {0, 255};
    case DType::int32: return {INT32_MIN, INT32_MAX};
    default: return {-8, 7};  // int4
  }
}

// ---- block decode / encode (portable) --------------------------------------

unsigned packed_bits(DType d) { return static_cast<unsigned>(dtype_bits(d)); }

void decode_to_float(DType d, const uint8_t* base, size_t first, size_t count, float* out) {
  const DecodeTables& t = tables();
  switch (d) {
    case DType::float32: std::memcpy(out, base + 4 * first, 4 * count); return;
    case DType::float16:
      for (size_t i = 0; i < count; i++) out[i] = f16_to_f32(load<uint16_t>(base, first + i));
      return;
    case DType::bfloat16:
      for (size_t i = 0; i < count; i++) out[i] = bf16_to_f32(load<uint16_t>(base, first + i));
      return;
    case DType::float8_e4m3fn:
      for (size_t i = 0; i < count; i++) out[i] = t.e4m3fn[base[first + i]];
      return;
    case DType::float8_e5m2:
      for (size_t i = 0; i < count; i++) out[i] = t.e5m2[base[first + i]];
      return;
    case DType::int8:
      for (size_t i = 0; i < count; i++) out[i] = static_cast<float>(static_cast<int8_t>(base[first + i]));
      return;
    case DType::uint8:
      for (size_t i = 0; i < count; i++) out[i] = static_cast<float>(base[first + i]);
      return;
    case DType::int32:
      for (size_t i = 0; i < count; i++) out[i] = static_cast<float>(load<int32_t>(base, first + i));
      return;
    case DType::int4: case DType::fp6_e3m2: case DType::fp5_e2m2: case DType::fp4_e2m1: {
      const float* table = d == DType::int4 ? t.int4 : d == DType::fp6_e3m2 ? t.fp6 : d == DType::fp5_e2m2 ? t.fp5 : t.fp4;
      uint8_t codes[kBlock];
      for (size_t done = 0; done < count; done += kBlock) {
        size_t m = std::min(kBlock, count - done);
        unpack_codes(base, first + done, m, packed_bits(d), codes);
        for (size_t i = 0; i < m; i++) out[done + i] = table[codes[i]];
      }
      return;
    }
  }
}

// Codes from `encode` (its low `bits` bits are kept), or from the vectorised
// `simd_codes` where given, packed into the stream.
template <typename Encode>
void encode_packed(const float* in, size_t count, uint8_t* base, size_t first, unsigned bits, Encode encode,
                   CastCodesFn simd_codes = nullptr) {
  const uint32_t mask = (1u << bits) - 1;
  uint8_t codes[kBlock];
  for (size_t done = 0; done < count; done += kBlock) {
    size_t m = std::min(kBlock, count - done);
    if (simd_codes) simd_codes(in + done, codes, m);
    else for (size_t i = 0; i < m; i++) codes[i] = static_cast<uint8_t>(static_cast<uint32_t>(encode(in[done + i])) & mask);
    pack_codes(base, first + done, m, bits, codes);
  }
}

// `simd` (may be null) supplies vectorised codes for the sub-byte floats.
void encode_from_float(DType d, const float* in, size_t count, uint8_t* base, size_t first, bool saturate,
                       const CastSimdCodecs* simd) {
  switch (d) {
    case DType::float32:
      if (!saturate) { std::memcpy(base + 4 * first, in, 4 * count); return; }
      for (size_t i = 0; i < count; i++) store<float>(base, first + i, clamp_magnitude(in[i], kF32Max));
      return;
    case DType::float16:
      for (size_t i = 0; i < count; i++)
        store<uint16_t>(base, first + i, f32_to_f16(saturate ? clamp_magnitude(in[i], kF16Max) : in[i]));
      return;
    case DType::bfloat16:
      for (size_t i = 0; i < count; i++)
        store<uint16_t>(base, first + i, f32_to_bf16(saturate ? clamp_magnitude(in[i], kBf16Max) : in[i]));
      return;
    case DType::float8_e4m3fn:
      for (size_t i = 0; i < count; i++)
        base[first + i] = saturate ? f32_to_e4m3fn_saturated(in[i]) : f32_to_e4m3fn(in[i]);
      return;
    case DType::float8_e5m2:
      for (size_t i = 0; i < count; i++)
        base[first + i] = f32_to_e5m2(saturate ? clamp_magnitude(in[i], kE5m2Max) : in[i]);
      return;
    case DType::int8: case DType::uint8: case DType::int32: {
      const IntRange r = int_range(d);
      if (d == DType::int32) {
        for (size_t i = 0; i < count; i++)
          store<int32_t>(base, first + i, saturate ? static_cast<int32_t>(truncate_clamped(in[i], r.lo, r.hi)) : truncate_int32(in[i]));
      } else if (saturate) {
        for (size_t i = 0; i < count; i++) base[first + i] = static_cast<uint8_t>(truncate_clamped(in[i], r.lo, r.hi));
      } else {
        for (size_t i = 0; i < count; i++) base[first + i] = static_cast<uint8_t>(truncate_wide(in[i]));
      }
      return;
    }
    case DType::int4:
      if (saturate) encode_packed(in, count, base, first, 4, [](float x) { return truncate_clamped(x, -8, 7); });
      else encode_packed(in, count, base, first, 4, truncate_wide);
      return;
    case DType::fp6_e3m2:
      encode_packed(in, count, base, first, Fp6E3M2::kBits, Fp6E3M2::encode, simd ? simd->sub_byte_codes[0] : nullptr);
      return;
    case DType::fp5_e2m2:
      encode_packed(in, count, base, first, Fp5E2M2::kBits, Fp5E2M2::encode, simd ? simd->sub_byte_codes[1] : nullptr);
      return;
    case DType::fp4_e2m1:
      encode_packed(in, count, base, first, Fp4E2M1::kBits, Fp4E2M1::encode, simd ? simd->sub_byte_codes[2] : nullptr);
      return;
  }
}

void decode_to_int(DType d, const uint8_t* base, size_t first, size_t count, int64_t* out) {
  switch (d) {
    case DType::int8: for (size_t i = 0; i < count; i++) out[i] = static_cast<int8_t>(base[first + i]); return;
    case DType::uint8: for (size_t i = 0; i < count; i++) out[i] = base[first + i]; return;
    case DType::int32: for (size_t i = 0; i < count; i++) out[i] = load<int32_t>(base, first + i); return;
    default:  // int4: sign-extend the nibble
      for (size_t i = 0; i < count; i++) {
        int64_t c = read_packed_code(base, first + i, 4);
        out[i] = c >= 8 ? c - 16 : c;
      }
      return;
  }
}

// saturate=false keeps the low bits (two's complement wrap), true clamps.
void encode_from_int(DType d, const int64_t* in, size_t count, uint8_t* base, size_t first, bool saturate) {
  IntRange r = int_range(d);
  auto fit = [&](int64_t v) { return saturate ? std::min(std::max(v, r.lo), r.hi) : v; };
  switch (d) {
    case DType::int8: case DType::uint8:
      for (size_t i = 0; i < count; i++) base[first + i] = static_cast<uint8_t>(fit(in[i]));
      return;
    case DType::int32:
      for (size_t i = 0; i < count; i++) store<int32_t>(base, first + i, static_cast<int32_t>(static_cast<uint32_t>(fit(in[i]))));
      return;
    default: {  // int4
      uint8_t codes[kBlock];
      for (size_t done = 0; done < count; done += kBlock) {
        size_t m = std::min(kBlock, count - done);
        for (size_t i = 0; i < m; i++) codes[i] = static_cast<uint8_t>(fit(in[done + i]) & 0xf);
        pack_codes(base, first + done, m, 4, codes);
      }
      return;
    }
  }
}

void copy_elements(DType d, const uint8_t* src, size_t src_first, uint8_t* dst, size_t dst_first, size_t count) {
  unsigned bits = packed_bits(d);
  if (bits >= 8) {
    std::memmove(dst + dst_first * (bits / 8), src + src_first * (bits / 8), count * (bits / 8));
    return;
  }
  uint8_t codes[kBlock];
  for (size_t done = 0; done < count; done += kBlock) {
    size_t m = std::min(kBlock, count - done);
    unpack_codes(src, src_first + done, m, bits, codes);
    pack_codes(dst, dst_first + done, m, bits, codes);
  }
}

// ---- driver ----------------------------------------------------------------

struct CastJob {
  const uint8_t* src;
  DType src_dtype;
  size_t src_offset;
  uint8_t* dst;
  DType dst_dtype;
  size_t dst_offset;
  size_t n;
  bool saturate;
};

const CastSimdCodecs* simd_codecs() {
  const CpuFeatures& f = cpu_features();
  if (f.avx512 && f.f16c) return &cast_simd_codecs_avx512();
  if (f.avx2_fma && f.f16c) return &cast_simd_codecs_avx2();
  return nullptr;
}

// Dtype codes 0..4 (float32 .. float8_e5m2) have vectorised converters.
inline bool has_simd_codec(DType d) { return static_cast<int32_t>(d) <= static_cast<int32_t>(DType::float8_e5m2); }

void run_cast(const CastJob& job) {
  const DType sd = job.src_dtype, dd = job.dst_dtype;
  enum class Path { copy, integer, through_float } path;
  if (sd == dd && (!job.saturate || is_integer(sd))) path = Path::copy;  // clamping an int to its own range is a copy
  else if (is_integer(sd) && is_integer(dd)) path = Path::integer;
  else path = Path::through_float;

  const CastSimdCodecs* simd = simd_codecs();
  CastDecodeFn simd_decode = simd && has_simd_codec(sd) ? simd->decode[static_cast<int32_t>(sd)] : nullptr;
  CastEncodeFn simd_encode = simd && has_simd_codec(dd) ? simd->encode[static_cast<int32_t>(dd)] : nullptr;
  const size_t src_elem_bytes = dtype_bits(sd) / 8, dst_elem_bytes = dtype_bits(dd) / 8;

  // The first block ends where the destination reaches a multiple of 8 elements.
  const size_t head = std::min(job.n, (8 - job.dst_offset % 8) % 8);
  const size_t blocks = (head ? 1 : 0) + (job.n - head + kBlock - 1) / kBlock;
  auto block_start = [&](size_t b) -> size_t {
    if (head == 0) return std::min(job.n, b * kBlock);
    return b == 0 ? 0 : std::min(job.n, head + (b - 1) * kBlock);
  };

  parallel_for(blocks, kGrainBlocks, [&](size_t b0, size_t b1) {
    alignas(64) float values[kBlock];
    alignas(64) int64_t integers[kBlock];
    for (size_t b = b0; b < b1; b++) {
      const size_t begin = block_start(b), count = block_start(b + 1) - begin;
      const size_t s = job.src_offset + begin, d = job.dst_offset + begin;
      switch (path) {
        case Path::copy:
          copy_elements(sd, job.src, s, job.dst, d, count);
          break;
        case Path::integer:
          decode_to_int(sd, job.src, s, count, integers);
          encode_from_int(dd, integers, count, job.dst, d, job.saturate);
          break;
        case Path::through_float: {
          const float* in = values;
          if (sd == DType::float32) {
            in = reinterpret_cast<const float*>(job.src + 4 * s);  // read float32 sources in place
          } else if (dd == DType::float32 && !job.saturate) {
            float* out = reinterpret_cast<float*>(job.dst + 4 * d);  // decode straight into the destination
            if (simd_decode) simd_decode(job.src + s * src_elem_bytes, out, count);
            else decode_to_float(sd, job.src, s, count, out);
            break;
          } else if (simd_decode) {
            simd_decode(job.src + s * src_elem_bytes, values, count);
          } else {
            decode_to_float(sd, job.src, s, count, values);
          }
          if (simd_encode) simd_encode(in, job.dst + d * dst_elem_bytes, count, job.saturate);
          else encode_from_float(dd, in, count, job.dst, d, job.saturate, simd);
          break;
        }
      }
    }
  });
}

constexpr int64_t kMaxElements = int64_t(1) << 53;

size_t arg_count(const Napi::CallbackInfo& info, size_t i, const char* what) {
  int64_t v = arg_int(info, i, what);
  if (v < 0 || v > kMaxElements) throw std::out_of_range(std::string(what) + " must be a non-negative element count, got " + std::to_string(v));
  return static_cast<size_t>(v);
}

Napi::Value Cast(const Napi::CallbackInfo& info) {
  if (info.Length() != 8)
    throw std::invalid_argument("cast expects (src, srcDtype, srcOffset, dst, dstDtype, dstOffset, n, saturate)");
  CastJob job;
  job.src_dtype = arg_dtype(info, 1, "cast: srcDtype");
  job.src_offset = arg_count(info, 2, "cast: srcOffset");
  job.dst_dtype = arg_dtype(info, 4, "cast: dstDtype");
  job.dst_offset = arg_count(info, 5, "cast: dstOffset");
  job.n = arg_count(info, 6, "cast: n");
  job.saturate = arg_bool(info, 7, "cast: saturate");
  job.src = storage_ptr(info[0], "cast: src");
  job.dst = storage_ptr(info[3], "cast: dst");
  check_fits(info[0], job.src_dtype, job.src_offset, job.n, "cast: src");
  check_fits(info[3], job.dst_dtype, job.dst_offset, job.n, "cast: dst");
  if (job.n == 0) return info.Env().Undefined();

  if (job.src == job.dst) {
    const size_t sb = dtype_bits(job.src_dtype), db = dtype_bits(job.dst_dtype);
    const size_t s0 = job.src_offset * sb, s1 = (job.src_offset + job.n) * sb;
    const size_t d0 = job.dst_offset * db, d1 = (job.dst_offset + job.n) * db;
    const bool in_place = sb == db && job.src_offset == job.dst_offset;
    if (s0 < d1 && d0 < s1 && !in_place)
      throw std::out_of_range("cast: src and dst overlap in the same storage (only disjoint ranges or the same elements in place are allowed)");
    if (in_place && job.src_dtype == job.dst_dtype && !job.saturate) return info.Env().Undefined();
  }
  run_cast(job);
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { VL_EXPORT("cast", Cast); }
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
