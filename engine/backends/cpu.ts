// The cpu backend: every op runs the addon's CPU kernels on host storage.
import { native, type NativeStorage } from "../native-binding.js";
import type { AttentionLayout, Backend, BinaryOp, QuantMode, UnaryOp } from "../backend.js";
import * as quant from "../kernels/quant.js";
import type { Tensor } from "../tensor.js";
import type { DType } from "../dtype.js";
import { cast } from "../kernels/cast.js";
import { matmul, matmulPackedWeight, packWeight, packedWeightFloats } from "../kernels/gemm.js";
import { binary, gatedResidual, modulate, scalarOp, unary } from "../kernels/elementwise.js";
import { layerNorm, rmsNorm, softmax } from "../kernels/norm.js";
import { rope, sdpa } from "../kernels/attention.js";
import { copyStrided, fill } from "../kernels/layout.js";
import { clamp } from "../kernels/clamp.js";

function s(t: Tensor): NativeStorage {
  const n = t.native;
  if (!n) throw new Error(`${t} has no host data`);
  return n;
}
function opt(t: Tensor | null): NativeStorage | null {
  return t ? s(t) : null;
}

// Storages with a derived copy (a prepacked weight) that a write or a free must invalidate.
const writeWatchers = new Map<NativeStorage, Set<() => void>>();

function notifyWatchers(n: NativeStorage): void {
  if (writeWatchers.size === 0) return;
  const watchers = writeWatchers.get(n);
  if (!watchers) return;
  writeWatchers.delete(n);
  for (const fn of watchers) fn();
}

/** The storage a kernel is about to write into; tells its watchers first. */
function written(t: Tensor): NativeStorage {
  const n = s(t);
  notifyWatchers(n);
  return n;
}

export class HostBackend implements Backend {
  readonly hasData = true;

  allocate(nbytes: number, zero: boolean): NativeStorage {
    return new native.Storage(nbytes, zero);
  }
  release(storage: NativeStorage | null): void {
    if (!storage) return;
    notifyWatchers(storage);
    storage.free();
  }
  /** The host block cache's freed blocks (engine/native/src/host_block_cache.h). */
  emptyCache(): number {
    return native.emptyHostCache();
  }
  write(t: Tensor, byteOffset: number, bytes: Uint8Array): void {
    native.write(written(t), byteOffset, bytes);
  }
  read(t: Tensor, byteOffset: number, nbytes: number): Uint8Array {
    return new Uint8Array(native.read(s(t), byteOffset, nbytes));
  }
  copyBytes(dst: Tensor, dstByteOffset: number, src: Tensor, srcByteOffset: number, nbytes: number): void {
    native.copyBytes(written(dst), dstByteOffset, s(src), srcByteOffset, nbytes);
  }
  cast(dst: Tensor, dstOffset: number, src: Tensor, srcOffset: number, n: number, saturate: boolean): void {
    cast(s(src), src.dtype, srcOffset, written(dst), dst.dtype, dstOffset, n, saturate);
  }
  matmul(out: Tensor, a: Tensor, b: Tensor, bias: Tensor | null, M: number, N: number, K: number, transB: boolean): void {
    matmul(written(out), out.dtype, s(a), a.dtype, s(b), b.dtype, opt(bias), bias?.dtype ?? "float32", M, N, K, transB);
  }
  binary(op: BinaryOp, out: Tensor, a: Tensor, aOffset: number, aStrides: number[], b: Tensor, bOffset: number, bStrides: number[], shape: number[]): void {
    binary(op, written(out), out.dtype, s(a), a.dtype, aOffset, aStrides, s(b), b.dtype, bOffset, bStrides, shape);
  }
  unary(op: UnaryOp, out: Tensor, x: Tensor): void {
    unary(op, written(out), out.dtype, s(x), x.dtype, x.numel);
  }
  clamp(out: Tensor, x: Tensor, lo: number, hi: number): void {
    clamp(written(out), out.dtype, s(x), x.dtype, x.numel, lo, hi);
  }
  scalarOp(op: BinaryOp, out: Tensor, x: Tensor, scalar: number, scalarFirst: boolean): void {
    scalarOp(op, written(out), out.dtype, s(x), x.dtype, scalar, x.numel, scalarFirst);
  }
  modulate(out: Tensor, x: Tensor, mod: Tensor, batch: number, tokens: number, dim: number, scaleOffset: number, shiftOffset: number, modStride: number): void {
    modulate(written(out), out.dtype, s(x), x.dtype, s(mod), s(mod), mod.dtype, batch, tokens, dim, scaleOffset, shiftOffset, modStride);
  }
  gatedResidual(out: Tensor, x: Tensor, y: Tensor, mod: Tensor, gatedDtype: DType, batch: number, tokens: number, dim: number, gateOffset: number, modStride: number): void {
    gatedResidual(written(out), out.dtype, s(x), x.dtype, s(y), y.dtype, s(mod), mod.dtype, gatedDtype, batch, tokens, dim, gateOffset, modStride);
  }
  layerNorm(out: Tensor, x: Tensor, weight: Tensor | null, bias: Tensor | null, rows: number, cols: number, eps: number): void {
    layerNorm(written(out), out.dtype, s(x), x.dtype, opt(weight), opt(bias), weight?.dtype ?? bias?.dtype ?? "float32", rows, cols, eps);
  }
  rmsNorm(out: Tensor, x: Tensor, weight: Tensor | null, rows: number, cols: number, eps: number): void {
    rmsNorm(written(out), out.dtype, s(x), x.dtype, opt(weight), weight?.dtype ?? "float32", rows, cols, eps);
  }
  softmax(out: Tensor, x: Tensor, rows: number, cols: number): void {
    softmax(written(out), out.dtype, s(x), x.dtype, rows, cols);
  }
  sdpa(out: Tensor, q: Tensor, k: Tensor, v: Tensor, batch: number, heads: number, lq: number, lk: number, headDim: number, scale: number, layout: AttentionLayout): void {
    sdpa(written(out), out.dtype, s(q), s(k), s(v), q.dtype, batch, heads, lq, lk, headDim, scale, layout);
  }
  rope(out: Tensor, x: Tensor, cos: Tensor, sin: Tensor, batch: number, heads: number, seq: number, headDim: number, layout: AttentionLayout): void {
    rope(written(out), out.dtype, s(x), x.dtype, s(cos), s(sin), batch, heads, seq, headDim, layout);
  }
  quantize(src: Tensor, rows: number, cols: number, groupSize: number, qdata: Tensor, scale: Tensor, zero: Tensor | null, mode: QuantMode, qmin: number, qmax: number): void {
    quant.quantize(s(src), src.dtype, rows, cols, groupSize, written(qdata), qdata.dtype, written(scale), zero ? written(zero) : null, mode, qmin, qmax);
  }
  dequantize(qdata: Tensor, scale: Tensor, zero: Tensor | null, rows: number, cols: number, groupSize: number, scaleRowStride: number, out: Tensor): void {
    quant.dequantize(s(qdata), qdata.dtype, s(scale), opt(zero), rows, cols, groupSize, scaleRowStride, written(out), out.dtype);
  }
  matmulQuantB(out: Tensor, a: Tensor, aRowScale: Tensor | null, qdata: Tensor, scale: Tensor, zero: Tensor | null, scaleRowStride: number, groupSize: number, bias: Tensor | null, M: number, N: number, K: number): void {
    quant.matmulQuantB(written(out), out.dtype, s(a), a.dtype, opt(aRowScale), s(qdata), qdata.dtype, s(scale), opt(zero), scaleRowStride, groupSize, opt(bias), bias?.dtype ?? "float32", M, N, K);
  }
  int8Gemm(out: Tensor, xq: Tensor, xScale: Tensor, wq: Tensor, wScale: Tensor, wScaleStride: number, bias: Tensor | null, M: number, N: number, K: number): void {
    quant.int8Gemm(written(out), out.dtype, s(xq), s(xScale), s(wq), s(wScale), wScaleStride, opt(bias), bias?.dtype ?? "float32", M, N, K);
  }
  copyStrided(dst: Tensor, dstOffset: number, dstStrides: number[], src: Tensor, srcOffset: number, srcStrides: number[], shape: number[]): void {
    copyStrided(written(dst), dst.dtype, dstOffset, dstStrides, s(src), src.dtype, srcOffset, srcStrides, shape);
  }
  fill(dst: Tensor, offset: number, n: number, value: number): void {
    fill(written(dst), dst.dtype, offset, n, value);
  }

  prepackedWeightElements(N: number, K: number): number {
    return packedWeightFloats(N, K);
  }
  prepackWeight(packed: Tensor, weight: Tensor, N: number, K: number): void {
    packWeight(written(packed), s(weight), weight.dtype, N, K);
  }
  matmulPrepacked(out: Tensor, a: Tensor, weight: Tensor, packed: Tensor, bias: Tensor | null, M: number, N: number, K: number): void {
    matmulPackedWeight(written(out), out.dtype, s(a), a.dtype, s(weight), weight.dtype, s(packed), opt(bias), bias?.dtype ?? "float32", M, N, K);
  }
  /** Also called when the storage is freed (its tensor and every view disposed). */
  watchWrites(t: Tensor, onWrite: () => void): () => void {
    const n = s(t);
    let set = writeWatchers.get(n);
    if (!set) writeWatchers.set(n, (set = new Set()));
    set.add(onWrite);
    return () => {
      const current = writeWatchers.get(n);
      if (!current?.delete(onWrite)) return;
      if (current.size === 0) writeWatchers.delete(n);
    };
  }
}
