// A cache of freed host blocks for Storage, so the activations a forward
// allocates and frees are served from memory that is already mapped: glibc
// returns large freed blocks to the kernel (munmap / heap trim), and every
// fresh block then costs a page fault per 4 KiB on first touch, inside the
// kernels (measured: a 256x768 GEMM output, 786 KB, took 25% longer when
// freshly allocated). Like PyTorch's caching allocator on the GPU, but only
// for whole blocks: no splitting.
//
// Blocks of at least kMinCachedBytes are cached on release, up to a cap
// (VRAMLAB_HOST_CACHE_MB, default 1024; 0 turns caching off); older cached
// blocks are returned to the system first when the cap would be exceeded. A
// request takes the smallest cached block that is at least as large and at
// most 1/8 larger. emptyHostCache() returns every cached block.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vl {

struct HostBlock {
  uint8_t* ptr = nullptr;
  size_t capacity = 0;  // bytes of the block (>= the request)
};

struct HostCacheStats {
  size_t cached_bytes = 0, cached_blocks = 0, cap_bytes = 0;
  uint64_t hits = 0, misses = 0, evictions = 0;
};

// 64-byte aligned block of at least `bytes`; {nullptr, 0} when out of memory (after emptying the cache and retrying).
HostBlock host_block_acquire(size_t bytes);
// Gives a block from host_block_acquire back (cached or freed).
void host_block_release(HostBlock block);
// Frees every cached block; returns the bytes returned to the system.
size_t host_cache_empty();
HostCacheStats host_cache_stats();

}  // namespace vl
