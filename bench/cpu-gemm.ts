// CPU matmul: vramlab's GEMM vs onnxruntime-node (MLAS) on the same shapes
// and thread count. Run: `node dist/bench/cpu-gemm.js` (after `npm run build`).
//
// vramlab computes out = a @ W^T with W given as a Linear weight [N,K]
// (transB), packing W on every call. onnxruntime is measured three ways:
//   ort MatMul       MatMul(a, b[K,N]) with b a graph input: MLAS packs b per call
//   ort Gemm transB  Gemm(a, W[N,K], transB=1), W a graph input: same layout as ours
//   ort prepacked    MatMul with b a constant initializer: packed once at load
// "ratio" is vramlab / ort MatMul (the goal is >= 1.0); the prepacked column
// shows ORT's best case, which does no packing inside the timed call.
import * as ort from "onnxruntime-node";
import { native, type NativeStorage } from "../engine/native-binding.js";
import { matmul, gemmInfo } from "../engine/kernels/gemm.js";
import { describeCpu, gitCommit, isoDate, printTable, timeRuns, writeResults, type Timing } from "./bench-util.js";
import { oneNodeModel, OnnxType } from "./onnx-model.js";

interface Shape { name: string; M: number; N: number; K: number }

const SHAPES: Shape[] = [
  { name: "square", M: 1024, N: 3072, K: 3072 },
  { name: "flux qkv (512 tok)", M: 512, N: 3072, K: 3072 },
  { name: "flux ff up", M: 512, N: 12288, K: 3072 },
  { name: "flux ff down", M: 512, N: 3072, K: 12288 },
  { name: "flux single proj_out", M: 512, N: 3072, K: 15360 },
];
// bfloat16 weights (ours only: onnxruntime has no bfloat16 MatMul on CPU).
const BF16_SHAPES: Shape[] = [SHAPES[2], SHAPES[3]];

const threads = native.getNumThreads();

function randomFloats(n: number): Float32Array {
  const x = new Float32Array(n);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s / 2 ** 31 - 1;
  }
  return x;
}
function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return Uint16Array.from(u, (v) => Math.floor((v + 0x7fff + ((v >>> 16) & 1)) / 65536) & 0xffff);
}
function storageOf(data: ArrayBufferView): NativeStorage {
  const s = new native.Storage(data.byteLength);
  native.write(s, 0, data);
  return s;
}
const gflops = (s: Shape, t: Timing) => (2 * s.M * s.N * s.K) / (t.medianMs * 1e6);
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const runsFor = (s: Shape) => (2 * s.M * s.N * s.K > 2e10 ? 5 : 7);

async function timeVramlab(s: Shape, weightDtype: "float32" | "bfloat16"): Promise<Timing> {
  const a = storageOf(randomFloats(s.M * s.K));
  const w32 = randomFloats(s.N * s.K);
  const w = storageOf(weightDtype === "float32" ? w32 : toBf16(w32));
  const out = new native.Storage(s.M * s.N * 4);
  try {
    return await timeRuns(() => matmul(out, "float32", a, "float32", w, weightDtype, null, "float32", s.M, s.N, s.K, true), { runs: runsFor(s) });
  } finally {
    for (const x of [a, w, out]) x.free();
  }
}

type OrtVariant = "matmul" | "gemmTransB" | "prepacked";

async function timeOrt(s: Shape, variant: OrtVariant): Promise<Timing> {
  const a = new ort.Tensor("float32", randomFloats(s.M * s.K), [s.M, s.K]);
  const bDims = variant === "gemmTransB" ? [s.N, s.K] : [s.K, s.N];
  const bData = randomFloats(s.N * s.K);
  const inputs = [{ name: "a", elemType: OnnxType.float, dims: [s.M, s.K] }];
  if (variant !== "prepacked") inputs.push({ name: "b", elemType: OnnxType.float, dims: bDims });
  const model = oneNodeModel({
    node: variant === "gemmTransB"
      ? { opType: "Gemm", inputs: ["a", "b"], outputs: ["y"], intAttributes: { transB: 1 } }
      : { opType: "MatMul", inputs: ["a", "b"], outputs: ["y"] },
    inputs,
    outputs: [{ name: "y", elemType: OnnxType.float, dims: [s.M, s.N] }],
    initializers: variant === "prepacked" ? [{ name: "b", elemType: OnnxType.float, dims: bDims, data: bData }] : [],
  });
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const feeds: Record<string, ort.Tensor> = { a };
  if (variant !== "prepacked") feeds.b = new ort.Tensor("float32", bData, bDims);
  try {
    return await timeRuns(() => session.run(feeds), { runs: runsFor(s) });
  } finally {
    await session.release();
  }
}

// onnxruntime's pool threads spin for a moment after each run; let them go
// idle before timing the other library.
const settle = () => new Promise((r) => setTimeout(r, 200));

interface Row {
  shape: string; M: number; N: number; K: number; weights: string;
  vramlabMs: number; vramlabGflops: number;
  ortMatMulGflops: number | null; ortGemmTransBGflops: number | null; ortPrepackedGflops: number | null;
  /** vramlab / ort MatMul, or for bf16 weights vramlab bf16 / vramlab fp32 */
  ratio: number | null;
  ratioVsPrepacked: number | null;
}

async function main(): Promise<void> {
  const device = describeCpu();
  const blocking = gemmInfo();
  console.log(`cpu-gemm: ${device.cpuModel}, ${device.threads} threads, ${device.cpuLevel} (MR ${blocking.mr} NR ${blocking.nr} KC ${blocking.kc} NC ${blocking.nc} MC ${blocking.mc}), onnxruntime-node ${ort.env.versions.node ?? "?"}`);
  const rows: Row[] = [];
  const fp32Gflops = new Map<string, number>();
  for (const s of SHAPES) {
    const ours = await timeVramlab(s, "float32");
    await settle();
    const ortMatMul = await timeOrt(s, "matmul");
    await settle();
    const ortGemm = await timeOrt(s, "gemmTransB");
    await settle();
    const ortPre = await timeOrt(s, "prepacked");
    await settle();
    const g = gflops(s, ours);
    fp32Gflops.set(s.name, g);
    const row: Row = {
      shape: s.name, M: s.M, N: s.N, K: s.K, weights: "float32",
      vramlabMs: round(ours.medianMs, 2), vramlabGflops: round(g),
      ortMatMulGflops: round(gflops(s, ortMatMul)), ortGemmTransBGflops: round(gflops(s, ortGemm)), ortPrepackedGflops: round(gflops(s, ortPre)),
      ratio: round(g / gflops(s, ortMatMul), 3), ratioVsPrepacked: round(g / gflops(s, ortPre), 3),
    };
    rows.push(row);
    console.log(`  ${s.name} ${s.M}x${s.N}x${s.K}: vramlab ${row.vramlabGflops} GFLOP/s, ort MatMul ${row.ortMatMulGflops}, ort Gemm transB ${row.ortGemmTransBGflops}, ort prepacked ${row.ortPrepackedGflops}`);
  }
  for (const s of BF16_SHAPES) {
    const ours = await timeVramlab(s, "bfloat16");
    const g = gflops(s, ours);
    const fp32 = fp32Gflops.get(s.name) ?? null;
    rows.push({
      shape: s.name, M: s.M, N: s.N, K: s.K, weights: "bfloat16",
      vramlabMs: round(ours.medianMs, 2), vramlabGflops: round(g),
      ortMatMulGflops: null, ortGemmTransBGflops: null, ortPrepackedGflops: null,
      ratio: fp32 ? round(g / fp32, 3) : null, ratioVsPrepacked: null,
    });
    console.log(`  ${s.name} bf16 weights: vramlab ${round(g)} GFLOP/s`);
  }

  const path = writeResults("cpu-gemm", {
    benchmark: "cpu-gemm",
    date: isoDate(),
    commit: gitCommit(),
    device: { ...device, gemm: blocking },
    onnxruntime: { version: ort.env.versions.node ?? null, intraOpNumThreads: threads },
    notes: "GFLOP/s = 2*M*N*K / median wall time. vramlab: out = a @ W^T, W [N,K] (transB), fp32 accumulation, W packed per call. ratio = vramlab / ort MatMul (b a graph input); for bfloat16 weights ratio = vramlab bf16 / vramlab fp32.",
    rows,
  });
  console.log(`\nwrote ${path}\n`);
  printTable(
    ["shape", "M", "N", "K", "weights", "vramlab GFLOP/s", "ort MatMul", "ratio", "ort Gemm transB", "ort prepacked", "vs prepacked"],
    rows.map((r) => [r.shape, r.M, r.N, r.K, r.weights, r.vramlabGflops, r.ortMatMulGflops, r.ratio, r.ortGemmTransBGflops, r.ortPrepackedGflops, r.ratioVsPrepacked]),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
