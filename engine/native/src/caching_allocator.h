// The CUDA caching allocator's bookkeeping as a plain C++ class, independent
// of CUDA: it is parameterised over the raw allocate/free and event functions
// (RawAllocatorOps), so the cuda backend plugs in cudaMalloc/cudaFree/
// cudaEventRecord/cudaEventQuery and the cpu build tests the same code with
// host malloc and events the test completes by hand (caching_allocator.cpp).
//
// Policy (after PyTorch's CUDACachingAllocator):
// - request sizes round up to multiples of 512 bytes;
// - small requests (<= 1 MiB) come from 2 MiB segments, requests below
//   10 MiB from 20 MiB segments, larger ones from a segment of their own
//   (rounded to 2 MiB);
// - a free block can be split when the remainder is worth keeping (>= 512
//   bytes in the small pool, > 1 MiB in the large pool); freed neighbours in
//   the same segment merge again;
// - every stream has its own pools: a block freed on stream S is reused only
//   by allocations on S;
// - record_stream(ptr, T): the block was used on T as well. Its free then
//   records an event on every such stream and the block returns to a pool
//   only once all those events have completed (checked at the next malloc,
//   or waited for by empty_cache / synchronize_and_free_events);
// - a failed raw allocation frees the cached segments and retries once.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vl {

using StreamId = uint64_t;
using EventHandle = uint64_t;

struct RawAllocatorOps {
  // nullptr when the device is out of memory
  std::function<void*(size_t bytes)> allocate;
  std::function<void(void* ptr)> release;
  // records an event at the current end of `stream`
  std::function<EventHandle(StreamId stream)> record_event;
  // true once the work before the event has finished
  std::function<bool(EventHandle)> query_event;
  // blocks the host until the event has completed
  std::function<void(EventHandle)> synchronize_event;
  std::function<void(EventHandle)> destroy_event;
};

struct CachingAllocatorStats {
  uint64_t allocated = 0;        // bytes of blocks handed out (rounded sizes)
  uint64_t requested = 0;        // bytes the callers asked for
  uint64_t reserved = 0;         // bytes of segments held from the raw allocator
  uint64_t peak_allocated = 0;
  uint64_t peak_reserved = 0;
  uint64_t active_blocks = 0;
  uint64_t segments = 0;
  uint64_t raw_allocs = 0;       // raw allocator calls that succeeded
  uint64_t raw_frees = 0;
  uint64_t cache_hits = 0;       // mallocs served without a raw allocation
  uint64_t pending_frees = 0;    // freed blocks still waiting for events
  uint64_t oom_retries = 0;      // raw allocation failures followed by a cache flush
};

class CachingAllocator {
 public:
  static constexpr size_t kMinBlock = 512;
  static constexpr size_t kSmallSize = 1 << 20;        // <= 1 MiB: small pool
  static constexpr size_t kSmallBuffer = 2 << 20;      // small segments are 2 MiB
  static constexpr size_t kLargeBuffer = 20 << 20;     // segments for requests < 10 MiB
  static constexpr size_t kMinLargeAlloc = 10 << 20;
  static constexpr size_t kRoundLarge = 2 << 20;

  explicit CachingAllocator(RawAllocatorOps ops) : ops_(std::move(ops)) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;
  ~CachingAllocator() {
    // Process teardown: hand everything back without waiting for events.
    for (auto& p : pending_)
      for (EventHandle e : p.events) ops_.destroy_event(e);
    for (auto& s : segments_) ops_.release(s.first);
  }

  static size_t round_size(size_t bytes) {
    if (bytes < kMinBlock) return kMinBlock;
    return kMinBlock * ((bytes + kMinBlock - 1) / kMinBlock);
  }
  static size_t segment_size(size_t rounded) {
    if (rounded <= kSmallSize) return kSmallBuffer;
    if (rounded < kMinLargeAlloc) return kLargeBuffer;
    return kRoundLarge * ((rounded + kRoundLarge - 1) / kRoundLarge);
  }

  // A block of at least `bytes` for use on `stream`. Throws std::runtime_error
  // (message starts with "out of memory") when the raw allocator has no room.
  void* malloc(size_t bytes, StreamId stream) {
    process_events();
    const size_t size = round_size(bytes);
    const bool small = size <= kSmallSize;
    Block* block = take_free_block(stream, small, size);
    if (block) {
      stats_.cache_hits++;
    } else {
      const size_t seg = segment_size(size);
      void* ptr = ops_.allocate(seg);
      if (!ptr) {
        stats_.oom_retries++;
        synchronize_and_free_events();
        release_cached_segments();
        ptr = ops_.allocate(seg);
      }
      if (!ptr) {
        throw std::runtime_error("out of memory: could not reserve " + std::to_string(seg) + " bytes for a " +
                                 std::to_string(bytes) + "-byte allocation (" + std::to_string(stats_.allocated) +
                                 " bytes allocated, " + std::to_string(stats_.reserved) + " reserved)");
      }
      stats_.raw_allocs++;
      stats_.segments++;
      stats_.reserved += seg;
      stats_.peak_reserved = std::max(stats_.peak_reserved, stats_.reserved);
      auto b = std::make_unique<Block>();
      b->ptr = static_cast<char*>(ptr);
      b->size = seg;
      b->stream = stream;
      b->small = small;
      b->segment_start = true;
      block = b.get();
      segments_[ptr] = seg;
      blocks_[static_cast<char*>(ptr)] = std::move(b);
    }
    // Split off the tail when it is worth keeping.
    const size_t remaining = block->size - size;
    if ((small && remaining >= kMinBlock) || (!small && remaining > kSmallSize)) {
      auto rest = std::make_unique<Block>();
      rest->ptr = block->ptr + size;
      rest->size = remaining;
      rest->stream = block->stream;
      rest->small = block->small;
      rest->prev = block;
      rest->next = block->next;
      if (block->next) block->next->prev = rest.get();
      block->next = rest.get();
      block->size = size;
      Block* r = rest.get();
      blocks_[r->ptr] = std::move(rest);
      insert_free(r);
    }
    block->allocated = true;
    block->requested = bytes;
    block->stream_uses.clear();
    stats_.allocated += block->size;
    stats_.requested += bytes;
    stats_.active_blocks++;
    stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
    return block->ptr;
  }

  // Returns a block. If record_stream named other streams, the block waits for
  // events on them before it can be reused.
  void free(void* ptr) {
    Block* b = find_allocated(ptr, "free");
    b->allocated = false;
    stats_.allocated -= b->size;
    stats_.requested -= b->requested;
    stats_.active_blocks--;
    if (b->stream_uses.empty()) {
      insert_free_merged(b);
      return;
    }
    Pending p{b, {}};
    for (StreamId s : b->stream_uses) p.events.push_back(ops_.record_event(s));
    b->stream_uses.clear();
    pending_.push_back(std::move(p));
    stats_.pending_frees++;
  }

  // Marks the block as used on `stream` (torch's Tensor.record_stream).
  void record_stream(void* ptr, StreamId stream) {
    Block* b = find_allocated(ptr, "record_stream");
    if (stream != b->stream) b->stream_uses.insert(stream);
  }

  // Moves freed blocks whose events have completed into their pools.
  void process_events() {
    for (auto it = pending_.begin(); it != pending_.end();) {
      bool done = true;
      for (EventHandle e : it->events)
        if (!ops_.query_event(e)) { done = false; break; }
      if (!done) { ++it; continue; }
      for (EventHandle e : it->events) ops_.destroy_event(e);
      Block* b = it->block;
      it = pending_.erase(it);
      stats_.pending_frees--;
      insert_free_merged(b);
    }
  }

  // Waits for every pending free's events, then pools the blocks.
  void synchronize_and_free_events() {
    for (auto& p : pending_)
      for (EventHandle e : p.events) ops_.synchronize_event(e);
    process_events();
  }

  // Gives whole unused segments back to the raw allocator (torch.cuda.empty_cache).
  void empty_cache() {
    synchronize_and_free_events();
    release_cached_segments();
  }

  // Size of the block behind a live pointer (rounded), or 0 if ptr is not live.
  size_t block_size(void* ptr) const {
    auto it = blocks_.find(static_cast<char*>(ptr));
    return it != blocks_.end() && it->second->allocated ? it->second->size : 0;
  }
  const CachingAllocatorStats& stats() const { return stats_; }
  void reset_peak() {
    stats_.peak_allocated = stats_.allocated;
    stats_.peak_reserved = stats_.reserved;
  }

 private:
  struct Block {
    char* ptr = nullptr;
    size_t size = 0;
    size_t requested = 0;
    StreamId stream = 0;
    bool small = false;
    bool allocated = false;
    bool segment_start = false;
    Block* prev = nullptr;  // neighbours inside the same segment
    Block* next = nullptr;
    std::set<StreamId> stream_uses;
  };
  struct Pending {
    Block* block;
    std::vector<EventHandle> events;
  };
  // Free blocks ordered by (stream, small/large, size, address): best fit per stream and pool.
  using FreeKey = std::tuple<StreamId, bool, size_t, uintptr_t>;

  static FreeKey key(const Block* b) { return FreeKey{b->stream, b->small, b->size, reinterpret_cast<uintptr_t>(b->ptr)}; }

  Block* find_allocated(void* ptr, const char* what) {
    auto it = blocks_.find(static_cast<char*>(ptr));
    if (it == blocks_.end() || !it->second->allocated)
      throw std::invalid_argument(std::string(what) + ": pointer was not allocated by this allocator or is already freed");
    return it->second.get();
  }

  Block* take_free_block(StreamId stream, bool small, size_t size) {
    auto it = free_.lower_bound(FreeKey{stream, small, size, 0});
    if (it == free_.end()) return nullptr;
    const FreeKey& k = it->first;
    if (std::get<0>(k) != stream || std::get<1>(k) != small) return nullptr;
    Block* b = it->second;
    free_.erase(it);
    return b;
  }

  void insert_free(Block* b) { free_.emplace(key(b), b); }
  void erase_free(Block* b) { free_.erase(key(b)); }

  // Pools b, merged with free neighbours of its segment.
  void insert_free_merged(Block* b) {
    if (b->prev && !b->prev->allocated && !is_pending(b->prev)) {
      Block* p = b->prev;
      erase_free(p);
      p->size += b->size;
      p->next = b->next;
      if (b->next) b->next->prev = p;
      blocks_.erase(b->ptr);
      b = p;
    }
    if (b->next && !b->next->allocated && !is_pending(b->next)) {
      Block* n = b->next;
      erase_free(n);
      b->size += n->size;
      b->next = n->next;
      if (n->next) n->next->prev = b;
      blocks_.erase(n->ptr);
    }
    insert_free(b);
  }

  bool is_pending(const Block* b) const {
    for (const auto& p : pending_)
      if (p.block == b) return true;
    return false;
  }

  void release_cached_segments() {
    for (auto it = free_.begin(); it != free_.end();) {
      Block* b = it->second;
      if (b->segment_start && !b->next) {  // the whole segment is one free block
        it = free_.erase(it);
        void* ptr = b->ptr;
        stats_.reserved -= b->size;
        stats_.segments--;
        stats_.raw_frees++;
        segments_.erase(ptr);
        blocks_.erase(b->ptr);
        ops_.release(ptr);
      } else {
        ++it;
      }
    }
  }

  RawAllocatorOps ops_;
  CachingAllocatorStats stats_;
  std::unordered_map<char*, std::unique_ptr<Block>> blocks_;  // every block by its address
  std::map<void*, size_t> segments_;
  std::map<FreeKey, Block*> free_;
  std::vector<Pending> pending_;
};

}  // namespace vl
