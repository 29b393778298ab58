// The simulated accelerator: profiles, real data through the cpu kernels,
// out-of-memory errors that leave everything unchanged, pinned vs pageable
// host memory, and the math rate each GEMM kind is modelled at. Values on sim
// must be bit-identical to cpu (same kernels), so they are compared exactly.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

const MiB = 1024 * 1024;
const PROVENANCE = new Set(["datasheet", "measured", "measured-elsewhere", "assumed", "user"]);

test("every built-in profile loads, with and without data, and labels every figure", () => {
  const names = vl.simProfileNames();
  for (const required of ["h100-sxm", "a100-80g", "rtx4090", "l4"]) assert.ok(names.includes(required), `profile ${required}`);
  for (const name of names) {
    const p = vl.getSimProfile(name);
    const figures = [p.memoryBytes, p.contextBytes, p.memoryBandwidth, p.memoryEfficiency, p.matmulPeak.fp32, p.matmulPeak.bf16, p.matmulPeak.int8, p.matmulEfficiency, p.hostLinkPinned, p.hostLinkPageable, p.launchOverhead];
    if (p.matmulPeak.fp8) figures.push(p.matmulPeak.fp8);
    for (const f of figures) {
      assert.ok(PROVENANCE.has(f.source), `${name}: figure ${f.value} has source ${f.source}`);
      assert.ok(f.value > 0);
    }
    assert.ok(p.hostLinkPageable.value < p.hostLinkPinned.value, `${name}: pageable is slower than pinned`);
    for (const suffix of ["", ":meta"]) {
      const dev = vl.getDevice(`sim:${name}${suffix}`) as vl.SimDevice;
      assert.ok(dev instanceof vl.SimDevice);
      assert.equal(dev.type, "sim");
      assert.equal(dev.name, `sim:${name}${suffix}`);
      assert.equal(dev.hasData, suffix === "");
      assert.equal(dev.capacityBytes, p.memoryBytes.value - p.contextBytes.value);
      const x = vl.zeros([256, 512], { dtype: "bfloat16", device: dev });
      const w = vl.zeros([384, 512], { dtype: "bfloat16", device: dev });
      const before = dev.defaultStream.timeMs;
      const y = vl.ops.linear(x, w);
      assert.ok(dev.defaultStream.timeMs > before, `${dev.name}: a linear takes modelled time`);
      assert.deepEqual(y.shape, [256, 384]);
      for (const t of [x, w, y]) t.dispose();
    }
  }
  assert.equal(vl.getSimProfile("h100-sxm").matmulEfficiency.source, "measured");
  assert.equal(vl.getSimProfile("h100-sxm").matmulPeak.bf16.source, "datasheet");
  assert.equal(vl.getSimProfile("a100-80g").matmulPeak.fp8, null, "the A100 has no fp8 tensor cores");
  assert.equal(vl.getDevice("SIM:H100-SXM"), vl.getDevice("sim:h100-sxm"), "names are case-insensitive");
});

test("unknown profiles and malformed sim names list what exists", () => {
  assert.throws(() => vl.getDevice("sim:h100-pcie"), /unknown sim profile "h100-pcie"; known profiles: h100-sxm \(NVIDIA H100 SXM 80GB HBM3\), .*a100-80g.*rtx4090.*l4/);
  assert.throws(() => vl.getDevice("sim"), /"sim" needs a hardware profile: sim:h100-sxm, .*sim:l4/);
  assert.throws(() => vl.getDevice("sim:h100-sxm:fast"), /"sim:h100-sxm:fast" is not a device; use "sim:PROFILE" or "sim:PROFILE:meta"/);
  assert.throws(() => vl.getDevice("tpu"), /known device types: cpu .*meta .*sim \(simulated accelerator/);
  assert.throws(() => vl.defineSimProfile("h100-sxm", { memoryBytes: 1 }), /built-in profile/);
});

/** x -> fc -> gelu: the activations are allocated inside modules "fc" and "act". */
class Mlp extends vl.Module {
  constructor(device: vl.Device) {
    super();
    const f = { device, dtype: "float32" as const, init: "random" as const, seed: 11 };
    this.registerModule("fc", new vl.nn.Linear(256, 1024, true, f, "fc"));
    this.registerModule("act", new vl.nn.GELU("tanh"));
  }
  override async forward(x: vl.Tensor): Promise<vl.Tensor> {
    const h = (await this.child("fc").call(x)) as vl.Tensor;
    const y = (await this.child("act").call(h)) as vl.Tensor;
    h.dispose();
    return y;
  }
}

test("out of memory: the error names requested, free, capacity and module; tracker and model are unchanged; a retry works", async () => {
  const dev = vl.getDevice("sim:h100-sxm") as vl.SimDevice;
  const model = new Mlp(dev);
  const x = vl.randn([64, 256], { seed: 3, device: dev });
  const reference = (await model.call(x)) as vl.Tensor;
  const expected = reference.toFloat32Array();
  reference.dispose();

  const before = vl.memory(dev);
  const ownersBefore = vl.memoryByOwner(dev);
  const weightsBefore = [...model.stateDict()].map(([n, t]) => [n, t.toFloat32Array()] as const);
  const timeBefore = dev.defaultStream.timeMs;
  // room for the first activation (64 x 1024 float32 = 256 KiB) but not the second
  const limit = before.reserved + 256 * 1024 + 128 * 1024;
  dev.setMemoryLimit(limit);
  try {
    const err = await model.call(x).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof vl.OutOfMemoryError, `expected an OutOfMemoryError, got ${String(err)}`);
    assert.equal(err.name, "OutOfMemoryError");
    const free = limit - before.reserved - 256 * 1024;
    assert.equal(err.requestedBytes, 64 * 1024 * 4);
    assert.equal(err.freeBytes, free);
    assert.equal(err.capacityBytes, limit);
    assert.equal(err.module, "act");
    assert.match(err.message, /^sim:h100-sxm out of memory\. Tried to allocate 256\.0 KiB \(262144 bytes\) for act:activation in module act \(GELU\)\./);
    assert.ok(err.message.includes(`of which 128.0 KiB (${free} bytes) is free`), err.message);
    assert.ok(err.message.includes(`a memory limit of `) && err.message.includes(`(${limit} bytes, set with setMemoryLimit)`), err.message);
  } finally {
    dev.setMemoryLimit(null);
  }
  assert.deepEqual(vl.memory(dev), { ...before, peak: vl.memory(dev).peak, peakReserved: vl.memory(dev).peakReserved }, "allocated, reserved and count are back to the baseline");
  assert.deepEqual(vl.memoryByOwner(dev), ownersBefore, "no allocation was left behind");
  for (const [name, values] of weightsBefore) assert.deepEqual(model.stateDict().get(name)!.toFloat32Array(), values, `${name} unchanged`);
  assert.ok(dev.defaultStream.timeMs >= timeBefore);

  const again = (await model.call(x)) as vl.Tensor;
  assert.deepEqual(again.toFloat32Array(), expected, "the model runs again and gives the same values");
  again.dispose();
  x.dispose();
  model.dispose();
});

test("out of memory at the device's capacity says how much the device has for tensors", () => {
  vl.defineSimProfile("test-64m", { base: "rtx4090", memoryBytes: 64 * MiB + 512 * MiB, description: "64 MiB for tensors" });
  const dev = vl.getDevice("sim:test-64m:meta") as vl.SimDevice;
  assert.equal(dev.capacityBytes, 64 * MiB);
  assert.equal(dev.profile.memoryBytes.source, "user");
  const a = vl.zeros([40 * MiB], { dtype: "uint8", device: dev, owner: "big" });
  const before = vl.memory(dev);
  assert.throws(
    () => vl.zeros([30 * MiB], { dtype: "uint8", device: dev, owner: "second" }),
    (e: unknown) =>
      e instanceof vl.OutOfMemoryError &&
      e.limitBytes === null &&
      /^sim:test-64m:meta out of memory\. Tried to allocate 30\.0 MiB \(31457280 bytes\) for second\. sim:test-64m:meta has a total capacity of 64\.0 MiB \(67108864 bytes\) for tensors \(576\.0 MiB device memory less the CUDA context\), of which 24\.0 MiB \(25165824 bytes\) is free; 40\.0 MiB is allocated by live tensors\./.test(e.message),
  );
  assert.deepEqual(vl.memory(dev), before);
  assert.equal(dev.freeBytes, 24 * MiB);
  a.dispose();
});

test("tiny Flux on sim gives bit-identical values to cpu (created there, or moved there)", async () => {
  for (const dtype of ["float32", "bfloat16"] as const) {
    const cpuModel = await vl.models.flux("tiny", { device: "cpu", dtype, seed: 5 });
    const simModel = await vl.models.flux("tiny", { device: "sim:a100-80g", dtype, seed: 5 });
    const movedModel = await (await vl.models.flux("tiny", { device: "cpu", dtype, seed: 5 })).to("sim:a100-80g");
    const run = async (m: vl.models.FluxTransformer2DModel, device: string) => {
      const inputs = vl.models.fluxInputs(m, { grid: [4, 6], textLength: 8, seed: 9, device });
      const y = await m.forward(inputs);
      assert.equal(y.device.name, device);
      const v = y.toFloat32Array();
      y.dispose();
      vl.models.disposeInputs(inputs);
      return v;
    };
    const dev = vl.getDevice("sim:a100-80g");
    const t0 = dev.defaultStream.timeMs;
    const onCpu = await run(cpuModel, "cpu");
    const onSim = await run(simModel, "sim:a100-80g");
    const moved = await run(movedModel, "sim:a100-80g");
    assert.ok(onCpu.every(Number.isFinite));
    assert.deepEqual(onSim, onCpu, `${dtype}: created on sim`);
    assert.deepEqual(moved, onCpu, `${dtype}: moved to sim`);
    assert.ok(dev.defaultStream.timeMs > t0, "the forwards took modelled time");
    for (const m of [cpuModel, simModel, movedModel]) m.dispose();
  }
  assert.equal(vl.memory("sim:a100-80g").allocated, 0, "everything on the device was freed");
});

test("pinned and pageable host memory: accounting, and copy times at each rate", async () => {
  const cpuBefore = vl.hostMemory("cpu");
  const host = vl.zeros([16 * MiB], { dtype: "uint8" });
  assert.equal(host.isPinned, false);
  assert.equal(vl.hostMemory("cpu").pageable - cpuBefore.pageable, 16 * MiB);
  const dev = vl.getDevice("sim:rtx4090") as vl.SimDevice;
  const p = dev.profile;

  const { spans: pageableSpans, result: onDev1 } = await vl.traceSpans(dev, () => host.to(dev));
  assert.equal(host.pin(), host, "pin() pins in place and returns the tensor");
  const view = host.reshape([16, MiB]);
  assert.equal(view.isPinned, true, "views share the pinned storage");
  const h = vl.hostMemory("cpu");
  assert.equal(h.pinned - cpuBefore.pinned, 16 * MiB);
  assert.equal(h.pageable, cpuBefore.pageable, "the same bytes moved from pageable to pinned: no second copy");
  assert.equal(h.allocated - cpuBefore.allocated, 16 * MiB);
  const { spans: pinnedSpans, result: onDev2 } = await vl.traceSpans(dev, () => host.to({ device: dev, nonBlocking: true }));

  const [pg] = pageableSpans;
  const [pn] = pinnedSpans;
  assert.equal(pg!.pinned, false);
  assert.equal(pn!.pinned, true);
  const ms = (bytes: number, rate: number) => (p.launchOverhead.value + bytes / rate) * 1e3;
  assert.ok(Math.abs(pg!.endMs - pg!.startMs - ms(16 * MiB, p.hostLinkPageable.value)) < 1e-9, "pageable: launch + bytes / pageable rate");
  assert.ok(Math.abs(pn!.endMs - pn!.startMs - ms(16 * MiB, p.hostLinkPinned.value)) < 1e-9, "pinned: launch + bytes / pinned rate");
  assert.deepEqual(onDev2.toInt32Array(), onDev1.toInt32Array(), "the data arrives either way");

  // device -> host into a pinned buffer
  const back = onDev2.to({ device: "cpu", pin: true });
  assert.equal(back.isPinned, true);
  assert.equal(vl.hostMemory("cpu").pinned - cpuBefore.pinned, 32 * MiB);
  back.dispose();
  view.dispose();
  host.dispose();
  assert.equal(vl.hostMemory("cpu").pinned, cpuBefore.pinned, "disposing unpins");
  assert.throws(() => onDev1.pin(), /only host memory can be pinned; this tensor is on sim:rtx4090/);
  assert.throws(() => onDev1.to({ device: dev, pin: true }), /pin applies to results in host memory/);
  assert.throws(() => vl.hostMemory(dev), /not host memory/);
  onDev1.dispose();
  onDev2.dispose();
});

test("dataless sim models time and memory but has no values", () => {
  const dev = vl.getDevice("sim:h100-sxm:meta") as vl.SimDevice;
  const x = vl.randn([512, 512], { dtype: "bfloat16", device: dev });
  assert.equal(x.native, null);
  assert.equal(vl.memory(dev).allocated, 512 * 512 * 2);
  assert.throws(() => x.toFloat32Array(), /dataless simulated device that models time and memory only; use "sim:h100-sxm" to compute values/);
  assert.throws(() => x.to("cpu"), /holds shapes only/);
  const cpuTensor = vl.ones([1024], { dtype: "float32" });
  const onDev = cpuTensor.to(dev); // data is dropped, the copy is modelled
  assert.equal(onDev.native, null);
  x.dispose();
  onDev.dispose();
  cpuTensor.dispose();
});

test("GEMM math rates: bf16 and fp32 peaks, weight-only at the activation rate, int8 and fp8 dynamic at their peaks", async () => {
  const [M, N, K] = [2048, 4096, 4096];
  const rateOf = async (device: string, scheme: vl.SchemeName | null, dtype: "bfloat16" | "float32" = "bfloat16") => {
    const dev = vl.getDevice(device) as vl.SimDevice;
    const w = vl.randn([N, K], { dtype, device: dev, seed: 1 });
    const weight = scheme ? vl.quantizeTensor(w, scheme) : w;
    const x = vl.randn([M, K], { dtype, device: dev, seed: 2 });
    const { spans, result } = await vl.traceSpans(dev, () => vl.ops.linear(x, weight));
    const gemm = only(spans.filter((s) => s.category === "gemm"));
    result.dispose();
    x.dispose();
    weight.dispose();
    if (weight !== w) w.dispose();
    const computeMs = gemm.endMs - gemm.startMs - dev.profile.launchOverhead.value * 1e3;
    const eff = dev.costModel.gemmEfficiency(M, N, K);
    return { gemm, tflops: (2 * M * N * K) / (computeMs / 1e3) / eff / 1e12 };
  };
  function only<T>(xs: T[]): T {
    assert.equal(xs.length, 1);
    return xs[0]!;
  }
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-6 * b, `${what}: ${a} vs ${b} TFLOP/s`);
  // the peak each GEMM was modelled at (compute time x efficiency), dataless so it is instant
  close((await rateOf("sim:h100-sxm:meta", null)).tflops, 989, "bf16");
  close((await rateOf("sim:h100-sxm:meta", null, "float32")).tflops, 67, "fp32");
  close((await rateOf("sim:h100-sxm:meta", "int8dq")).tflops, 1979, "int8 dynamic");
  close((await rateOf("sim:rtx4090:meta", "fp8dq")).tflops, 330.3, "fp8 dynamic");
  close((await rateOf("sim:a100-80g:meta", "fp8dq")).tflops, 312, "fp8 on an A100 falls back to bf16");
  const wo = await rateOf("sim:h100-sxm:meta", "int8wo");
  close(wo.tflops, 989, "int8 weight-only at the bf16 rate");
  assert.equal(wo.gemm.bytes, M * K * 2 + N * K * 1 + N * 4 + M * N * 2, "reads int8 weights + per-row scales");
  const int4 = await rateOf("sim:h100-sxm:meta", "int4wo");
  assert.equal(int4.gemm.bytes, M * K * 2 + N * K / 2 + 2 * (N * K / 128) * 4 + M * N * 2, "int4 weights, group-128 scales and zero points");
  // on real data the quantized GEMM still computes the cpu's values
  const dev = vl.getDevice("sim:h100-sxm");
  const w = vl.randn([64, 96], { device: dev, seed: 4 });
  const x = vl.randn([8, 96], { device: dev, seed: 5 });
  const q = vl.quantizeTensor(w, "int8dq");
  const y = vl.ops.linear(x, q);
  const wc = vl.randn([64, 96], { seed: 4 });
  const xc = vl.randn([8, 96], { seed: 5 });
  const qc = vl.quantizeTensor(wc, "int8dq");
  const yc = vl.ops.linear(xc, qc);
  assert.deepEqual(y.toFloat32Array(), yc.toFloat32Array());
  for (const t of [w, x, q, y, wc, xc, qc, yc]) t.dispose();
});

test("fusedOp models a group of kernels as one", () => {
  const dev = vl.getDevice("sim:l4:meta") as vl.SimDevice;
  const a = vl.zeros([1024, 1024], { dtype: "bfloat16", device: dev });
  const spans: vl.Span[] = [];
  const off = dev.timeline.subscribe((s) => spans.push(s));
  const y = vl.fusedOp(dev, { op: "fused_gelu_linear", category: "gemm", flops: 2 * 1024 ** 3, bytes: 3 * 1024 * 1024 * 2, rate: "bf16", gemm: { m: 1024, n: 1024, k: 1024 } }, () => {
    const h = vl.ops.matmul(a, a);
    const g = vl.ops.gelu(h);
    h.dispose();
    return g;
  });
  off();
  assert.deepEqual(spans.map((s) => s.op), ["fused_gelu_linear"]);
  const cpuResult = vl.fusedOp(vl.getDevice("cpu"), { op: "x", category: "gemm", flops: 0, bytes: 0, rate: "fp32" }, () => 42);
  assert.equal(cpuResult, 42, "devices that do not model time just run fn");
  a.dispose();
  y.dispose();
});

test("a copy between two simulated devices occupies both, at the slower device's pinned link rate", async () => {
  const a = vl.getDevice("sim:h100-sxm") as vl.SimDevice;
  const b = vl.getDevice("sim:l4") as vl.SimDevice;
  const x = vl.randn([1024, 1024], { device: a, seed: 8 });
  const spansB: vl.Span[] = [];
  const offB = b.timeline.subscribe((s) => spansB.push(s));
  const { spans: spansA, result: y } = await vl.traceSpans(a, () => x.to(b));
  offB();
  const [out] = spansA;
  const [inn] = spansB;
  assert.equal(out!.op, "d2d-out");
  assert.equal(inn!.op, "d2d-in");
  const rate = Math.min(a.profile.hostLinkPinned.value, b.profile.hostLinkPinned.value);
  for (const s of [out!, inn!]) assert.ok(Math.abs(s.endMs - s.startMs - (b.profile.launchOverhead.value + (4 * MiB) / rate) * 1e3) < 1e-9);
  assert.deepEqual(y.toFloat32Array(), x.toFloat32Array());
  x.dispose();
  y.dispose();
});

test("out of memory while moving or building a model leaves it whole and frees the partial copy", async () => {
  const vlx = await import("../../engine/index.js");
  const dev = vlx.getDevice("sim:a100-80g") as InstanceType<typeof vlx.SimDevice>;
  const model = await vlx.models.flux("tiny", { seed: 1 });
  const baseline = dev.memory.stats().allocated;
  dev.setMemoryLimit(baseline + Math.floor(model.numBytes() / 2));
  try {
    await assert.rejects(model.to(dev), /out of memory/);
    assert.equal(dev.memory.stats().allocated, baseline, "the partial copy was freed");
    assert.deepEqual([...new Set([...model.namedTensors()].map(([, t]) => t.device.name))], ["cpu"], "the model stayed whole on cpu");
    const inputs = vlx.models.fluxInputs(model, { grid: [2, 2], textLength: 3 });
    (await model.forward(inputs)).dispose();
    vlx.models.disposeInputs(inputs);
    await assert.rejects(vlx.models.flux("tiny", { device: dev }), /out of memory/);
    assert.equal(dev.memory.stats().allocated, baseline, "a failed construction frees what it made");
  } finally {
    dev.setMemoryLimit(null);
    model.dispose();
  }
});
