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
// Cases are timed interleaved (bench-util timeInterleaved), so outside load
// on the machine hits all of them alike. The one-token row is a
// matrix-vector product (our dot-product path); its speed is set by memory
// bandwidth, not by the FMA units.
import * as ort from "onnxruntime-node";
import { native, type NativeStorage } from "../engine/native-binding.js";
import { matmul, gemmInfo } from "../engine/kernels/gemm.js";
import { describeCpu, gitCommit, isoDate, printTable, timeInterleaved, writeResults, type Timing } from "./bench-util.js";
import { oneNodeModel, OnnxType } from "./onnx-model.js";

interface Shape { name: string; M: number; N: number; K: number }

const SHAPES: Shape[] = [
  { name: "square", M: 1024, N: 3072, K: 3072 },
  { name: "flux qkv (512 tok)", M: 512, N: 3072, K: 3072 },
  { name: "flux ff up", M: 512, N: 12288, K: 3072 },
  { name: "flux ff down", M: 512, N: 3072, K: 12288 },
  { name: "flux single proj_out", M: 512, N: 3072, K: 15360 },
  // One token (the batch) through a double block's modulation Linear: a
  // matrix-vector product, bound by reading the weight from memory.
  { name: "flux modulation (1 tok)", M: 1, N: 18432, K: 3072 },
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
const bestGflops = (s: Shape, t: Timing) => (2 * s.M * s.N * s.K) / (t.minMs * 1e6);
const round = (x: number, digits = 1) => Number(x.toFixed(digits));
const runsFor = (s: Shape) => (2 * s.M * s.N * s.K > 2e10 ? 5 : 9);

/** A vramlab matmul ready to run: out = a @ W^T, W [N,K] in `weightDtype`. */
function vramlabCase(s: Shape, a: Float32Array, w: Float32Array, weightDtype: "float32" | "bfloat16") {
  const sa = storageOf(a), sw = storageOf(weightDtype === "float32" ? w : toBf16(w));
  const out = new native.Storage(s.M * s.N * 4);
  return {
    run: () => matmul(out, "float32", sa, "float32", sw, weightDtype, null, "float32", s.M, s.N, s.K, true),
    dispose: () => { for (const x of [sa, sw, out]) x.free(); },
  };
}

type OrtVariant = "matmul" | "gemmTransB" | "prepacked";

/** An onnxruntime session for one variant (see the file comment), created once. */
async function ortCase(s: Shape, variant: OrtVariant, a: Float32Array, b: Float32Array) {
  const bDims = variant === "gemmTransB" ? [s.N, s.K] : [s.K, s.N];
  const inputs = [{ name: "a", elemType: OnnxType.float, dims: [s.M, s.K] }];
  if (variant !== "prepacked") inputs.push({ name: "b", elemType: OnnxType.float, dims: bDims });
  const model = oneNodeModel({
    node: variant === "gemmTransB"
      ? { opType: "Gemm", inputs: ["a", "b"], outputs: ["y"], intAttributes: { transB: 1 } }
      : { opType: "MatMul", inputs: ["a", "b"], outputs: ["y"] },
    inputs,
    outputs: [{ name: "y", elemType: OnnxType.float, dims: [s.M, s.N] }],
    initializers: variant === "prepacked" ? [{ name: "b", elemType: OnnxType.float, dims: bDims, data: b }] : [],
  });
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    // Pool threads that spin after a run would steal a core from the next
    // timed call (ours or another session's); one large op per run gains
    // nothing from spinning.
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  });
  const feeds: Record<string, ort.Tensor> = { a: new ort.Tensor("float32", a, [s.M, s.K]) };
  if (variant !== "prepacked") feeds.b = new ort.Tensor("float32", b, bDims);
  return { run: () => session.run(feeds), dispose: () => session.release() };
}

// A short pause between timed calls, so each starts on an idle machine.
const PAUSE_MS = 50;

interface Row {
  shape: string; M: number; N: number; K: number; weights: string;
  /** median wall time of vramlab's matmul, and GFLOP/s from the median and from the fastest run */
  vramlabMs: number; vramlabGflops: number; vramlabBestGflops: number;
  ortMatMulGflops: number | null; ortGemmTransBGflops: number | null; ortPrepackedGflops: number | null;
  ortMatMulBestGflops: number | null;
  /** vramlab / ort MatMul, or for bf16 weights vramlab bf16 / vramlab fp32 */
  ratio: number | null;
  ratioVsPrepacked: number | null;
}

async function main(): Promise<void> {
  const device = describeCpu();
  const blocking = gemmInfo();
  console.log(`cpu-gemm: ${device.cpuModel}, ${device.threads} threads, ${device.cpuLevel} (MR ${blocking.mr} NR ${blocking.nr} KC ${blocking.kc} NC ${blocking.nc} MC ${blocking.mc}), onnxruntime-node ${ort.env.versions.node ?? "?"}`);
  const rows: Row[] = [];
  for (const s of SHAPES) {
    // The timing does not depend on the values, so all cases share one A and one B.
    const a = randomFloats(s.M * s.K), b = randomFloats(s.N * s.K);
    const ours = vramlabCase(s, a, b, "float32");
    const orts = {
      matmul: await ortCase(s, "matmul", a, b),
      gemmTransB: await ortCase(s, "gemmTransB", a, b),
      prepacked: await ortCase(s, "prepacked", a, b),
    };
    const t = await timeInterleaved({
      vramlab: ours.run,
      ortMatMul: orts.matmul.run,
      ortGemmTransB: orts.gemmTransB.run,
      ortPrepacked: orts.prepacked.run,
    }, { runs: runsFor(s), pauseMs: PAUSE_MS });
    ours.dispose();
    for (const o of Object.values(orts)) await o.dispose();
    const g = gflops(s, t.vramlab);
    const row: Row = {
      shape: s.name, M: s.M, N: s.N, K: s.K, weights: "float32",
      vramlabMs: round(t.vramlab.medianMs, 2), vramlabGflops: round(g), vramlabBestGflops: round(bestGflops(s, t.vramlab)),
      ortMatMulGflops: round(gflops(s, t.ortMatMul)), ortGemmTransBGflops: round(gflops(s, t.ortGemmTransB)), ortPrepackedGflops: round(gflops(s, t.ortPrepacked)),
      ortMatMulBestGflops: round(bestGflops(s, t.ortMatMul)),
      ratio: round(g / gflops(s, t.ortMatMul), 3), ratioVsPrepacked: round(g / gflops(s, t.ortPrepacked), 3),
    };
    rows.push(row);
    console.log(`  ${s.name} ${s.M}x${s.N}x${s.K}: vramlab ${row.vramlabGflops} GFLOP/s, ort MatMul ${row.ortMatMulGflops}, ort Gemm transB ${row.ortGemmTransBGflops}, ort prepacked ${row.ortPrepackedGflops}`);
  }
  for (const s of BF16_SHAPES) {
    const a = randomFloats(s.M * s.K), b = randomFloats(s.N * s.K);
    const bf16 = vramlabCase(s, a, b, "bfloat16"), fp32 = vramlabCase(s, a, b, "float32");
    const t = await timeInterleaved({ bf16: bf16.run, fp32: fp32.run }, { runs: runsFor(s) });
    bf16.dispose();
    fp32.dispose();
    const g = gflops(s, t.bf16);
    rows.push({
      shape: s.name, M: s.M, N: s.N, K: s.K, weights: "bfloat16",
      vramlabMs: round(t.bf16.medianMs, 2), vramlabGflops: round(g), vramlabBestGflops: round(bestGflops(s, t.bf16)),
      ortMatMulGflops: null, ortGemmTransBGflops: null, ortPrepackedGflops: null, ortMatMulBestGflops: null,
      ratio: round(g / gflops(s, t.fp32), 3), ratioVsPrepacked: null,
    });
    console.log(`  ${s.name} bf16 weights: vramlab ${round(g)} GFLOP/s (fp32 weights in the same rounds: ${round(gflops(s, t.fp32))})`);
  }

  const path = writeResults("cpu-gemm", {
    benchmark: "cpu-gemm",
    date: isoDate(),
    commit: gitCommit(),
    device: { ...device, gemm: blocking },
    onnxruntime: { version: ort.env.versions.node ?? null, intraOpNumThreads: threads },
    notes: "GFLOP/s = 2*M*N*K / median wall time (Best: fastest run). Each round runs every case once, interleaved. vramlab: out = a @ W^T, W [N,K] (transB), fp32 accumulation, W packed per call. ratio = vramlab / ort MatMul (b a graph input); for bfloat16 weights ratio = vramlab bf16 / vramlab fp32 weights, timed in the same rounds.",
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
