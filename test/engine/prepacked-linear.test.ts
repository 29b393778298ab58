// Prepacked Linear weights (engine/ops/linear.ts, Module.enableWeightPrepacking):
// the panels give bit-identical results to the per-call packing path, their
// memory is tracked and attributed, and they are released whenever the
// weight they were made from is written, replaced, moved, cast, quantized,
// offloaded or disposed.
//
// The bit-identity check also runs on the AVX2 and portable GEMM builds, each
// in a child process with VRAMLAB_CPU capping the level (fixed at load).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as vl from "../../engine/index.js";
import { PrepackedWeight, linearPrepacked } from "../../engine/ops/linear.js";
import { linear } from "../../engine/ops/math.js";
import { gemmInfo } from "../../engine/kernels/gemm.js";

function bitsOf(t: vl.Tensor): Uint8Array {
  return vl.readBytes(t);
}
function assertSameBits(a: vl.Tensor, b: vl.Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  assert.equal(a.dtype, b.dtype, what);
  assert.ok(Buffer.from(bitsOf(a)).equals(Buffer.from(bitsOf(b))), `${what}: outputs differ`);
}
function prepackedOwners(): vl.OwnerBytes[] {
  return vl.memoryByOwner("cpu").filter((o) => o.owner.endsWith(".prepacked"));
}

test("linearPrepacked equals linear bit for bit across block edges, dtypes, bias and thread counts", () => {
  const info = gemmInfo();
  // rows: just above the dot-product path, one micro-tile and a bit, several; columns and K across NR / KC edges
  const Ms = [info.gemvMaxRows + 1, info.mr + 2, 3 * info.mr + 5];
  const Ns = [1, info.nr - 1, info.nr + 3, 2 * info.nc + 7];
  const Ks = [1, 17, info.kc + 33, 2 * info.kc + 1];
  const threads = vl.getNumThreads();
  let checked = 0;
  try {
    for (const M of Ms) for (const N of Ns) for (const K of Ks) {
      for (const [xd, wd] of [["float32", "float32"], ["float32", "bfloat16"], ["float16", "float16"]] as const) {
        vl.tidy(() => {
          const x = vl.cast(vl.randn([M, K], { seed: M * 7 + K }), xd);
          const w = vl.cast(vl.randn([N, K], { seed: N * 13 + K }), wd);
          const bias = N % 2 ? vl.randn([N], { seed: 5 }) : null;
          vl.setNumThreads(1);
          const reference = linear(x, w, bias);
          const p = PrepackedWeight.create(w)!;
          try {
            assert.equal(p.bytes, PrepackedWeight.bytesFor(w.device, N, K));
            // one thread and two: how the product is split over threads changes no bit
            for (const nThreads of [1, 2]) {
              vl.setNumThreads(nThreads);
              const what = `M${M} N${N} K${K} ${xd}/${wd} threads ${nThreads}`;
              assertSameBits(linearPrepacked(x, w, p, bias), reference, `prepacked ${what}`);
              assertSameBits(linear(x, w, bias), reference, `unpacked ${what}`);
              checked++;
            }
          } finally {
            p.release();
          }
        });
      }
    }
  } finally {
    vl.setNumThreads(threads);
  }
  assert.equal(checked, 2 * Ms.length * Ns.length * Ks.length * 3);
});

const ONLY_BIT_IDENTITY = process.env.VRAMLAB_PREPACK_TEST_ONLY_BITS === "1";

if (!process.env.VRAMLAB_CPU) {
  for (const level of ["avx2", "portable"]) {
    test(`bit identity on the ${level} build (child process with VRAMLAB_CPU=${level})`, () => {
      // NODE_TEST_CONTEXT would make the child report to this runner instead of stdout.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const r = spawnSync(process.execPath, ["--test", fileURLToPath(import.meta.url)], {
        env: { ...env, VRAMLAB_CPU: level, VRAMLAB_PREPACK_TEST_ONLY_BITS: "1" },
        encoding: "utf8",
      });
      assert.equal(r.status, 0, `child test run failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /# pass 1\b/);
    });
  }
}

test("a prepacked Linear model gives the unpacked model's output exactly; the panels show in vl.memory under the weight's name", { skip: ONLY_BIT_IDENTITY }, async () => {
  const model = await vl.models.flux("tiny", { seed: 4 });
  const inputs = vl.models.fluxInputs(model, { grid: [4, 6], textLength: 5, seed: 5 });
  const reference = await model.forward(inputs);
  const before = vl.memory().allocated;
  const { layers } = model.enableWeightPrepacking();
  assert.equal(layers, [...model.namedModules()].filter(([, m]) => m instanceof vl.nn.Linear).length);

  const first = await model.forward(inputs);
  assert.equal(model.prepackedBytes, 0, "the first forward with a weight only notes it");
  const second = await model.forward(inputs);
  assert.ok(model.prepackedBytes > 0, "the second forward packs");
  assert.equal(vl.memory().allocated - before, model.prepackedBytes + first.nbytes + second.nbytes, "vl.memory counts every panel byte");
  const toQ = model.transformerBlocks.at(0).child("attn").child("to_q");
  const w = toQ.tensor("weight");
  const owner = prepackedOwners().find((o) => o.owner === "transformer_blocks.0.attn.to_q.weight.prepacked");
  assert.ok(owner, "attributed to the weight");
  assert.equal(owner.bytes, PrepackedWeight.bytesFor(w.device, w.shape[0]!, w.shape[1]!));
  // one-token modulation layers read their weight directly: nothing packed for them
  assert.equal(prepackedOwners().filter((o) => /norm1\.linear|time_text_embed/.test(o.owner)).length, 0);

  const third = await model.forward(inputs);
  for (const out of [first, second, third]) assertSameBits(out, reference, "prepacked forward");

  model.disableWeightPrepacking();
  assert.equal(model.prepackedBytes, 0);
  assert.equal(prepackedOwners().length, 0, "disable frees the panels");
  for (const t of [reference, first, second, third]) t.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
});

async function packedTiny(seed: number) {
  const model = await vl.models.flux("tiny", { seed });
  const inputs = vl.models.fluxInputs(model, { grid: [4, 6], textLength: 5, seed: seed + 1 });
  model.enableWeightPrepacking();
  for (let i = 0; i < 2; i++) (await model.forward(inputs)).dispose();
  assert.ok(model.prepackedBytes > 0);
  return { model, inputs };
}

test("writing into a weight releases its panels and the next forward uses the new values", { skip: ONLY_BIT_IDENTITY }, async () => {
  const { model, inputs } = await packedTiny(6);
  const toQ = model.transformerBlocks.at(0).child("attn").child("to_q");
  const w = toQ.tensor("weight");
  const name = "transformer_blocks.0.attn.to_q.weight.prepacked";
  assert.ok(prepackedOwners().some((o) => o.owner === name));
  const bytesBefore = model.prepackedBytes;
  vl.tidy(() => vl.copyInto(w, vl.randn(w.shape, { seed: 99 })));
  assert.ok(!prepackedOwners().some((o) => o.owner === name), "the write released to_q's panels at once");
  assert.equal(model.prepackedBytes, bytesBefore - PrepackedWeight.bytesFor(w.device, w.shape[0]!, w.shape[1]!));

  // a twin with the same new weight and no prepacking is the reference
  const twin = await vl.models.flux("tiny", { seed: 6 });
  const tw = twin.transformerBlocks.at(0).child("attn").child("to_q").tensor("weight");
  vl.tidy(() => vl.copyInto(tw, vl.randn(tw.shape, { seed: 99 })));
  const ref = await twin.forward(inputs);
  for (let i = 0; i < 3; i++) {
    const out = await model.forward(inputs);
    assertSameBits(out, ref, `forward ${i} after the write`);
    out.dispose();
  }
  assert.ok(prepackedOwners().some((o) => o.owner === name), "packed again from the new values");
  // disposing the weight itself (not through the module) frees its panels with it
  const packedBefore = model.prepackedBytes;
  const replacement = vl.tidy(() => vl.clone(w));
  toQ.setTensor("weight", replacement);
  assert.equal(model.prepackedBytes, packedBefore - PrepackedWeight.bytesFor(w.device, w.shape[0]!, w.shape[1]!), "replacing the weight released its panels");
  for (let i = 0; i < 2; i++) (await model.forward(inputs)).dispose();
  assert.ok(prepackedOwners().some((o) => o.owner === name), "the replacement is packed");
  replacement.dispose();
  assert.ok(!prepackedOwners().some((o) => o.owner === name), "disposing the weight freed its panels at once");
  w.dispose(); // the original weight, replaced above
  ref.dispose();
  twin.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
});

test("casting, quantizing, moving and disposing release the panels (no bytes left behind)", { skip: ONLY_BIT_IDENTITY }, async () => {
  {
    const { model, inputs } = await packedTiny(8);
    await model.to({ dtype: "bfloat16" });
    assert.equal(model.prepackedBytes, 0, "to(dtype) replaced every weight");
    assert.equal(prepackedOwners().length, 0);
    model.dispose();
    vl.models.disposeInputs(inputs);
  }
  {
    const { model, inputs } = await packedTiny(10);
    vl.quantize(model, { scheme: "int8wo", minElements: 0 });
    assert.equal(prepackedOwners().length, 0, "quantized weights have no fp32 panels");
    const ref = await model.forward(inputs);
    const again = await model.forward(inputs);
    assertSameBits(again, ref, "quantized forward");
    for (const t of [ref, again]) t.dispose();
    model.dispose();
    assert.equal(prepackedOwners().length, 0, "dispose frees what is left");
    vl.models.disposeInputs(inputs);
  }
  {
    const { model, inputs } = await packedTiny(12);
    const dev = "sim:h100-sxm";
    model.enableGroupOffload({ onloadDevice: dev, offloadDevice: "cpu", offloadType: "block_level", numBlocksPerGroup: 1 });
    const simInputs = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v && typeof v === "object" && "to" in v ? (v as vl.Tensor).to(dev) : v])) as typeof inputs;
    for (let i = 0; i < 3; i++) (await model.forward(simInputs)).dispose();
    assert.equal(prepackedOwners().length, 0, "weights onloaded to a sim device are not packed, and the cpu panels went with the swap");
    vl.models.disposeInputs(simInputs);
    vl.models.disposeInputs(inputs);
    model.dispose();
  }
});

test("layerwise casting: the per-call upcast copies are never packed, and the output is unchanged", { skip: ONLY_BIT_IDENTITY }, async () => {
  const model = await vl.models.flux("tiny", { seed: 14 });
  const inputs = vl.models.fluxInputs(model, { grid: [4, 6], textLength: 5, seed: 15 });
  model.enableLayerwiseCasting({ storageDtype: "bfloat16", computeDtype: "float32" });
  const ref = await model.forward(inputs);
  model.enableWeightPrepacking();
  const packedLayers = () => prepackedOwners().map((o) => o.owner.replace(/\.weight\.prepacked$/, ""));
  for (let i = 0; i < 3; i++) {
    const out = await model.forward(inputs);
    assertSameBits(out, ref, `forward ${i}`);
    out.dispose();
  }
  // layers the casting skips (norms, proj_out) keep float32 weights at rest and may pack; cast layers never do
  const cast = new Set([...model.namedModules()].filter(([, m]) => m.hooks.has(vl.LAYERWISE_CASTING_HOOK)).map(([p]) => p));
  assert.ok(cast.size > 0);
  assert.deepEqual(packedLayers().filter((p) => cast.has(p)), []);
  ref.dispose();
  vl.models.disposeInputs(inputs);
  model.dispose();
  assert.equal(prepackedOwners().length, 0);
});
