// Each source file registers its exported functions with VL_REGISTER, so new
// kernels are added without editing a central list.
#pragma once
#include <napi.h>
#include <vector>

namespace vl {
using InitFn = void (*)(Napi::Env, Napi::Object);
std::vector<InitFn>& registry();
struct Registrar {
  explicit Registrar(InitFn fn) { registry().push_back(fn); }
};
}  // namespace vl

#define VL_CONCAT2(a, b) a##b
#define VL_CONCAT(a, b) VL_CONCAT2(a, b)
#define VL_REGISTER(fn) static ::vl::Registrar VL_CONCAT(vl_registrar_, __LINE__)(fn)

#include <stdexcept>
namespace vl {
// Runs body() and converts its C++ exceptions into JS errors (node-addon-api
// only converts Napi::Error; anything else would abort the process).
template <typename F>
Napi::Value js_errors(const Napi::CallbackInfo& info, F body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::out_of_range& e) {
    throw Napi::RangeError::New(info.Env(), e.what());
  } catch (const std::invalid_argument& e) {
    throw Napi::TypeError::New(info.Env(), e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}
// A kernel entry with js_errors around it (what VL_EXPORT registers).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return js_errors(info, [&] { return F(info); });
}
}  // namespace vl

// Inside an InitFn: VL_EXPORT("name", Function) with `env` and `exports` in scope.
#define VL_EXPORT(name, F) exports.Set(name, Napi::Function::New(env, ::vl::guarded<F>, name))
