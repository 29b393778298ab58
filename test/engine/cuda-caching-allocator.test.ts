// The CUDA caching allocator's bookkeeping (engine/native/src/caching_allocator.h),
// run on the CPU: the same class the cuda:N device uses, with host malloc as
// the raw allocator and events that these tests complete by hand
// (completeEvents(stream) = "the GPU has finished that stream's work so far").
// Covered: size rounding, segment sizes, best-fit reuse, splitting and merging,
// per-stream pools, record-stream deferral, counters, empty_cache and the
// out-of-memory flush-and-retry. Not covered: cudaMalloc/cudaEvent* themselves
// and kernels really touching the memory concurrently (the GPU session runs
// test/engine/cuda-device.test.ts for that).
import { test } from "node:test";
import assert from "node:assert/strict";
import { native } from "../../engine/native-binding.js";
import "../../engine/kernels/cuda.js";

const MiB = 1 << 20;
const S1 = 1, S2 = 2;

test("requests round up to 512 bytes and small ones share a 2 MiB segment", () => {
  const a = new native.HostCachingAllocator();
  const p = a.malloc(1, S1);
  assert.equal(a.blockSize(p), 512);
  const q = a.malloc(1000, S1);
  assert.equal(a.blockSize(q), 1024);
  assert.equal(q, p + 512, "the second block is split from the same segment, right after the first");
  const s = a.stats();
  assert.equal(s.reserved, 2 * MiB);
  assert.equal(s.segments, 1);
  assert.equal(s.allocated, 512 + 1024);
  assert.equal(s.requested, 1 + 1000);
  assert.equal(s.rawAllocs, 1);
});

test("a freed block is reused by the next request of its stream without a raw allocation", () => {
  const a = new native.HostCachingAllocator();
  const p = a.malloc(4096, S1);
  a.writeByte(p, 0, 7);
  a.free(p);
  const q = a.malloc(4000, S1);
  assert.equal(q, p);
  const s = a.stats();
  assert.equal(s.rawAllocs, 1);
  assert.equal(s.cacheHits, 1);
  assert.equal(s.allocated, 4096);
});

test("pools are per stream: a block freed on one stream is not handed to another", () => {
  const a = new native.HostCachingAllocator();
  const p = a.malloc(4096, S1);
  a.free(p);
  const q = a.malloc(4096, S2);
  assert.notEqual(q, p);
  assert.equal(a.stats().rawAllocs, 2, "stream 2 needed its own segment");
  assert.equal(a.malloc(4096, S1), p, "stream 1 still gets its block back");
});

test("freed neighbours merge, so a larger request fits where smaller blocks were", () => {
  const a = new native.HostCachingAllocator();
  const p1 = a.malloc(1024, S1), p2 = a.malloc(1024, S1), p3 = a.malloc(1024, S1);
  assert.deepEqual([p2 - p1, p3 - p2], [1024, 1024]);
  a.free(p2);
  a.free(p1);
  const big = a.malloc(2048, S1);
  assert.equal(big, p1, "p1 and p2 merged into one 2048-byte block");
  assert.equal(a.blockSize(big), 2048);
  a.free(big);
  a.free(p3);
  const half = a.malloc(MiB, S1);
  assert.equal(half, p1, "all blocks merged back into one block at the segment start");
  assert.equal(a.stats().segments, 1);
});

test("large requests: below 10 MiB from 20 MiB segments, above in their own 2 MiB-rounded segment", () => {
  const a = new native.HostCachingAllocator();
  a.malloc(5 * MiB, S1);
  assert.equal(a.stats().reserved, 20 * MiB);
  const p = a.malloc(5 * MiB, S1);
  assert.equal(a.stats().reserved, 20 * MiB, "the second 5 MiB block is split from the first segment");
  const big = a.malloc(11 * MiB + 1, S1);
  assert.equal(a.blockSize(big), 12 * MiB, "the remainder (1 MiB - 512) is too small to split off a large block");
  assert.equal(a.stats().reserved, 20 * MiB + 12 * MiB);
  a.free(p);
  const small = a.malloc(1000, S1);
  assert.equal(a.stats().reserved, 20 * MiB + 12 * MiB + 2 * MiB, "small requests never come from the large pool");
  assert.notEqual(small, p);
});

test("record-stream: a block used on another stream is reused only after that stream's event completes", () => {
  const a = new native.HostCachingAllocator();
  const p = a.malloc(8192, S1);
  a.recordStream(p, S2);
  a.recordStream(p, S1); // its own stream needs no event
  a.free(p);
  let s = a.stats();
  assert.equal(s.pendingFrees, 1);
  assert.equal(s.eventsRecorded, 1, "one event, on stream 2");
  assert.equal(s.allocated, 0, "a pending block no longer counts as allocated");
  const q = a.malloc(8192, S1);
  assert.notEqual(q, p, "stream 2 may still be reading p");
  assert.equal(a.completeEvents(S1), 0);
  const r = a.malloc(8192, S1);
  assert.notEqual(r, p, "completing stream 1 does not release a block waiting for stream 2");
  assert.equal(a.completeEvents(S2), 1);
  const t = a.malloc(8192, S1);
  assert.equal(t, p, "after stream 2's event completed, p is reused");
  s = a.stats();
  assert.equal(s.pendingFrees, 0);
});

test("allocated / reserved / peak counters, and resetPeak", () => {
  const a = new native.HostCachingAllocator();
  const p = a.malloc(3 * MiB, S1);
  const q = a.malloc(2 * MiB, S1);
  a.free(p);
  let s = a.stats();
  assert.equal(s.allocated, 2 * MiB);
  assert.equal(s.peakAllocated, 5 * MiB);
  assert.equal(s.peakReserved, 20 * MiB);
  a.resetPeak();
  s = a.stats();
  assert.equal(s.peakAllocated, 2 * MiB);
  a.free(q);
  assert.equal(a.stats().activeBlocks, 0);
});

test("emptyCache returns whole free segments, waiting for pending frees first", () => {
  const a = new native.HostCachingAllocator();
  const keep = a.malloc(1000, S1); // pins its small segment
  const r = a.malloc(12 * MiB, S1); // its own segment
  const p = a.malloc(5 * MiB, S1); // from a 20 MiB segment
  a.recordStream(r, S2);
  a.free(p);
  a.free(r);
  assert.equal(a.stats().pendingFrees, 1);
  a.emptyCache();
  const s = a.stats();
  assert.equal(s.pendingFrees, 0, "the pending block was waited for");
  assert.equal(s.reserved, 2 * MiB, "only the segment holding a live block remains");
  assert.equal(s.rawFrees, 2);
  assert.equal(s.rawBytesInUse, 2 * MiB);
  assert.equal(a.readByte(keep, 0) >= 0, true);
});

test("out of memory: cached segments are flushed and the allocation retried, then a clear error", () => {
  const a = new native.HostCachingAllocator(21 * MiB);
  const p = a.malloc(1000, S1);
  a.free(p); // 2 MiB cached
  const big = a.malloc(5 * MiB, S1); // needs a 20 MiB segment: only fits after the flush
  let s = a.stats();
  assert.equal(s.oomRetries, 1);
  assert.equal(s.reserved, 20 * MiB);
  assert.throws(() => a.malloc(5 * MiB + 20 * MiB, S1), /out of memory: could not reserve 27262976 bytes for a 26214400-byte allocation \(5242880 bytes allocated, 20971520 reserved\)/);
  s = a.stats();
  assert.equal(s.allocated, 5 * MiB, "a failed allocation changes nothing");
  a.free(big);
});

test("blocks are real, distinct memory; bad pointers are rejected", () => {
  const a = new native.HostCachingAllocator();
  const ps = [a.malloc(600, S1), a.malloc(600, S1), a.malloc(600, S2)];
  ps.forEach((p, i) => a.writeByte(p, 599, 10 + i));
  assert.deepEqual(ps.map((p) => a.readByte(p, 599)), [10, 11, 12]);
  assert.throws(() => a.free(ps[0]! + 8), /not allocated by this allocator or is already freed/);
  a.free(ps[0]!);
  assert.throws(() => a.free(ps[0]!), /already freed/);
  assert.throws(() => a.recordStream(ps[0]!, S2), /already freed/);
});
