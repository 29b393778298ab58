import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

test("devices by name; unknown names list the known types", () => {
  assert.equal(vl.getDevice("cpu"), vl.getDevice("CPU"));
  assert.equal(vl.getDevice("meta").hasData, false);
  assert.throws(() => vl.getDevice("tpu:0"), /unknown device "tpu:0"; known device types: cpu .*meta/);
  assert.throws(() => vl.getDevice("cpu:3"), /one cpu device/);
});

test("cuda reports no device on a machine without a GPU, and says why", () => {
  const info = vl.cudaInfo();
  if (info.available) return; // on a GPU machine the CUDA tests cover it
  assert.equal(info.deviceCount, 0);
  assert.match(info.reason ?? "", /no CUDA device/);
  assert.throws(() => vl.getDevice("cuda:0"), /cuda:0 is not available: no CUDA device/);
});

test("mixing devices in one op names both devices and the module", async () => {
  const a = vl.ones([2, 3]);
  const b = vl.ones([2, 3], { device: "meta" });
  assert.throws(() => vl.ops.add(a, b), /same device.*cpu and meta.*in add/);
  class Mixed extends vl.Module {
    constructor() {
      super();
      const f = { device: vl.getDevice("meta"), dtype: "float32" as const, init: "random" as const, seed: 1 };
      this.registerModule("proj", new vl.nn.Linear(3, 4, true, f, "proj"));
    }
    override async forward(x: vl.Tensor) {
      return this.child("proj").call(x);
    }
  }
  const m = new Mixed();
  await assert.rejects(m.call(a), /cpu and meta \(in linear in module proj \(Linear\)\)/);
  a.dispose();
  b.dispose();
  m.dispose();
});

test("meta runs shapes and bytes without data; reading values is a clear error", () => {
  const x = vl.randn([1024, 4096], { device: "meta" });
  const w = vl.randn([8192, 4096], { device: "meta" });
  const before = vl.memory("meta").allocated;
  const y = vl.ops.linear(x, w);
  assert.deepEqual(y.shape, [1024, 8192]);
  assert.equal(vl.memory("meta").allocated - before, 1024 * 8192 * 4);
  assert.throws(() => y.toFloat32Array(), /meta device, which holds shapes only/);
  assert.throws(() => y.to("cpu"), /meta device holds shapes only/);
  for (const t of [x, w, y]) t.dispose();
});

test("to(): device moves and dtype casts copy; a no-op move is an independent view", () => {
  const a = vl.tensor([1.5, -2.25, 3], { dtype: "float32" });
  const same = a.to("cpu");
  const half = a.to({ dtype: "bfloat16" });
  assert.equal(half.dtype, "bfloat16");
  assert.deepEqual([...half.toFloat32Array()], [1.5, -2.25, 3]);
  const meta = a.to("meta");
  assert.equal(meta.device.name, "meta");
  a.dispose();
  assert.deepEqual([...same.toFloat32Array()], [1.5, -2.25, 3]);
  for (const t of [same, half, meta]) t.dispose();
});
