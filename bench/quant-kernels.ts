// Quantization kernels on CPU: matmulQuantB per weight format and int8Gemm,
// against the float32 matmul (transB, W [N,K]) on the same shapes and thread
// count. Run: `node dist/bench/quant-kernels.js` (after `npm run build`).
//
// matmulQuantB dequantizes blocks of W into a float32 scratch and runs the
// float32 GEMM on them, so at many tokens it costs the float32 GEMM plus the
// dequantization; at one token (a matrix-vector product bound by reading W)
// it reads 1-4x fewer weight bytes than float32. int8Gemm includes packing W
// (it packs once per call) and the float32 epilogue; the activations are
// given already quantized (the per-token quantize is timed on its own row).
// Cases are timed interleaved (bench-util timeInterleaved). GFLOP/s counts
// 2*M*N*K operations for every row; "vs fp32" is fp32 time / case time.
import { native, type NativeStorage } from "../engine/native-binding.js";
import { byteSize, type DType } from "../engine/dtype.js";
import { matmul } from "../engine/kernels/gemm.js";
import { int8Gemm, int8GemmInfo, matmulQuantB, quantize, type QuantMode } from "../engine/kernels/quant.js";
import { describeCpu, gitCommit, isoDate, printTable, timeInterleaved, writeResults, type Timing } from "./bench-util.js";

interface Shape { name: string; M: number; N: number; K: number }
const SHAPES: Shape[] = [
  { name: "flux qkv (512 tok)", M: 512, N: 3072, K: 3072 },
  { name: "one token", M: 1, N: 3072, K: 3072 },
];

interface WeightFormat { name: string; qdtype: DType; mode: QuantMode; qmin: number; qmax: number; group: number | "row" }
const FORMATS: WeightFormat[] = [
  { name: "int8wo (row)", qdtype: "int8", mode: "symmetric", qmin: -128, qmax: 127, group: "row" },
  { name: "int4wo g128", qdtype: "int4", mode: "asymmetric", qmin: 0, qmax: 15, group: 128 },
  { name: "int4wo g32", qdtype: "int4", mode: "asymmetric", qmin: 0, qmax: 15, group: 32 },
  { name: "fp8wo e4m3 (row)", qdtype: "float8_e4m3fn", mode: "symmetric", qmin: 0, qmax: 0, group: "row" },
  { name: "fp6_e3m2 (row)", qdtype: "fp6_e3m2", mode: "symmetric", qmin: 0, qmax: 0, group: "row" },
  { name: "fp5_e2m2 (row)", qdtype: "fp5_e2m2", mode: "symmetric", qmin: 0, qmax: 0, group: "row" },
  { name: "fp4_e2m1 (row)", qdtype: "fp4_e2m1", mode: "symmetric", qmin: 0, qmax: 0, group: "row" },
];

interface Row { shape: string; M: number; N: number; K: number; kernel: string; weightBytes: number; timing: Timing; gflops: number; vsFp32: number }

async function benchShape(shape: Shape): Promise<Row[]> {
  const { M, N, K } = shape;
  const owned: NativeStorage[] = [];
  const alloc = (bytes: number) => { const s = new native.Storage(bytes); owned.push(s); return s; };
  try {
    const a = alloc(M * K * 4), w = alloc(N * K * 4), out = alloc(M * N * 4);
    native.randomFill(a, M * K, 1, 0, 0, 1);
    native.randomFill(w, N * K, 2, 0, 0, 1);

    const fns: Record<string, () => void> = {};
    const weightBytes: Record<string, number> = { "fp32 matmul": N * K * 4 };
    fns["fp32 matmul"] = () => matmul(out, "float32", a, "float32", w, "float32", null, "float32", M, N, K, true);
    for (const f of FORMATS) {
      const group = f.group === "row" ? K : f.group;
      const groups = (N * K) / group;
      const q = alloc(byteSize(f.qdtype, N * K)), scale = alloc(groups * 4);
      const zero = f.mode === "asymmetric" ? alloc(groups * 4) : null;
      quantize(w, "float32", N, K, group, q, f.qdtype, scale, zero, f.mode, f.qmin, f.qmax);
      weightBytes[f.name] = q.nbytes + scale.nbytes + (zero?.nbytes ?? 0);
      fns[f.name] = () => matmulQuantB(out, "float32", a, "float32", null, q, f.qdtype, scale, zero, K / group, group, null, "float32", M, N, K);
    }
    const xq = alloc(M * K), xScale = alloc(M * 4), wq = alloc(N * K), wScale = alloc(N * 4);
    quantize(a, "float32", M, K, K, xq, "int8", xScale, null, "symmetric", -127, 127);
    quantize(w, "float32", N, K, K, wq, "int8", wScale, null, "symmetric", -128, 127);
    const int8Name = `int8Gemm (${int8GemmInfo().path})`;
    weightBytes[int8Name] = N * K + N * 4;
    fns[int8Name] = () => int8Gemm(out, "float32", xq, xScale, wq, wScale, 1, null, "float32", M, N, K);
    weightBytes["int8 act quantize"] = 0;
    fns["int8 act quantize"] = () => quantize(a, "float32", M, K, K, xq, "int8", xScale, null, "symmetric", -127, 127);

    const runs = M === 1 ? 21 : 7;
    const timings = await timeInterleaved(fns, { warmup: 2, runs });
    const fp32 = timings["fp32 matmul"].medianMs;
    const flops = 2 * M * N * K;
    return Object.entries(timings).map(([kernel, timing]) => ({
      shape: shape.name, M, N, K, kernel, weightBytes: weightBytes[kernel] ?? 0, timing,
      gflops: kernel === "int8 act quantize" ? 0 : flops / (timing.medianMs * 1e6),
      vsFp32: fp32 / timing.medianMs,
    }));
  } finally {
    for (const s of owned) s.free();
  }
}

async function main(): Promise<void> {
  const device = describeCpu();
  console.log(`quant kernels: ${device.cpuModel}, ${device.threads} threads, level ${device.cpuLevel}, int8 path ${int8GemmInfo().path}`);
  const rows: Row[] = [];
  for (const shape of SHAPES) rows.push(...(await benchShape(shape)));
  printTable(
    ["shape", "kernel", "weight MB", "median ms", "GFLOP/s", "vs fp32"],
    rows.map((r) => [r.shape, r.kernel, +(r.weightBytes / 2 ** 20).toFixed(2), +r.timing.medianMs.toFixed(3),
      r.gflops ? +r.gflops.toFixed(1) : null, +r.vsFp32.toFixed(2)]),
  );
  const path = writeResults("quant-kernels", { date: isoDate(), commit: gitCommit(), device, int8Path: int8GemmInfo().path, rows });
  console.log(`results: ${path}`);
}

await main();
