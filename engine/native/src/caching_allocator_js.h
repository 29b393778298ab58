// The caching allocator's counters as a JS object: the cuda backend's
// cudaMemoryStats and the cpu test harness (HostCachingAllocator) report the same fields.
#pragma once
#include <napi.h>
#include "caching_allocator.h"

namespace vl {
Napi::Object caching_allocator_stats_object(Napi::Env env, const CachingAllocatorStats& s);
}  // namespace vl
