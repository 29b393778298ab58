// Host storages and V8's external-memory accounting: activations that are
// allocated and freed explicitly are never reported to V8 (reporting them made
// it run extra full GCs), while storages dropped without free() are still
// reported after an epoch of allocation churn, so V8's external-memory
// pressure collects them and the finalizer frees their bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { native, type NativeStorage } from "../../engine/native-binding.js";
import * as vl from "../../engine/index.js";

const stats = () => native.hostStorageStats();
const MiB = 2 ** 20;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as () => void;

async function collectAndFinalize(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    collect();
    await turn(); // finalizers run after the collection
  }
}

test("storages freed explicitly are never reported to V8, however large the churn", () => {
  const before = stats();
  const externalBefore = process.memoryUsage().external;
  let maxExternalGrowth = 0;
  // 24 x 48 MiB: several epochs of churn, each storage bigger than V8's 32 MiB external-pressure step
  for (let i = 0; i < 24; i++) {
    const s = new native.Storage(48 * MiB);
    maxExternalGrowth = Math.max(maxExternalGrowth, process.memoryUsage().external - externalBefore);
    s.free();
  }
  const after = stats();
  assert.ok(after.epochs > before.epochs, "the churn crossed at least one epoch");
  assert.equal(after.reportedBytes, before.reportedBytes, "no activation-like storage was reported");
  assert.equal(after.liveBytes, before.liveBytes);
  assert.ok(maxExternalGrowth < 48 * MiB, `V8 saw ${(maxExternalGrowth / MiB).toFixed(1)} MiB of external growth for storages freed right away`);
});

test("long-lived storages are reported once they outlive an epoch, and unreported when freed", () => {
  const before = stats();
  const kept = new native.Storage(8 * MiB);
  const churn = Math.ceil((2 * before.epochBytes) / (32 * MiB)) + 1; // two epoch boundaries after `kept`
  for (let i = 0; i < churn; i++) new native.Storage(32 * MiB).free();
  const mid = stats();
  assert.equal(mid.reportedBytes - before.reportedBytes, 8 * MiB, "the surviving storage is reported, the churn is not");
  kept.free();
  assert.equal(stats().reportedBytes, before.reportedBytes);
  assert.equal(stats().liveBytes, before.liveBytes);
});

test("storages dropped without free() are reclaimed by GC pressure alone (no explicit gc)", async () => {
  const base = stats().liveBytes;
  const size = 32 * MiB; // never touched, so this costs address space, not RAM
  const count = 96; // 3 GiB in all if nothing were reclaimed
  let maxLeaked = 0;
  for (let i = 0; i < count; i++) {
    new native.Storage(size); // dropped at once: only the finalizer can free it
    maxLeaked = Math.max(maxLeaked, stats().liveBytes - base);
    await turn();
  }
  // reported after at most two epochs; V8 then marks incrementally, which lets
  // several hundred MiB more pile up (as it does for storages reported at once)
  const bound = (count * size) / 2;
  assert.ok(maxLeaked <= bound, `leaked storages peaked at ${maxLeaked / MiB} MiB, more than ${bound / MiB} MiB: GC pressure did not reclaim them`);
  await collectAndFinalize();
  assert.equal(stats().liveBytes, base, "a full GC frees every dropped storage");
});

test("a tensor that is never disposed still has its host bytes freed when collected", async () => {
  await collectAndFinalize();
  const base = stats();
  (() => {
    vl.zeros([2 * MiB], { dtype: "float32" }); // 8 MiB, dropped without dispose
  })();
  assert.equal(stats().liveBytes - base.liveBytes, 8 * MiB);
  await collectAndFinalize();
  assert.equal(stats().liveBytes, base.liveBytes, "the finalizer freed the leaked tensor's storage");
  assert.equal(stats().reportedBytes, base.reportedBytes);
});

test("explicitly freed storages keep the tracker's numbers exact", () => {
  const before = vl.memory("cpu");
  const t = vl.zeros([1000], { dtype: "float32" });
  assert.equal(vl.memory("cpu").allocated - before.allocated, 4000);
  assert.equal(vl.memory("cpu").reserved - before.reserved, 4032);
  t.dispose();
  assert.equal(vl.memory("cpu").allocated, before.allocated);
  assert.equal(vl.memory("cpu").reserved, before.reserved);
  const s = new native.Storage(100) as NativeStorage;
  assert.equal(s.nbytes, 100);
  s.free();
  assert.equal(s.freed, true);
});
