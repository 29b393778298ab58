// Module entry: runs every VL_REGISTER'ed initializer.
#include <napi.h>
#include "registry.h"

namespace vl {
std::vector<InitFn>& registry() {
  static std::vector<InitFn> fns;
  return fns;
}
}  // namespace vl

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (auto fn : vl::registry()) fn(env, exports);
  return exports;
}

NODE_API_MODULE(vramlab_native, Init)
