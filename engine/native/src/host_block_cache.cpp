// See host_block_cache.h.
#include "host_block_cache.h"
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include "registry.h"

namespace vl {
namespace {

constexpr size_t kMinCachedBytes = 64 * 1024;  // smaller blocks: glibc's bins keep them mapped already
constexpr size_t kPage = 4096;

struct Cache {
  std::mutex mutex;
  // cached blocks by capacity; each entry points at its place in the release order
  std::multimap<size_t, std::list<HostBlock>::iterator> by_size;
  std::list<HostBlock> by_age;  // oldest first
  HostCacheStats stats;

  Cache() {
    const char* e = std::getenv("VRAMLAB_HOST_CACHE_MB");
    const long mb = e ? std::atol(e) : 1024;
    stats.cap_bytes = static_cast<size_t>(mb > 0 ? mb : 0) << 20;
  }

  void drop_oldest() {  // mutex held
    HostBlock b = by_age.front();
    auto range = by_size.equal_range(b.capacity);
    for (auto it = range.first; it != range.second; ++it)
      if (it->second == by_age.begin()) { by_size.erase(it); break; }
    by_age.pop_front();
    stats.cached_bytes -= b.capacity;
    stats.cached_blocks--;
    std::free(b.ptr);
  }
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: finalizers may release blocks during exit
  return *c;
}

// Cached blocks are page multiples, so tensors of nearby sizes share them.
size_t block_capacity(size_t bytes) {
  return bytes < kMinCachedBytes ? ((bytes + 63) / 64) * 64 : ((bytes + kPage - 1) / kPage) * kPage;
}

}  // namespace

HostBlock host_block_acquire(size_t bytes) {
  const size_t capacity = block_capacity(bytes == 0 ? 1 : bytes);
  Cache& c = cache();
  if (capacity >= kMinCachedBytes) {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.by_size.lower_bound(capacity);
    if (it != c.by_size.end() && it->first <= capacity + capacity / 8) {
      HostBlock b = *it->second;
      c.by_age.erase(it->second);
      c.by_size.erase(it);
      c.stats.cached_bytes -= b.capacity;
      c.stats.cached_blocks--;
      c.stats.hits++;
      return b;
    }
    c.stats.misses++;
  }
  void* p = std::aligned_alloc(64, capacity);
  if (!p && host_cache_empty() > 0) p = std::aligned_alloc(64, capacity);
  if (!p) return {};
  return {static_cast<uint8_t*>(p), capacity};
}

void host_block_release(HostBlock block) {
  if (!block.ptr) return;
  Cache& c = cache();
  if (block.capacity >= kMinCachedBytes) {
    std::lock_guard<std::mutex> lock(c.mutex);
    if (block.capacity <= c.stats.cap_bytes) {
      while (c.stats.cached_bytes + block.capacity > c.stats.cap_bytes) {
        c.drop_oldest();
        c.stats.evictions++;
      }
      c.by_age.push_back(block);
      c.by_size.emplace(block.capacity, std::prev(c.by_age.end()));
      c.stats.cached_bytes += block.capacity;
      c.stats.cached_blocks++;
      return;
    }
  }
  std::free(block.ptr);
}

size_t host_cache_empty() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  const size_t freed = c.stats.cached_bytes;
  while (!c.by_age.empty()) c.drop_oldest();
  return freed;
}

HostCacheStats host_cache_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

// hostCacheStats() -> { cachedBytes, cachedBlocks, capBytes, hits, misses, evictions }
static Napi::Value HostCacheStatsJs(const Napi::CallbackInfo& info) {
  const HostCacheStats s = host_cache_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("cachedBytes", static_cast<double>(s.cached_bytes));
  o.Set("cachedBlocks", static_cast<double>(s.cached_blocks));
  o.Set("capBytes", static_cast<double>(s.cap_bytes));
  o.Set("hits", static_cast<double>(s.hits));
  o.Set("misses", static_cast<double>(s.misses));
  o.Set("evictions", static_cast<double>(s.evictions));
  return o;
}

// emptyHostCache() -> bytes returned to the system
static Napi::Value EmptyHostCacheJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(host_cache_empty()));
}

static void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("hostCacheStats", HostCacheStatsJs);
  VL_EXPORT("emptyHostCache", EmptyHostCacheJs);
}
VL_REGISTER(Register);

}  // namespace vl
