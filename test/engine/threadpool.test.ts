// The CPU thread pool with and without its short spin between parallel
// regions (VRAMLAB_THREAD_SPIN, microseconds; 0 sleeps at once): the same
// results bit for bit, thousands of back-to-back regions without a lost
// wake-up, and resizing the pool in between. Each setting runs in a child
// process because the spin is read once when the addon loads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as vl from "../../engine/index.js";

const CHILD = process.env.VRAMLAB_THREADPOOL_CHILD === "1";

/** Many small parallel regions back to back (each op splits 64k elements over the threads). */
function workload(): { checksum: string; regions: number } {
  vl.setNumThreads(2);
  const n = 65536;
  const x = vl.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3), { shape: [n] });
  let acc = vl.zeros([n]);
  let regions = 0;
  for (let i = 0; i < 1500; i++) {
    if (i === 700) vl.setNumThreads(3); // a resize between regions must not lose the next one
    if (i === 900) vl.setNumThreads(2);
    const y = vl.ops.mul(x, acc);
    const z = vl.ops.add(y, x);
    y.dispose();
    acc.dispose();
    acc = vl.ops.mulScalar(z, 0.5);
    z.dispose();
    regions += 3;
  }
  const values = acc.toFloat32Array();
  acc.dispose();
  x.dispose();
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return { checksum: h.toString(16), regions };
}

if (CHILD) {
  test("workload", () => {
    const t0 = performance.now();
    const r = workload();
    console.log(`THREADPOOL ${JSON.stringify({ ...r, ms: performance.now() - t0 })}`);
  });
} else {
  function runChild(spin: string): { checksum: string; regions: number; ms: number } {
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ["--test", fileURLToPath(import.meta.url)], {
      env: { ...env, VRAMLAB_THREADPOOL_CHILD: "1", VRAMLAB_THREAD_SPIN: spin },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `child with VRAMLAB_THREAD_SPIN=${spin} failed (a hang ends in a timeout):\n${r.stdout}\n${r.stderr}`);
    const line = r.stdout.split("\n").find((l) => l.includes("THREADPOOL "));
    assert.ok(line, `no result from the child:\n${r.stdout}`);
    return JSON.parse(line.slice(line.indexOf("THREADPOOL ") + 11));
  }

  test("spinning and sleeping pools give the same bits over thousands of regions", () => {
    const sleeping = runChild("0");
    const spinning = runChild("50");
    const longSpin = runChild("2000");
    assert.equal(sleeping.regions, 4500);
    assert.equal(spinning.checksum, sleeping.checksum);
    assert.equal(longSpin.checksum, sleeping.checksum);
  });

  test("the pool's result matches the single-threaded run", () => {
    vl.setNumThreads(1);
    const serial = (() => {
      const n = 65536;
      const x = vl.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3), { shape: [n] });
      const y = vl.ops.mul(x, x);
      const out = y.toFloat32Array();
      x.dispose();
      y.dispose();
      return out;
    })();
    vl.setNumThreads(2);
    const n = 65536;
    const x = vl.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3), { shape: [n] });
    const y = vl.ops.mul(x, x);
    assert.deepEqual(y.toFloat32Array(), serial);
    x.dispose();
    y.dispose();
  });
}
