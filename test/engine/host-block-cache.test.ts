// The host block cache (engine/native/src/host_block_cache.cpp): freed blocks
// of 64 KiB and more are kept mapped and handed to the next allocation of
// about the same size, so activations stop faulting fresh pages in; the cap
// bounds what it holds, vl.emptyCache() returns it, and zeroed storages are
// zero even when their block is reused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { native } from "../../engine/native-binding.js";
import * as vl from "../../engine/index.js";

const KiB = 1024, MiB = 2 ** 20;

test("a freed block serves the next allocation of the same or a slightly smaller size", () => {
  vl.emptyCache("cpu");
  const before = vl.hostCache();
  const a = new native.Storage(3 * MiB + 100);
  a.free();
  const cached = vl.hostCache();
  assert.equal(cached.cachedBlocks, before.cachedBlocks + 1);
  assert.equal(cached.cachedBytes, 3 * MiB + 4096, "the block is cached at its page-rounded size");
  const b = new native.Storage(3 * MiB - 8 * KiB);  // within 1/8 of the cached block: reused
  const after = vl.hostCache();
  assert.equal(after.hits, cached.hits + 1);
  assert.equal(after.cachedBytes, 0);
  assert.equal(native.hostStorageStats().liveBytes >= 3 * MiB + 4096, true, "a reused block counts at its real size");
  b.free();
  const c = new native.Storage(MiB);  // a 3 MiB block would waste more than 1/8: a fresh one
  assert.equal(vl.hostCache().misses, after.misses + 1);
  c.free();
  assert.equal(vl.emptyCache("cpu"), 3 * MiB + 4096 + MiB);
  assert.equal(vl.hostCache().cachedBytes, 0);
});

test("small blocks are left to malloc, and a zeroed storage is zero on a reused block", () => {
  vl.emptyCache("cpu");
  const before = vl.hostCache();
  new native.Storage(16 * KiB).free();
  assert.equal(vl.hostCache().cachedBlocks, before.cachedBlocks, "blocks under 64 KiB are not cached");
  const dirty = new native.Storage(256 * KiB);
  native.write(dirty, 0, new Uint8Array(256 * KiB).fill(0xab));
  dirty.free();
  const zeroed = new native.Storage(256 * KiB, true);
  assert.equal(vl.hostCache().hits, before.hits + 1, "the dirty block was reused");
  assert.ok(new Uint8Array(native.read(zeroed, 0, 256 * KiB)).every((x) => x === 0));
  zeroed.free();
  vl.emptyCache("cpu");
});

test("tensors freed in a forward-like loop reuse their blocks (no fresh pages after the first round)", () => {
  vl.emptyCache("cpu");
  const shapes = [[256, 768], [256, 3072], [64, 768], [320, 768]];
  const round = () => {
    for (const s of shapes) vl.ops.zeros(s).dispose();
  };
  round();
  const first = vl.hostCache();
  for (let i = 0; i < 5; i++) round();
  const later = vl.hostCache();
  assert.equal(later.misses, first.misses, "every later allocation came from the cache");
  assert.equal(later.hits - first.hits, 5 * shapes.length);
  vl.emptyCache("cpu");
});

test("the cap bounds the cache (oldest blocks go first) and VRAMLAB_HOST_CACHE_MB=0 turns it off", () => {
  const script = `
    const { native } = await import(${JSON.stringify(new URL("../../engine/native-binding.js", import.meta.url).href)});
    const blocks = [1, 2, 3].map(() => new native.Storage(${MiB}));
    for (const b of blocks) b.free();
    console.log(JSON.stringify(native.hostCacheStats()));`;
  const run = (mb: string) => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: { ...process.env, VRAMLAB_HOST_CACHE_MB: mb }, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").pop()!) as ReturnType<typeof vl.hostCache>;
  };
  const capped = run("2");
  assert.equal(capped.capBytes, 2 * MiB);
  assert.equal(capped.cachedBlocks, 2);
  assert.equal(capped.evictions, 1, "the oldest block made room for the newest");
  const off = run("0");
  assert.equal(off.capBytes, 0);
  assert.equal(off.cachedBlocks, 0);
  assert.equal(off.cachedBytes, 0);
});

test("emptyCache on devices without a host cache does nothing and says so", () => {
  assert.equal(vl.emptyCache("meta"), 0);
  assert.equal(vl.emptyCache("sim:h100-sxm"), 0);
  assert.throws(() => vl.emptyCache("nope:0" as never), /device/i);
});
