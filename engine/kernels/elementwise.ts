// Elementwise kernels on float activations (engine/native/src/elementwise.cpp):
// inputs and outputs in float32/float16/bfloat16, computed in float32 and
// rounded once on store. All run on the engine's thread pool.
import { dtypeCode, type DType } from "../dtype.js";
import { native, type NativeStorage } from "../native-binding.js";

export type BinaryOp = "add" | "sub" | "mul" | "div";
export type UnaryOp = "gelu_tanh" | "gelu" | "silu" | "relu" | "neg" | "exp" | "sqrt" | "rsqrt" | "sin" | "cos";

declare module "../native-binding.js" {
  interface NativeBinding {
    binaryOp(
      op: string, out: NativeStorage, outDtype: number,
      a: NativeStorage, aDtype: number, aOffset: number, aStrides: number[],
      b: NativeStorage, bDtype: number, bOffset: number, bStrides: number[],
      shape: number[],
    ): void;
    unaryOp(op: string, out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number, n: number): void;
    scalarOp(
      op: string, out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number,
      scalar: number, n: number, scalarFirst: boolean,
    ): void;
    modulate(
      out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number,
      scale: NativeStorage, shift: NativeStorage, modDtype: number,
      batch: number, tokens: number, dim: number, scaleOffset: number, shiftOffset: number, modStride: number,
    ): void;
    gatedResidual(
      out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number, y: NativeStorage, yDtype: number,
      mod: NativeStorage, modDtype: number, gatedDtype: number,
      batch: number, tokens: number, dim: number, gateOffset: number, modStride: number,
    ): void;
  }
}

/**
 * out = a op b elementwise. `out` is contiguous with `shape` (rank <= 8); a and
 * b are read at `offset + sum(index[i] * strides[i])` (elements), so a stride
 * of 0 broadcasts, e.g. PyTorch's `gate[:, None, :] * x` for x [B, L, D] is
 * a = gate with strides [D, 0, 1] and b = x with strides [L*D, D, 1].
 * `out` may be a or b itself (in place) when that input is read contiguously.
 */
export function binary(
  op: BinaryOp, out: NativeStorage, outDtype: DType,
  a: NativeStorage, aDtype: DType, aOffset: number, aStrides: number[],
  b: NativeStorage, bDtype: DType, bOffset: number, bStrides: number[],
  shape: number[],
): void {
  native.binaryOp(op, out, dtypeCode(outDtype), a, dtypeCode(aDtype), aOffset, aStrides, b, dtypeCode(bDtype), bOffset, bStrides, shape);
}

/**
 * out[i] = op(x[i]) for n contiguous elements. gelu_tanh is PyTorch's
 * GELU(approximate="tanh") 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
 * evaluated in the identical form x / (1 + exp(-2 sqrt(2/pi) (x + 0.044715 x^3)))
 * which keeps full float32 accuracy for negative x; gelu is the erf form.
 * out may be x itself.
 */
export function unary(op: UnaryOp, out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType, n: number): void {
  native.unaryOp(op, out, dtypeCode(outDtype), x, dtypeCode(xDtype), n);
}

/**
 * out = x op s (or s op x when scalarFirst) for n contiguous elements; s is
 * rounded to float32 first, as PyTorch does for a Python scalar.
 */
export function scalarOp(
  op: BinaryOp, out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType,
  scalar: number, n: number, scalarFirst: boolean,
): void {
  native.scalarOp(op, out, dtypeCode(outDtype), x, dtypeCode(xDtype), scalar, n, scalarFirst);
}

/**
 * diffusers' AdaLN modulation `x * (1 + scale[:, None]) + shift[:, None]`
 * for x [batch, tokens, dim]; the scale / shift row of batch b starts at
 * `scaleOffset + b * modStride` / `shiftOffset + b * modStride` (elements), so
 * both can point into chunks of one [batch, k*dim] tensor. Rounds like the
 * three PyTorch ops: 1 + scale to modDtype, the product and the sum to the
 * promoted dtype (modDtype when it equals xDtype, else float32), then to outDtype.
 */
export function modulate(
  out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType,
  scale: NativeStorage, shift: NativeStorage, modDtype: DType,
  batch: number, tokens: number, dim: number, scaleOffset: number, shiftOffset: number, modStride: number,
): void {
  native.modulate(out, dtypeCode(outDtype), x, dtypeCode(xDtype), scale, shift, dtypeCode(modDtype),
    batch, tokens, dim, scaleOffset, shiftOffset, modStride);
}

/**
 * out[b, t, :] = x[b, t, :] + gate_b * y[b, t, :] (gate_b at gateOffset + b * modStride of mod) in
 * one pass, rounded as PyTorch's two ops: the product to gatedDtype, the sum to outDtype.
 */
export function gatedResidual(
  out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType, y: NativeStorage, yDtype: DType,
  mod: NativeStorage, modDtype: DType, gatedDtype: DType,
  batch: number, tokens: number, dim: number, gateOffset: number, modStride: number,
): void {
  native.gatedResidual(out, dtypeCode(outDtype), x, dtypeCode(xDtype), y, dtypeCode(yDtype), mod, dtypeCode(modDtype), dtypeCode(gatedDtype),
    batch, tokens, dim, gateOffset, modStride);
}
