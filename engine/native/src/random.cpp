// Seeded random fills with Philox4x32-10 (the counter-based generator
// PyTorch's CUDA backend uses): element i depends only on (seed, i), so the
// values are the same for any thread count and any split of the work.
#include <cmath>
#include <cstdint>
#include "napi_args.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {
namespace {

struct U4 { uint32_t v[4]; };

inline U4 philox(uint64_t counter, uint64_t key64) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key64), k1 = static_cast<uint32_t>(key64 >> 32);
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = static_cast<uint32_t>(p1);
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = static_cast<uint32_t>(p0);
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return U4{{c0, c1, c2, c3}};
}

// [0, 1) with 24 random bits (exact in float32)
inline double unit(uint32_t x) { return static_cast<double>(x >> 8) * (1.0 / 16777216.0); }

// randomFill(dst, n, seed, kind, a, b): float32 values; kind 0 = normal(mean a, std b),
// kind 1 = uniform [a, b). Four values per Philox counter (Box-Muller on two pairs for normal).
Napi::Value RandomFill(const Napi::CallbackInfo& info) {
  float* dst = reinterpret_cast<float*>(storage_ptr(info[0], "randomFill: dst"));
  size_t n = static_cast<size_t>(arg_int(info, 1, "randomFill: n"));
  check_fits(info[0], DType::float32, 0, n, "randomFill: dst");
  double seed = arg_num(info, 2, "randomFill: seed");
  if (!(seed >= 0) || seed > 9007199254740991.0 || seed != std::floor(seed)) throw std::invalid_argument("randomFill: seed must be a non-negative integer");
  uint64_t key = static_cast<uint64_t>(seed);
  int64_t kind = arg_int(info, 3, "randomFill: kind");
  double a = arg_num(info, 4, "randomFill: a");
  double b = arg_num(info, 5, "randomFill: b");
  if (kind != 0 && kind != 1) throw std::invalid_argument("randomFill: kind must be 0 (normal) or 1 (uniform)");
  size_t groups = (n + 3) / 4;
  parallel_for(groups, 4096, [&](size_t g0, size_t g1) {
    for (size_t g = g0; g < g1; g++) {
      U4 r = philox(g, key);
      double out[4];
      if (kind == 0) {
        for (int p = 0; p < 2; p++) {
          double u1 = 1.0 - unit(r.v[2 * p]);  // (0, 1]: log is finite
          double u2 = unit(r.v[2 * p + 1]);
          double rad = std::sqrt(-2.0 * std::log(u1));
          out[2 * p] = a + b * rad * std::cos(2.0 * M_PI * u2);
          out[2 * p + 1] = a + b * rad * std::sin(2.0 * M_PI * u2);
        }
      } else {
        for (int k = 0; k < 4; k++) out[k] = a + (b - a) * unit(r.v[k]);
      }
      size_t base = g * 4;
      for (int k = 0; k < 4 && base + k < n; k++) dst[base + k] = static_cast<float>(out[k]);
    }
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { VL_EXPORT("randomFill", RandomFill); }
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
