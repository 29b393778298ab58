// Argument helpers for exported functions: storage pointers, integers,
// dtypes, shapes. Errors become JS exceptions naming the argument.
#pragma once
#include <napi.h>
#include <cstdint>
#include <string>
#include <vector>
#include "dtype.h"

namespace vl {
// Pointer to the bytes of a Storage object (throws if disposed or not a Storage).
uint8_t* storage_ptr(const Napi::Value& v, const char* what);
size_t storage_nbytes(const Napi::Value& v, const char* what);
inline bool is_nullish(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }
int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* what);
double arg_num(const Napi::CallbackInfo& info, size_t i, const char* what);
bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* what);
DType arg_dtype(const Napi::CallbackInfo& info, size_t i, const char* what);
std::vector<int64_t> arg_int_array(const Napi::CallbackInfo& info, size_t i, const char* what);
size_t dtype_bits(DType d);
// Bytes that n elements of d occupy (packed types round up to whole bytes).
size_t dtype_bytes(DType d, size_t n);
// Throws a RangeError unless the storage holds at least `elements` of d after `offsetElems`.
void check_fits(const Napi::Value& storage, DType d, size_t offset_elems, size_t elements, const char* what);
}  // namespace vl
