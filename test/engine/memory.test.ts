import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

/** Linear -> GELU -> Linear, freeing each intermediate as soon as the next op has consumed it. */
class Chain extends vl.Module {
  constructor(k: number, h: number, n: number) {
    super();
    const f = { device: vl.getDevice("cpu"), dtype: "float32" as const, init: "random" as const, seed: 7 };
    this.registerModule("fc1", new vl.nn.Linear(k, h, true, f, "fc1"));
    this.registerModule("act", new vl.nn.GELU("tanh"));
    this.registerModule("fc2", new vl.nn.Linear(h, n, true, f, "fc2"));
  }
  override async forward(x: vl.Tensor): Promise<vl.Tensor> {
    const h = (await this.child("fc1").call(x)) as vl.Tensor;
    const g = (await this.child("act").call(h)) as vl.Tensor;
    h.dispose();
    const y = (await this.child("fc2").call(g)) as vl.Tensor;
    g.dispose();
    return y;
  }
}

test("peak of Linear -> GELU -> Linear equals the analytic value, and memory returns to baseline", async () => {
  const [M, K, H, N] = [32, 48, 96, 40];
  const baseline = vl.memory("cpu").allocated;
  const model = new Chain(K, H, N);
  const params = 4 * (H * K + H + N * H + N);
  assert.equal(vl.memory("cpu").allocated - baseline, params, "parameter bytes");
  const x = vl.randn([M, K], { seed: 1 });
  vl.resetPeakMemory("cpu");
  const start = vl.memory("cpu").allocated;
  assert.equal(start - baseline, params + 4 * M * K);
  const y = (await model.call(x)) as vl.Tensor;
  // While GELU runs, x, h = fc1(x) and g = gelu(h) are live: params + x + h + g.
  // While fc2 runs, h was freed: params + x + g + y. With H > N the first is larger.
  const expectedPeak = params + 4 * M * K + Math.max(2 * 4 * M * H, 4 * M * H + 4 * M * N);
  assert.equal(vl.memory("cpu").peak - baseline, expectedPeak);
  assert.equal(vl.memory("cpu").allocated - baseline, params + 4 * M * K + 4 * M * N, "only x, y and the parameters stay live");
  y.dispose();
  x.dispose();
  model.dispose();
  assert.equal(vl.memory("cpu").allocated, baseline);
});

test("live bytes are attributed to module path + tensor name", async () => {
  const model = new Chain(8, 16, 4);
  const owners = new Map(vl.memoryByOwner("cpu").map((o) => [o.owner, o.bytes]));
  assert.equal(owners.get("fc1.weight"), 16 * 8 * 4);
  assert.equal(owners.get("fc2.bias"), 4 * 4);
  const x = vl.randn([2, 8], { owner: "input" });
  // activations made inside a module carry its path
  let seen: string[] = [];
  const stop = vl.getDevice("cpu").memory.subscribe((e) => { if (e.kind === "alloc") seen.push(e.owner); });
  const y = (await model.call(x)) as vl.Tensor;
  stop();
  assert.ok(seen.includes("fc1:activation"), `owners seen: ${seen.join(", ")}`);
  assert.ok(seen.includes("act:activation"));
  seen = [];
  y.dispose();
  x.dispose();
  model.dispose();
  assert.equal(vl.memoryByOwner("cpu").filter((o) => o.owner.startsWith("fc")).length, 0);
});

test("reserved counts allocator alignment; peak resets to current", () => {
  const base = vl.memory("cpu");
  const t = vl.zeros([3], { dtype: "float32" }); // 12 bytes -> one 64-byte block
  const s = vl.memory("cpu");
  assert.equal(s.allocated - base.allocated, 12);
  assert.equal(s.reserved - base.reserved, 64);
  t.dispose();
  vl.resetPeakMemory("cpu");
  assert.equal(vl.memory("cpu").peak, vl.memory("cpu").allocated);
});

test("scopes free what a function made, except what it returns", async () => {
  const base = vl.memory("cpu").allocated;
  const kept = vl.tidy(() => {
    const a = vl.ones([4]);
    const b = vl.ops.addScalar(a, 1);
    return vl.ops.mul(a, b);
  });
  assert.equal(vl.memory("cpu").allocated - base, 16);
  assert.deepEqual([...kept.toFloat32Array()], [2, 2, 2, 2]);
  const fromAsync = await vl.scope(async () => {
    const a = vl.ones([8]);
    await new Promise((r) => setTimeout(r, 1));
    const b = vl.ops.addScalar(a, 2); // made after an await: still in the scope
    return { b };
  });
  assert.equal(vl.memory("cpu").allocated - base, 16 + 32);
  kept.dispose();
  fromAsync.b.dispose();
  assert.equal(vl.memory("cpu").allocated, base);
  assert.throws(() => vl.tidy(() => Promise.resolve(1) as unknown as number), /synchronous/);
});

test("a disposed tensor says so when used; dispose is idempotent", () => {
  const t = vl.ones([2, 2]);
  const view = t.reshape([4]);
  t.dispose();
  t.dispose();
  assert.deepEqual([...view.toFloat32Array()], [1, 1, 1, 1], "a view keeps the storage alive");
  view.dispose();
  assert.throws(() => view.toFloat32Array(), /was disposed/);
  assert.throws(() => vl.ops.addScalar(t, 1), /was disposed/);
});
