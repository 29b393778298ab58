// The cuda backend's hooks into the engine: Tensor.to routing (byteRoute),
// pinning through cudaHostRegister, real events on cuda streams, and the fp8
// tensor-core GEMM dispatch (fp8GemmOf). The routing and dispatch decisions are
// checked here on real device objects (a CudaDevice can be constructed without
// a GPU; nothing runs on it); the GPU tests are skipped with the driver's
// reason on machines without one.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";
import { native } from "../../engine/native-binding.js";
import { DTYPES } from "../../engine/dtype.js";
import { byteRoute } from "../../engine/ops/transfer.js";
import { fp8GemmOf } from "../../engine/quant/schemes.js";
import { CudaDevice, CudaTimeline, pinsWithDriver } from "../../engine/backends/cuda.js";

const info = native.cudaInfo();
const gpu = info.available ? "" : `no GPU here: ${info.reason ?? "no CUDA device"}`;
const props = { name: "constructed, never used", totalMemory: 0, computeCapability: "9.0" };

test("byteRoute: host memory on both sides copies on the host; a cuda side copies through its backend", () => {
  const cpu = vl.getDevice("cpu"), sim = vl.getDevice("sim:h100-sxm"), meta = vl.getDevice("meta");
  const g0 = new CudaDevice(0, props), g1 = new CudaDevice(1, props);
  for (const [a, b] of [[cpu, sim], [sim, cpu], [cpu, meta], [meta, sim]] as const) assert.deepEqual(byteRoute(a, b), { kind: "host" }, `${a.name} -> ${b.name}`);
  for (const [a, b] of [[cpu, g0], [g0, cpu], [sim, g0], [g0, sim], [g0, g0]] as const) {
    const r = byteRoute(a, b);
    assert.equal(r.kind, "device", `${a.name} -> ${b.name}`);
    assert.equal(r.kind === "device" && r.backend, g0.backend, `${a.name} -> ${b.name} goes through cuda:0's backend`);
  }
  assert.deepEqual(byteRoute(g0, g1), { kind: "staged" }, "two GPUs with separate memories stage through the host");
});

test("Tensor.to between cpu and sim still copies every dtype's bytes exactly (the host route)", () => {
  for (const dtype of DTYPES) {
    const x = vl.tensor(Float32Array.from({ length: 37 }, (_, i) => (i - 18) * 0.37), { dtype: "float32" }).to({ dtype, saturate: true });
    const there = x.to({ device: "sim:h100-sxm", nonBlocking: true });
    const back = there.to("cpu");
    assert.deepEqual(vl.readBytes(back), vl.readBytes(x), dtype);
    for (const t of [x, there, back]) t.dispose();
  }
});

test("fp8GemmOf: only backends with fp8 tensor cores take the fp8 GEMM; cpu, sim and meta keep the decode path", () => {
  for (const name of ["cpu", "sim:h100-sxm", "meta"]) assert.equal(fp8GemmOf(vl.getDevice(name).backend), null, name);
  const g0 = new CudaDevice(0, props);
  assert.equal(fp8GemmOf(g0.backend), g0.backend);
});

test("pinsWithDriver: page-locking needs an nvcc build and a GPU", () => {
  assert.equal(pinsWithDriver({ compiled: true, available: true }), true);
  assert.equal(pinsWithDriver({ compiled: true, available: false }), false);
  assert.equal(pinsWithDriver({ compiled: false, available: false }), false);
});

test("pin() page-locks with the driver exactly when a GPU is present; unpin and dispose undo it", () => {
  const before = vl.hostMemory().pinned;
  const t = vl.zeros([1024]).pin();
  assert.equal(t.isPinned, true);
  assert.equal(t.storage.pageLocked, pinsWithDriver(info), info.available ? "a GPU is present: cudaHostRegister" : "no GPU: pin() only marks the storage");
  assert.equal(vl.hostMemory().pinned - before, 4096);
  t.unpin();
  assert.equal(t.storage.pageLocked, false);
  assert.equal(vl.hostMemory().pinned, before);
  t.pin();
  t.dispose(); // unregisters before the bytes are freed
  assert.equal(vl.hostMemory().pinned, before);
  const m = vl.zeros([8], { device: "meta" }).pin();
  assert.equal(m.storage.pageLocked, false, "meta holds no bytes to lock");
  m.dispose();
});

test("cpu and sim timelines have no driver events: streams and events keep their times", () => {
  for (const name of ["cpu", "sim:h100-sxm"]) {
    const d = vl.getDevice(name);
    assert.equal(d.timeline.recordEvent, undefined, name);
    const e = new vl.Event("x").record(d.defaultStream);
    assert.equal(e.stampOrNull?.handle, undefined, name);
    assert.equal(e.query(), true, `${name}: nothing queued, so the event has passed`);
  }
});

// ---- on a GPU ------------------------------------------------------------------------

function dev(): CudaDevice {
  return vl.getDevice("cuda:0") as CudaDevice;
}

test("to(cuda) and back is bit-exact for every dtype, pageable and pinned non-blocking; cuda -> sim too", { skip: gpu }, () => {
  const d = dev();
  for (const dtype of DTYPES) {
    const x = vl.tensor(Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 300), { dtype: "float32" }).to({ dtype, saturate: true });
    const pageable = x.to(d);
    assert.equal(pageable.device, d);
    assert.deepEqual(vl.readBytes(pageable.to("cpu")), vl.readBytes(x), `${dtype} pageable`);
    const pinnedSrc = x.to({ device: "cpu", pin: true });
    const async = pinnedSrc.to({ device: d, nonBlocking: true });
    const back = async.to({ device: "cpu", pin: true, nonBlocking: true });
    d.synchronize();
    assert.deepEqual(vl.readBytes(back), vl.readBytes(x), `${dtype} pinned non-blocking`);
    assert.deepEqual(vl.readBytes(pageable.to("sim:h100-sxm")), vl.readBytes(x), `${dtype} cuda -> sim`);
    for (const t of [x, pageable, pinnedSrc, async, back]) t.dispose();
  }
  const y = vl.tensor([1, 2, 3]).to({ device: d, dtype: "bfloat16" });
  assert.deepEqual([...y.toFloat32Array()], [1, 2, 3], "cast on the host, then moved");
});

test("vramlab streams are separate native streams ordered by driver events; elapsedMs is device time", { skip: gpu }, () => {
  const d = dev();
  const tl = d.timeline as CudaTimeline;
  const copy = d.newStream("copy", "copy");
  assert.notEqual(tl.nativeStream(copy), tl.nativeStream(d.defaultStream));
  const host = vl.full([1 << 24], 2).pin();
  const start = new vl.Event("start").record(copy);
  const onGpu = vl.withStream(copy, () => host.to({ device: d, nonBlocking: true }));
  const copied = copy.recordEvent("copied");
  const handle = copied.stampOrNull?.handle;
  assert.equal(typeof handle, "number", "recorded as a driver event");
  d.defaultStream.waitEvent(copied);
  const doubled = vl.ops.mul(onGpu, onGpu); // on the default stream, after the copy
  const s = doubled.to("cpu").toFloat32Array();
  assert.equal(s[0], 4);
  assert.equal(s[s.length - 1], 4);
  copied.synchronize();
  assert.equal(copied.query(), true);
  const ms = start.elapsedMs(copied);
  assert.ok(ms > 0 && ms < 1000, `64 MiB pinned H2D took ${ms} ms of device time`);
  copied.record(copy);
  assert.equal(copied.stampOrNull?.handle, handle, "re-recording moves the same driver event");
  copy.synchronize();
  assert.equal(copy.query(), true);
  for (const t of [host, onGpu, doubled]) t.dispose();
});

test("fp8dq / fp8dqrow linears run on the fp8 GEMM and agree with the cpu decode path", { skip: gpu }, () => {
  const d = dev();
  assert.ok(fp8GemmOf(d.backend), "cuda has the fp8 GEMM");
  const r = new vl.Random(5);
  const M = 64, N = 96, K = 256;
  const xs = Float32Array.from({ length: M * K }, () => r.normal());
  const ws = Float32Array.from({ length: N * K }, () => r.normal() * 0.05);
  for (const scheme of ["fp8dq", "fp8dqrow"] as const) {
    const outs: Float32Array[] = [];
    for (const device of ["cpu", "cuda:0"]) {
      const x = vl.tensor(xs, { shape: [M, K], device });
      const w = vl.quantizeTensor(vl.tensor(ws, { shape: [N, K], device }), scheme);
      const y = vl.ops.linear(x, w);
      outs.push(y.toFloat32Array());
      for (const t of [x, y]) t.dispose();
      w.dispose();
    }
    // the same exact fp8 products, summed in fp32 in another order
    let maxAbs = 0, maxDiff = 0;
    outs[0]!.forEach((v, i) => {
      maxAbs = Math.max(maxAbs, Math.abs(v));
      maxDiff = Math.max(maxDiff, Math.abs(v - outs[1]![i]!));
    });
    assert.ok(maxDiff <= 1e-5 * maxAbs * Math.sqrt(K), `${scheme}: max difference ${maxDiff} (max |y| ${maxAbs})`);
  }
});
