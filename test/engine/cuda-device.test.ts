// cuda:N on a real GPU: the runtime pieces (caching allocator on cudaMalloc,
// streams, events, pinned async copies) and every kernel against the cpu
// backend: casts and quantization bit for bit, the float ops within a
// tolerance stated per op. On a machine without a GPU the only test checks
// that asking for cuda fails with the reason (the other tests are skipped
// with that reason, since there is nothing to run them on).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";
import { native } from "../../engine/native-binding.js";
import { DTYPES, byteSize, dtypeCode, type DType } from "../../engine/dtype.js";
import { cast } from "../../engine/kernels/cast.js";
import type { CudaDevice } from "../../engine/backends/cuda.js";
import "../../engine/kernels/cuda.js";
import { seededRandom } from "./casts-helpers.js";

const info = native.cudaInfo();
const gpu = info.available ? "" : `no GPU here: ${info.reason ?? "no CUDA device"}`;

test("without a GPU, cuda:0 fails with the driver's reason", { skip: info.available ? "a GPU is present" : false }, () => {
  assert.throws(() => vl.getDevice("cuda:0"), /cuda:0 is not available: no CUDA device/);
});

function dev(): CudaDevice {
  return vl.getDevice("cuda:0") as CudaDevice;
}
const c = () => native as Required<typeof native>;

test("device properties, self test and the caching allocator on cudaMalloc", { skip: gpu }, () => {
  const d = dev();
  assert.match(d.properties.computeCapability, /^\d+\.\d+$/);
  assert.equal(c().cudaSelfTest(1000, 0.5), 500);
  const before = d.allocatorStats();
  const a = vl.zeros([1000], { device: d }); // 4000 bytes -> a 4096-byte block
  const after = d.allocatorStats();
  assert.equal(after.allocated - before.allocated, 4096);
  assert.ok(after.reserved >= after.allocated);
  a.dispose();
  const b = vl.zeros([1000], { device: d });
  assert.equal(d.allocatorStats().cacheHits, after.cacheHits + 1, "the freed block was reused");
  b.dispose();
  d.emptyCache();
  assert.deepEqual(vl.zeros([3], { device: d }).toFloat32Array(), new Float32Array(3));
});

test("events order two streams without host synchronisation; pinned H2D runs async", { skip: gpu }, () => {
  const n = 1 << 24;
  const host = new native.Storage(n * 4, false);
  native.write(host, 0, new Float32Array(n).fill(3));
  c().cudaHostRegister(host);
  try {
    const s1 = c().cudaStreamCreate(0), s2 = c().cudaStreamCreate(0);
    const g = new (c().CudaStorage)(n * 4, false, 0, s1);
    const out = new (c().CudaStorage)(n * 4, false, 0, s2);
    const e0 = c().cudaEventCreate(true), e1 = c().cudaEventCreate(true);
    c().cudaEventRecord(e0, s1);
    c().cudaCopyH2D(g, 0, host, 0, n * 4, s1, false);
    c().cudaEventRecord(e1, s1);
    c().cudaStreamWaitEvent(s2, e1);
    g.recordStream(s2);
    c().cudaCopyD2D(out, 0, g, 0, n * 4, s2);
    const back = new Float32Array(c().cudaRead(out, 0, 16, s2));
    assert.deepEqual([...back], [3, 3, 3, 3]);
    c().cudaEventSynchronize(e1);
    const ms = c().cudaEventElapsed(e0, e1);
    const gbps = (n * 4) / (ms / 1000) / 1e9;
    assert.ok(gbps > 5, `pinned H2D ran at ${gbps.toFixed(1)} GB/s`);
    g.free();
    out.free();
  } finally {
    c().cudaHostUnregister(host);
    host.free();
  }
});

test("cast kernel: bit-identical to the cpu cast for every 16-bit pattern into every dtype", { skip: gpu }, () => {
  const d = dev();
  const n = 1 << 16;
  const src16 = new Uint8Array(Uint16Array.from({ length: n }, (_, i) => i).buffer);
  for (const sd of ["float16", "bfloat16"] as const) {
    const gs = new (c().CudaStorage)(src16.length, false, 0, d.backend.stream);
    c().cudaWrite(gs, 0, src16, d.backend.stream);
    const hs = new native.Storage(src16.length, false);
    native.write(hs, 0, src16);
    for (const dd of DTYPES) {
      for (const sat of [false, true]) {
        const nb = byteSize(dd, n + 3);
        const hd = new native.Storage(nb, true);
        const gd = new (c().CudaStorage)(nb, true, 0, d.backend.stream);
        cast(hs, sd, 0, hd, dd, 3, n, sat);
        c().cudaCast(gs, dtypeCode(sd), 0, gd, dtypeCode(dd), 3, n, sat, d.backend.stream);
        const want = new Uint8Array(native.read(hd, 0, nb));
        const got = new Uint8Array(c().cudaRead(gd, 0, nb, d.backend.stream));
        assert.equal(Buffer.compare(Buffer.from(want), Buffer.from(got)), 0, `${sd} -> ${dd} saturate=${sat}`);
        hd.free();
        gd.free();
      }
    }
    gs.free();
    hs.free();
  }
});

function randomTensor(shape: number[], seed: number, device: string | vl.Device, dtype: DType = "float32"): vl.Tensor {
  const r = new vl.Random(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return vl.tensor(Float32Array.from({ length: n }, () => r.normal()), { shape, device }).to({ dtype });
}
function maxRelErr(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1e-3, Math.abs(b[i]!)));
  return m;
}

test("quantize / dequantize: codes and scales bit-identical to the cpu for every format", { skip: gpu }, () => {
  const cases: { qd: DType; mode: "symmetric" | "asymmetric"; qmin: number; qmax: number; group: number }[] = [
    { qd: "int8", mode: "symmetric", qmin: -128, qmax: 127, group: 256 },
    { qd: "int4", mode: "asymmetric", qmin: 0, qmax: 15, group: 32 },
    { qd: "float8_e4m3fn", mode: "symmetric", qmin: 0, qmax: 0, group: 256 },
    { qd: "fp6_e3m2", mode: "symmetric", qmin: 0, qmax: 0, group: 64 },
    { qd: "fp5_e2m2", mode: "symmetric", qmin: 0, qmax: 0, group: 128 },
    { qd: "fp4_e2m1", mode: "symmetric", qmin: 0, qmax: 0, group: 32 },
  ];
  const rows = 64, cols = 256;
  for (const k of cases) {
    const out: Record<string, Uint8Array[]> = {};
    for (const device of ["cpu", "cuda:0"]) {
      const x = randomTensor([rows, cols], 7, device, "bfloat16");
      const q = vl.Tensor.empty([rows, cols], k.qd, device);
      const s = vl.Tensor.empty([rows, cols / k.group], "float32", device);
      const z = k.mode === "asymmetric" ? vl.Tensor.empty([rows, cols / k.group], "float32", device) : null;
      x.device.backend.quantize(x, rows, cols, k.group, q, s, z, k.mode, k.qmin, k.qmax);
      const deq = vl.Tensor.empty([rows, cols], "float32", device);
      x.device.backend.dequantize(q, s, z, rows, cols, k.group, cols / k.group, deq);
      out[device] = [vl.readBytes(q), vl.readBytes(s), z ? vl.readBytes(z) : new Uint8Array(), vl.readBytes(deq)];
      for (const t of [x, q, s, deq, ...(z ? [z] : [])]) t.dispose();
    }
    out["cpu"]!.forEach((b, i) => assert.equal(Buffer.compare(Buffer.from(b), Buffer.from(out["cuda:0"]![i]!)), 0, `${k.qd}: part ${i}`));
  }
});

test("float ops match the cpu backend (bf16 inputs, fp32 accumulation)", { skip: gpu }, () => {
  const run = (device: string) => {
    const x = randomTensor([2, 96, 256], 1, device, "bfloat16");
    const w = randomTensor([384, 256], 2, device, "bfloat16");
    const b = randomTensor([384], 3, device, "bfloat16");
    const y = vl.ops.linear(x, w, b);
    const g = vl.ops.gelu(y);
    const n = vl.ops.layerNorm(g, null, null, 1e-6);
    const res = n.toFloat32Array();
    for (const t of [x, w, b, y, g, n]) t.dispose();
    return res;
  };
  const err = maxRelErr(run("cuda:0"), run("cpu"));
  assert.ok(err < 2e-2, `max relative error ${err} (bf16 rounding of the output allows ~1e-2)`);
});

test("Flux tiny forward on cuda matches cpu for bf16 and every quantization scheme", { skip: gpu }, async () => {
  for (const scheme of ["none", ...vl.quant.SCHEME_NAMES] as const) {
    const outs: Float32Array[] = [];
    for (const device of ["cpu", "cuda:0"]) {
      const model = await vl.models.flux("tiny", { seed: 8, device, dtype: "bfloat16" });
      if (scheme !== "none") vl.quantize(model, { scheme, minElements: 0, ...(scheme === "int4wo" ? { groupSize: 32 } : {}) });
      const inputs = vl.models.fluxInputs(model, { grid: [4, 4], textLength: 5, seed: 2, device, dtype: "bfloat16" });
      const out = await model.forward(inputs);
      outs.push(out.toFloat32Array());
      out.dispose();
      model.dispose();
    }
    const err = maxRelErr(outs[1]!, outs[0]!);
    assert.ok(err < 0.1, `${scheme}: max relative error ${err} vs cpu`);
  }
});
