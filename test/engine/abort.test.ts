import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

class Deep extends vl.Model<vl.Tensor, vl.Tensor> {
  readonly layers: vl.nn.ModuleList<vl.nn.Linear>;
  constructor(depth: number, width: number) {
    super();
    const f = { device: vl.getDevice("cpu"), dtype: "float32" as const, init: "random" as const, seed: 3 };
    this.layers = this.registerModule("layers", new vl.nn.ModuleList<vl.nn.Linear>());
    for (let i = 0; i < depth; i++) this.layers.append(new vl.nn.Linear(width, width, true, f, `layers.${i}`));
  }
  protected override async compute(x: vl.Tensor): Promise<vl.Tensor> {
    let h = x.reshape(x.shape);
    for (const layer of this.layers) {
      const next = (await layer.call(h)) as vl.Tensor;
      h.dispose();
      h = next;
    }
    return h;
  }
}

function checksum(m: vl.Module): number {
  let s = 0;
  for (const [, t] of m.namedTensors()) for (const v of t.toFloat32Array()) s += v;
  return s;
}

test("an AbortSignal stops at the next module boundary and the model stays usable", async () => {
  const model = new Deep(24, 64);
  const x = vl.randn([8, 64], { seed: 5 });
  const reference = await model.forward(x);
  const refValues = reference.toFloat32Array();
  const sum = checksum(model);
  const baseline = vl.memory("cpu").allocated;

  const ac = new AbortController();
  let ran = 0;
  for (const [i, layer] of [...model.layers].entries()) {
    layer.hooks.register("count", { preForward: () => { ran++; if (i === 9) ac.abort(new Error("user interrupt")); } });
  }
  await assert.rejects(model.forward(x, { signal: ac.signal }), (e: Error) => {
    assert.equal(e.name, "AbortError");
    assert.match(e.message, /before module layers\.10 \(Linear\): user interrupt/);
    return true;
  });
  assert.equal(ran, 10, "layers 0..9 ran, layer 10 did not start");
  assert.equal(vl.memory("cpu").allocated, baseline, "intermediates of the aborted run were freed");
  assert.equal(checksum(model), sum, "parameters unchanged");
  for (const layer of model.layers) layer.hooks.remove("count");

  const again = await model.forward(x);
  assert.deepEqual(again.toFloat32Array(), refValues, "a later forward gives the same result");
  for (const t of [x, reference, again]) t.dispose();
  model.dispose();
});

test("forward yields to the event loop, so a timer can abort a long run", async () => {
  const model = new Deep(64, 384);
  const x = vl.randn([256, 384], { seed: 6 });
  const ac = new AbortController();
  let timerFiredDuringRun = false;
  let finished = false;
  setTimeout(() => { timerFiredDuringRun = !finished; ac.abort(new Error("timer")); }, 0);
  await assert.rejects(model.forward(x, { signal: ac.signal }), /timer/);
  finished = true;
  assert.ok(timerFiredDuringRun);
  x.dispose();
  model.dispose();
});

test("an already aborted signal runs nothing", async () => {
  const model = new Deep(2, 8);
  const x = vl.randn([1, 8]);
  let ran = false;
  model.layers.at(0).hooks.register("spy", { preForward: () => { ran = true; } });
  await assert.rejects(model.forward(x, { signal: AbortSignal.abort() }), /AbortError|aborted/);
  assert.equal(ran, false);
  x.dispose();
  model.dispose();
});
