// Packed bit streams of sub-byte codes (int4, fp6, fp5, fp4): element i at
// bits [i*b, (i+1)*b), little-endian. Shared by the cast and quantization
// kernels; internal linkage (anonymous namespace) because *_avx*.cpp files
// include it too (see README: no out-of-line copies across ISA files).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vl {
namespace {

inline uint32_t read_packed_code(const uint8_t* base, size_t index, unsigned bits) {
  size_t pos = index * bits;
  size_t byte = pos >> 3;
  unsigned shift = pos & 7;
  uint32_t word = base[byte];
  if (shift + bits > 8) word |= static_cast<uint32_t>(base[byte + 1]) << 8;
  return (word >> shift) & ((1u << bits) - 1);
}
// Read-modify-write, so neighbouring elements in the same bytes survive.
inline void write_packed_code(uint8_t* base, size_t index, unsigned bits, uint32_t code) {
  size_t pos = index * bits;
  size_t byte = pos >> 3;
  unsigned shift = pos & 7;
  uint32_t mask = ((1u << bits) - 1) << shift;
  uint32_t value = (code << shift) & mask;
  base[byte] = static_cast<uint8_t>((base[byte] & ~mask) | value);
  if (shift + bits > 8) base[byte + 1] = static_cast<uint8_t>((base[byte + 1] & ~(mask >> 8)) | (value >> 8));
}
// Runs of 8 elements starting at a multiple of 8 fill exactly B bytes: those
// are read and written whole; the ragged ends go element by element.
template <unsigned B>
void unpack_codes_fixed(const uint8_t* base, size_t first, size_t count, uint8_t* codes) {
  constexpr uint32_t kMask = (1u << B) - 1;
  size_t i = 0;
  for (; i < count && (first + i) % 8 != 0; i++) codes[i] = static_cast<uint8_t>(read_packed_code(base, first + i, B));
  for (; count - i >= 8; i += 8) {
    const uint8_t* in = base + (first + i) / 8 * B;
    uint64_t group = 0;
    for (unsigned b = 0; b < B; b++) group |= static_cast<uint64_t>(in[b]) << (8 * b);
    for (unsigned k = 0; k < 8; k++) codes[i + k] = static_cast<uint8_t>((group >> (k * B)) & kMask);
  }
  for (; i < count; i++) codes[i] = static_cast<uint8_t>(read_packed_code(base, first + i, B));
}
// codes must already be masked to B bits.
template <unsigned B>
void pack_codes_fixed(uint8_t* base, size_t first, size_t count, const uint8_t* codes) {
  size_t i = 0;
  for (; i < count && (first + i) % 8 != 0; i++) write_packed_code(base, first + i, B, codes[i]);
  for (; count - i >= 8; i += 8) {
    uint64_t group = 0;
    for (unsigned k = 0; k < 8; k++) group |= static_cast<uint64_t>(codes[i + k]) << (k * B);
    uint8_t* out = base + (first + i) / 8 * B;
    for (unsigned b = 0; b < B; b++) out[b] = static_cast<uint8_t>(group >> (8 * b));
  }
  for (; i < count; i++) write_packed_code(base, first + i, B, codes[i]);
}
inline void unpack_codes(const uint8_t* base, size_t first, size_t count, unsigned bits, uint8_t* codes) {
  switch (bits) {
    case 4: unpack_codes_fixed<4>(base, first, count, codes); return;
    case 5: unpack_codes_fixed<5>(base, first, count, codes); return;
    case 6: unpack_codes_fixed<6>(base, first, count, codes); return;
    default: std::memcpy(codes, base + first, count); return;
  }
}
inline void pack_codes(uint8_t* base, size_t first, size_t count, unsigned bits, const uint8_t* codes) {
  switch (bits) {
    case 4: pack_codes_fixed<4>(base, first, count, codes); return;
    case 5: pack_codes_fixed<5>(base, first, count, codes); return;
    case 6: pack_codes_fixed<6>(base, first, count, codes); return;
    default: std::memcpy(base + first, codes, count); return;
  }
}

}  // namespace
}  // namespace vl
