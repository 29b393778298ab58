// The op table every backend implements. The op layer (engine/ops) checks
// devices, computes shapes and allocates outputs; a backend only runs the
// kernel into tensors that already exist. meta implements every entry as a
// no-op, the sim device will wrap cpu with a cost model, cuda with kernels.
import type { NativeStorage } from "./native-binding.js";
import type { Tensor } from "./tensor.js";
import type { Device } from "./device.js";
import type { DType } from "./dtype.js";

export type QuantMode = "symmetric" | "asymmetric";
export type BinaryOp = "add" | "sub" | "mul" | "div";
/**
 * How an attention operand of [batch, heads, seq, headDim] lies in memory: "BHLD" as torch's SDPA
 * takes it, "BLHD" as a Linear's [batch, seq, heads * headDim] output viewed per head (so attention
 * needs no transposes around it).
 */
export type AttentionLayout = "BHLD" | "BLHD";
export type UnaryOp = "gelu_tanh" | "gelu" | "silu" | "relu" | "neg" | "exp" | "sqrt" | "rsqrt" | "sin" | "cos";

export interface Backend {
  readonly hasData: boolean;
  /**
   * Storage for nbytes; null where the device holds no data (meta). A device with a capacity
   * (sim) throws an out-of-memory error here, before anything is recorded; `owner` names the
   * tensor for that message.
   */
  allocate(nbytes: number, zero: boolean, owner?: string): NativeStorage | null;
  release(storage: NativeStorage | null): void;
  /**
   * Returns cached, unused memory to the system (torch.cuda.empty_cache): the bytes returned. Optional:
   * devices without an allocator cache have nothing to return.
   */
  emptyCache?(): number;

  write(t: Tensor, byteOffset: number, bytes: Uint8Array): void;
  read(t: Tensor, byteOffset: number, nbytes: number): Uint8Array;
  /** Raw byte copy between tensors of this device. */
  copyBytes(dst: Tensor, dstByteOffset: number, src: Tensor, srcByteOffset: number, nbytes: number): void;
  cast(dst: Tensor, dstOffset: number, src: Tensor, srcOffset: number, n: number, saturate: boolean): void;

  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, N: number, K: number, transB: boolean): void;
  binary(op: BinaryOp, out: Tensor, a: Tensor, aOffset: number, aStrides: number[], b: Tensor, bOffset: number, bStrides: number[], shape: number[]): void;
  unary(op: UnaryOp, out: Tensor, x: Tensor): void;
  /** torch.clamp(x, lo, hi); NaN stays NaN (optional: a tracing backend may not record it) */
  clamp?(out: Tensor, x: Tensor, lo: number, hi: number): void;
  scalarOp(op: BinaryOp, out: Tensor, x: Tensor, scalar: number, scalarFirst: boolean): void;
  modulate(out: Tensor, x: Tensor, mod: Tensor, batch: number, tokens: number, dim: number, scaleOffset: number, shiftOffset: number, modStride: number): void;
  /**
   * out = x + gate * y in one pass (gate: gateOffset + b * modStride of mod), the product rounded to
   * gatedDtype as a separate mul would. Optional: ops/math.ts falls back to binary mul and add.
   */
  gatedResidual?(out: Tensor, x: Tensor, y: Tensor, mod: Tensor, gatedDtype: DType, batch: number, tokens: number, dim: number, gateOffset: number, modStride: number): void;
  layerNorm(out: Tensor, x: Tensor, weight: Tensor | null, bias: Tensor | null, rows: number, cols: number, eps: number): void;
  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, rows: number, cols: number, eps: number): void;
  softmax(out: Tensor, x: Tensor, rows: number, cols: number): void;
  sdpa(out: Tensor, q: Tensor, k: Tensor, v: Tensor, batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number, layout: AttentionLayout): void;
  rope(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor, batch: number, heads: number, seq: number, headDim: number, layout: AttentionLayout): void;
  /** Per-group scales (and zero points) and quantized values of src viewed as [rows, cols]. */
  quantize(src: Tensor, rows: number, cols: number, groupSize: number, qdata: Tensor, scale: Tensor, zero: Tensor | null, mode: QuantMode, qmin: number, qmax: number): void;
  dequantize(qdata: Tensor, scale: Tensor, zero: Tensor | null, rows: number, cols: number, groupSize: number, scaleRowStride: number, out: Tensor): void;
  /** out = rowScale[m] * (a @ dequant(B)^T) + bias, B [N, K] quantized. */
  matmulQuantB(out: Tensor, a: Tensor, aRowScale: Tensor | null, qdata: Tensor, scale: Tensor, zero: Tensor | null, scaleRowStride: number, groupSize: number, bias: Tensor | null, M: number, N: number, K: number): void;
  /** out = int32(xq @ wq^T) * xScale[m] * wScale[n] + bias. */
  int8Gemm(out: Tensor, xq: Tensor, xScale: Tensor, wq: Tensor, wScale: Tensor, wScaleStride: number, bias: Tensor | null, M: number, N: number, K: number): void;
  copyStrided(dst: Tensor, dstOffset: number, dstStrides: number[], src: Tensor, srcOffset: number, srcStrides: number[], shape: number[]): void;
  fill(dst: Tensor, offset: number, n: number, value: number): void;

  // ---- optional: backends whose memory the host cannot address, with fp8 tensor cores (cuda) ----

  /** Copies nbytes from src to dst (one of them on this backend's device); nonBlocking queues it when the host side is pinned. */
  transfer?(dst: Tensor, src: Tensor, nbytes: number, nonBlocking: boolean): void;
  /** e4m3 x e4m3 GEMM, fp32 accumulation: out = float32(xq @ wq^T) * xScale[m] (xScale[0] when xScaleShared) * wScale[n * wScaleStride] + bias */
  fp8Gemm?(out: Tensor, xq: Tensor, xScale: Tensor, xScaleShared: boolean, wq: Tensor, wScale: Tensor, wScaleStride: number, bias: Tensor | null, M: number, N: number, K: number): void;

  // ---- optional: Linear weights prepacked once for the GEMM (cpu) -----------------------

  /** float32 elements the prepacked form of a Linear weight [N, K] takes. */
  prepackedWeightElements?(N: number, K: number): number;
  /** Writes the prepacked form of weight [N, K] into `packed` (float32, prepackedWeightElements long). */
  prepackWeight?(packed: Tensor, weight: Tensor, N: number, K: number): void;
  /** matmul(out, a, weight, bias, M, N, K, transB = true) reading the weight's panels from `packed`; bit-identical to it. */
  matmulPrepacked?(out: Tensor, a: Tensor, weight: Tensor, packed: Tensor, bias: Tensor | null, M: number, N: number, K: number): void;
  /**
   * Calls onWrite the first time after this that a kernel of this backend writes into `t`'s
   * storage (write, copies, casts, fills, op outputs) or the storage is released; returns a
   * function that stops watching.
   */
  watchWrites?(t: Tensor, onWrite: () => void): () => void;

  // ---- optional cost hooks: devices that model time (sim) implement them ----------------

  /** A copy between two devices (Tensor.to) that involves this device, called on both devices' backends. */
  modelTransfer?(transfer: TransferInfo): void;
  /**
   * Runs fn, whose kernels together form one fused kernel on a real accelerator (e.g. an fp8
   * GEMM that the cpu computes as decode + fp32 GEMM): the device models `op` once instead of
   * each kernel fn runs.
   */
  fused?<T>(op: FusedOp, fn: () => T): T;
}

/** A device-to-device copy made by Tensor.to(). */
export interface TransferInfo {
  src: Device;
  dst: Device;
  bytes: number;
  /** the host-side tensor is pinned (page-locked); false for pageable or when neither side is a host */
  hostPinned: boolean;
  /** the caller does not wait for the copy (to({nonBlocking: true})) */
  nonBlocking: boolean;
  /** memory attribution name of the moved tensor */
  owner: string;
}

/** What a fused kernel costs: arithmetic at a math rate, and device-memory traffic. */
export interface FusedOp {
  op: string;
  category: "gemm" | "attention" | "elementwise" | "norm" | "layout" | "cast" | "quant";
  flops: number;
  bytes: number;
  /** which matmul peak applies: fp32, bf16 (also fp16), fp8 or int8 */
  rate: "fp32" | "bf16" | "fp8" | "int8";
  /** GEMM problem size, for the shape-dependent efficiency */
  gemm?: { m: number; n: number; k: number };
}

/** Runs fn as one fused kernel `op` on devices that model time; elsewhere simply runs fn. */
export function fusedOp<T>(device: Device, op: FusedOp, fn: () => T): T {
  return device.backend.fused ? device.backend.fused(op, fn) : fn();
}
