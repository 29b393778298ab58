// Arithmetic ops: linear/matmul, broadcasting binary ops, unary activations,
// tensor-scalar ops and diffusers' AdaLN modulation.
import type { BinaryOp, UnaryOp } from "../backend.js";
import { moduleLocation } from "../context.js";
import type { DType } from "../dtype.js";
import { Tensor, formatShape } from "../tensor.js";
import { broadcast, promote, requireCompute, sameDevice } from "./util.js";
import { isTensorSubclass, type Weight } from "../weight.js";

/** Checks x [..., K] and bias [N] against a weight [N, K]; returns M, the rows of x. */
export function linearRows(x: Tensor, weight: Tensor, bias: Tensor | null, N: number, K: number): number {
  const inDim = x.shape[x.ndim - 1];
  if (x.ndim < 1 || inDim !== K) {
    throw new TypeError(`linear: input ${formatShape(x.shape)} has ${inDim} features but weight ${formatShape(weight.shape)} expects ${K}${moduleLocation()}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== N)) throw new TypeError(`linear: bias ${formatShape(bias.shape)} must be [${N}]${moduleLocation()}`);
  return x.numel / K;
}

/**
 * y = x @ W^T + b, PyTorch's F.linear: x [..., in], weight [out, in], bias [out].
 * A tensor-subclass weight (e.g. quantized) computes from its own payload.
 */
export function linear(x: Tensor, weight: Weight, bias: Tensor | null = null, outDtype?: DType): Tensor {
  if (isTensorSubclass(weight)) {
    if (weight.linear) return weight.linear(x, bias);
    const dense = weight.dequantize(x.dtype);
    try {
      return linear(x, dense, bias, outDtype);
    } finally {
      dense.dispose();
    }
  }
  const dev = sameDevice("linear", x, weight, bias);
  requireCompute("linear", x);
  requireCompute("linear", weight, "weight");
  if (weight.ndim !== 2) throw new TypeError(`linear: weight must be 2-d [out, in], got ${formatShape(weight.shape)}${moduleLocation()}`);
  const [N, K] = weight.shape as [number, number];
  const M = linearRows(x, weight, bias, N, K);
  const out = Tensor.empty([...x.shape.slice(0, -1), N], outDtype ?? x.dtype, dev);
  dev.backend.matmul(out, x, weight, bias, M, N, K, true);
  return out;
}

/** a [M, K] @ b [K, N] (or b^T when transB, b [N, K]); batched over leading dims of a. */
export function matmul(a: Tensor, b: Tensor, options: { transB?: boolean; outDtype?: DType } = {}): Tensor {
  const dev = sameDevice("matmul", a, b);
  requireCompute("matmul", a);
  requireCompute("matmul", b, "second operand");
  if (b.ndim !== 2 || a.ndim < 1) throw new TypeError(`matmul: expected a [..., K] and a 2-d b, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const transB = options.transB ?? false;
  const K = a.shape[a.ndim - 1]!;
  const [bK, N] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (K !== bK) throw new TypeError(`matmul: ${formatShape(a.shape)} @ ${formatShape(b.shape)}${transB ? "^T" : ""}: inner dimensions ${K} and ${bK} differ${moduleLocation()}`);
  const out = Tensor.empty([...a.shape.slice(0, -1), N], options.outDtype ?? promote(a.dtype, b.dtype), dev);
  dev.backend.matmul(out, a, b, null, a.numel / K, N, K, transB);
  return out;
}

function binaryOp(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const dev = sameDevice(op, a, b);
  requireCompute(op, a);
  requireCompute(op, b, "second operand");
  const { shape, aStrides, bStrides } = broadcast(op, a.shape, b.shape);
  const out = Tensor.empty(shape, promote(a.dtype, b.dtype), dev);
  dev.backend.binary(op, out, a, 0, aStrides, b, 0, bStrides, shape);
  return out;
}

export const add = (a: Tensor, b: Tensor): Tensor => binaryOp("add", a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binaryOp("sub", a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binaryOp("mul", a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binaryOp("div", a, b);

function scalar(op: BinaryOp, x: Tensor, s: number, scalarFirst: boolean): Tensor {
  requireCompute(op, x);
  if (typeof s !== "number") throw new TypeError(`${op}Scalar: expected a number, got ${typeof s}`);
  const out = Tensor.empty(x.shape, x.dtype, x.device);
  x.device.backend.scalarOp(op, out, x, s, scalarFirst);
  return out;
}
export const addScalar = (x: Tensor, s: number): Tensor => scalar("add", x, s, false);
export const mulScalar = (x: Tensor, s: number): Tensor => scalar("mul", x, s, false);
/** s - x */
export const rsubScalar = (x: Tensor, s: number): Tensor => scalar("sub", x, s, true);

/** torch.clamp(x, lo, hi); NaN stays NaN. */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  requireCompute("clamp", x);
  const backend = x.device.backend;
  if (!backend.clamp) throw new Error(`clamp is not available on ${x.device.name}`);
  const out = Tensor.empty(x.shape, x.dtype, x.device);
  backend.clamp(out, x, lo, hi);
  return out;
}

export function unary(op: UnaryOp, x: Tensor): Tensor {
  requireCompute(op, x);
  const out = Tensor.empty(x.shape, x.dtype, x.device);
  x.device.backend.unary(op, out, x);
  return out;
}
/** GELU with the tanh approximation (PyTorch's approximate="tanh"). */
export const geluTanh = (x: Tensor): Tensor => unary("gelu_tanh", x);
export const gelu = (x: Tensor): Tensor => unary("gelu", x);
export const silu = (x: Tensor): Tensor => unary("silu", x);

/**
 * diffusers' AdaLN modulation x * (1 + scale[:, None]) + shift[:, None], where scale and
 * shift are chunks `scaleChunk` and `shiftChunk` of mod [batch, numChunks * dim] (no copies).
 */
export function modulate(x: Tensor, mod: Tensor, numChunks: number, scaleChunk: number, shiftChunk: number): Tensor {
  const dev = sameDevice("modulate", x, mod);
  requireCompute("modulate", x);
  requireCompute("modulate", mod, "modulation");
  if (x.ndim !== 3) throw new TypeError(`modulate: x must be [batch, tokens, dim], got ${formatShape(x.shape)}`);
  const [batch, tokens, dim] = x.shape as [number, number, number];
  if (mod.ndim !== 2 || mod.shape[0] !== batch || mod.shape[1] !== numChunks * dim) {
    throw new TypeError(`modulate: modulation ${formatShape(mod.shape)} must be [${batch}, ${numChunks * dim}]${moduleLocation()}`);
  }
  const out = Tensor.empty(x.shape, x.dtype, dev);
  dev.backend.modulate(out, x, mod, batch, tokens, dim, scaleChunk * dim, shiftChunk * dim, numChunks * dim);
  return out;
}

/**
 * x + gate[:, None] * y with gate chunk `gateChunk` of mod [batch, numChunks * dim]:
 * diffusers' gated residual `x + gate.unsqueeze(1) * y`, rounded like PyTorch (product, then sum).
 */
export function gatedResidual(x: Tensor, y: Tensor, mod: Tensor, numChunks: number, gateChunk: number): Tensor {
  const dev = sameDevice("gatedResidual", x, y, mod);
  if (x.ndim !== 3 || y.ndim !== 3 || x.shape.some((d, i) => d !== y.shape[i])) {
    throw new TypeError(`gatedResidual: x ${formatShape(x.shape)} and y ${formatShape(y.shape)} must be the same [batch, tokens, dim]`);
  }
  const [batch, tokens, dim] = x.shape as [number, number, number];
  if (mod.ndim !== 2 || mod.shape[0] !== batch || mod.shape[1] !== numChunks * dim) {
    throw new TypeError(`gatedResidual: modulation ${formatShape(mod.shape)} must be [${batch}, ${numChunks * dim}]${moduleLocation()}`);
  }
  const shape = [batch, tokens, dim];
  const gatedDtype = promote(y.dtype, mod.dtype);
  if (dev.backend.gatedResidual) {
    const out = Tensor.empty(shape, promote(x.dtype, gatedDtype), dev);
    dev.backend.gatedResidual(out, x, y, mod, gatedDtype, batch, tokens, dim, gateChunk * dim, numChunks * dim);
    return out;
  }
  const gated = Tensor.empty(shape, gatedDtype, dev);
  dev.backend.binary("mul", gated, mod, gateChunk * dim, [numChunks * dim, 0, 1], y, 0, [tokens * dim, dim, 1], shape);
  const out = Tensor.empty(shape, promote(x.dtype, gated.dtype), dev);
  dev.backend.binary("add", out, x, 0, [tokens * dim, dim, 1], gated, 0, [tokens * dim, dim, 1], shape);
  gated.dispose();
  return out;
}
