// clamp(out, outDtype, x, xDtype, n, lo, hi): torch.clamp on float activations.
// NaN stays NaN (as torch.clamp); bounds are float32 values.
#include <algorithm>
#include <cmath>
#include "napi_args.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {
namespace {

template <DType DI, DType DO>
void clamp_loop(const void* x, void* out, size_t n, float lo, float hi) {
  using TI = typename Elem<DI>::T;
  using TO = typename Elem<DO>::T;
  const TI* xi = static_cast<const TI*>(x);
  TO* o = static_cast<TO*>(out);
  parallel_for(n, 1 << 16, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) {
      float v = Elem<DI>::load(xi, i);
      if (!std::isnan(v)) v = std::min(std::max(v, lo), hi);
      Elem<DO>::store(o, i, v);
    }
  });
}

Napi::Value Clamp(const Napi::CallbackInfo& info) {
  DType od = arg_dtype(info, 1, "clamp: outDtype");
  DType xd = arg_dtype(info, 3, "clamp: xDtype");
  size_t n = static_cast<size_t>(arg_int(info, 4, "clamp: n"));
  float lo = static_cast<float>(arg_num(info, 5, "clamp: lo"));
  float hi = static_cast<float>(arg_num(info, 6, "clamp: hi"));
  if (!(lo <= hi)) throw std::invalid_argument("clamp: lo must not exceed hi");
  check_fits(info[0], od, 0, n, "clamp: out");
  check_fits(info[2], xd, 0, n, "clamp: x");
  void* out = storage_ptr(info[0], "clamp: out");
  const void* x = storage_ptr(info[2], "clamp: x");
  VL_DISPATCH_FLOAT(xd, DI, VL_DISPATCH_FLOAT(od, DO, clamp_loop<DI, DO>(x, out, n, lo, hi)));
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { VL_EXPORT("clamp", Clamp); }
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
