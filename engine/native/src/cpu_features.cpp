#include "cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <napi.h>
#include "registry.h"

namespace vl {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures r{false, false, false};
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    r.f16c = __builtin_cpu_supports("f16c");
    r.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    r.avx512 = r.avx2_fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#endif
    if (const char* cap = std::getenv("VRAMLAB_CPU")) {
      if (std::strcmp(cap, "portable") == 0) r = CpuFeatures{false, false, false};
      else if (std::strcmp(cap, "avx2") == 0) r.avx512 = false;
    }
    return r;
  }();
  return f;
}

static Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  const CpuFeatures& f = cpu_features();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("avx2Fma", f.avx2_fma);
  o.Set("avx512", f.avx512);
  o.Set("f16c", f.f16c);
  o.Set("level", f.avx512 ? "avx512" : f.avx2_fma ? "avx2" : "portable");
  return o;
}

static void Register(Napi::Env env, Napi::Object exports) { VL_EXPORT("cpuInfo", CpuInfo); }
VL_REGISTER(Register);

}  // namespace vl
