// HostCachingAllocator: the CUDA caching allocator's bookkeeping
// (caching_allocator.h, the same class the cuda backend uses) driven by host
// malloc as the raw allocator and by events that the caller completes by hand
// (completeEvents(stream) stands for "the GPU has finished that stream's work
// so far"). Built into every addon so the pooling, splitting, merging,
// per-stream and record-stream rules are tested on machines without a GPU.
// What this does not cover: cudaMalloc/cudaEvent* themselves and real
// concurrent kernels touching the memory.
#include <cstdlib>
#include <cstring>
#include "caching_allocator.h"
#include "caching_allocator_js.h"
#include "napi_args.h"
#include "registry.h"

namespace vl {

Napi::Object caching_allocator_stats_object(Napi::Env env, const CachingAllocatorStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("allocated", static_cast<double>(s.allocated));
  o.Set("requested", static_cast<double>(s.requested));
  o.Set("reserved", static_cast<double>(s.reserved));
  o.Set("peakAllocated", static_cast<double>(s.peak_allocated));
  o.Set("peakReserved", static_cast<double>(s.peak_reserved));
  o.Set("activeBlocks", static_cast<double>(s.active_blocks));
  o.Set("segments", static_cast<double>(s.segments));
  o.Set("rawAllocs", static_cast<double>(s.raw_allocs));
  o.Set("rawFrees", static_cast<double>(s.raw_frees));
  o.Set("cacheHits", static_cast<double>(s.cache_hits));
  o.Set("pendingFrees", static_cast<double>(s.pending_frees));
  o.Set("oomRetries", static_cast<double>(s.oom_retries));
  return o;
}

namespace {

// ObjectWrap methods are not wrapped by VL_EXPORT: they convert C++ exceptions with js_errors (registry.h).

struct ManualEvent {
  StreamId stream;
  bool complete = false;
};

class HostCachingAllocator : public Napi::ObjectWrap<HostCachingAllocator> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "HostCachingAllocator", {
      InstanceMethod<&HostCachingAllocator::Malloc>("malloc"),
      InstanceMethod<&HostCachingAllocator::Free>("free"),
      InstanceMethod<&HostCachingAllocator::RecordStream>("recordStream"),
      InstanceMethod<&HostCachingAllocator::CompleteEvents>("completeEvents"),
      InstanceMethod<&HostCachingAllocator::EmptyCache>("emptyCache"),
      InstanceMethod<&HostCachingAllocator::ResetPeak>("resetPeak"),
      InstanceMethod<&HostCachingAllocator::Stats>("stats"),
      InstanceMethod<&HostCachingAllocator::BlockSize>("blockSize"),
      InstanceMethod<&HostCachingAllocator::WriteByte>("writeByte"),
      InstanceMethod<&HostCachingAllocator::ReadByte>("readByte"),
    });
    exports.Set("HostCachingAllocator", f);
  }

  // new HostCachingAllocator(rawLimitBytes?): raw allocations beyond the limit fail (out of memory)
  explicit HostCachingAllocator(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HostCachingAllocator>(info) {
    if (info.Length() > 0 && info[0].IsNumber()) raw_limit_ = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
    RawAllocatorOps ops;
    ops.allocate = [this](size_t n) -> void* {
      if (raw_in_use_ + n > raw_limit_) return nullptr;
      void* p = std::malloc(n);
      if (p) { raw_in_use_ += n; raw_sizes_[p] = n; }
      return p;
    };
    ops.release = [this](void* p) {
      raw_in_use_ -= raw_sizes_[p];
      raw_sizes_.erase(p);
      std::free(p);
    };
    ops.record_event = [this](StreamId s) {
      events_.push_back(ManualEvent{s});
      return static_cast<EventHandle>(events_.size() - 1);
    };
    ops.query_event = [this](EventHandle e) { return events_.at(e).complete; };
    ops.synchronize_event = [this](EventHandle e) { events_.at(e).complete = true; };  // the host waited for it
    ops.destroy_event = [](EventHandle) {};
    alloc_ = std::make_unique<CachingAllocator>(std::move(ops));
  }

 private:
  static double ptr_value(void* p) { return static_cast<double>(reinterpret_cast<uintptr_t>(p)); }
  static void* arg_ptr(const Napi::CallbackInfo& info, size_t i) {
    return reinterpret_cast<void*>(static_cast<uintptr_t>(arg_num(info, i, "pointer")));
  }
  void* live_ptr(const Napi::CallbackInfo& info, size_t i, size_t bytes) {
    void* p = arg_ptr(info, i);
    if (alloc_->block_size(p) < bytes) throw std::out_of_range("pointer is not a live block of at least " + std::to_string(bytes) + " bytes");
    return p;
  }

  Napi::Value Malloc(const Napi::CallbackInfo& info) {
    return js_errors(info, [&]() -> Napi::Value {
      int64_t n = arg_int(info, 0, "malloc: bytes");
      int64_t s = arg_int(info, 1, "malloc: stream");
      if (n < 0 || s < 0) throw std::out_of_range("malloc: bytes and stream must be >= 0");
      return Napi::Number::New(info.Env(), ptr_value(alloc_->malloc(static_cast<size_t>(n), static_cast<StreamId>(s))));
    });
  }
  Napi::Value Free(const Napi::CallbackInfo& info) {
    return js_errors(info, [&]() -> Napi::Value {
      alloc_->free(arg_ptr(info, 0));
      return info.Env().Undefined();
    });
  }
  Napi::Value RecordStream(const Napi::CallbackInfo& info) {
    return js_errors(info, [&]() -> Napi::Value {
      alloc_->record_stream(arg_ptr(info, 0), static_cast<StreamId>(arg_int(info, 1, "recordStream: stream")));
      return info.Env().Undefined();
    });
  }
  // completeEvents(stream): every event recorded on `stream` so far has completed; returns how many.
  Napi::Value CompleteEvents(const Napi::CallbackInfo& info) {
    return js_errors(info, [&]() -> Napi::Value {
      StreamId s = static_cast<StreamId>(arg_int(info, 0, "completeEvents: stream"));
      int n = 0;
      for (auto& e : events_)
        if (e.stream == s && !e.complete) { e.complete = true; n++; }
      return Napi::Number::New(info.Env(), n);
    });
  }
  Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
    return js_errors(info, [&]() -> Napi::Value {
      alloc_->empty_cache();
      return info.Env().Undefined();
    });
  }
  Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
    alloc_->reset_peak();
    return info.Env().Undefined();
  }
  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Object o = caching_allocator_stats_object(info.Env(), alloc_->stats());
    o.Set("rawBytesInUse", static_cast<double>(raw_in_use_));
    o.Set("eventsRecorded", static_cast<double>(events_.size()));
    return o;
  }
  Napi::Value BlockSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(alloc_->block_size(arg_ptr(info, 0))));
  }
  // writeByte(ptr, offset, value) / readByte(ptr, offset): touch the memory, so tests see real, distinct bytes
  Napi::Value WriteByte(const Napi::CallbackInfo& info) {
    return js_errors(info, [&]() -> Napi::Value {
      size_t off = static_cast<size_t>(arg_int(info, 1, "writeByte: offset"));
      uint8_t* p = static_cast<uint8_t*>(live_ptr(info, 0, off + 1));
      p[off] = static_cast<uint8_t>(arg_int(info, 2, "writeByte: value"));
      return info.Env().Undefined();
    });
  }
  Napi::Value ReadByte(const Napi::CallbackInfo& info) {
    return js_errors(info, [&]() -> Napi::Value {
      size_t off = static_cast<size_t>(arg_int(info, 1, "readByte: offset"));
      uint8_t* p = static_cast<uint8_t*>(live_ptr(info, 0, off + 1));
      return Napi::Number::New(info.Env(), p[off]);
    });
  }

  size_t raw_limit_ = SIZE_MAX;
  size_t raw_in_use_ = 0;
  std::unordered_map<void*, size_t> raw_sizes_;
  std::vector<ManualEvent> events_;
  std::unique_ptr<CachingAllocator> alloc_;  // declared last: destroyed first, while the ops' state lives
};

void Register(Napi::Env env, Napi::Object exports) { HostCachingAllocator::Init(env, exports); }
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
