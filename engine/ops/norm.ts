// Normalisations over the last dimension and softmax.
import { moduleLocation } from "../context.js";
import { Tensor, formatShape } from "../tensor.js";
import { requireCompute, sameDevice } from "./util.js";

function lastDim(op: string, x: Tensor, param: Tensor | null, what: string): { rows: number; cols: number } {
  const cols = x.shape[x.ndim - 1] ?? 1;
  if (param && (param.ndim !== 1 || param.shape[0] !== cols)) {
    throw new TypeError(`${op}: ${what} ${formatShape(param.shape)} must be [${cols}] for input ${formatShape(x.shape)}${moduleLocation()}`);
  }
  return { rows: cols === 0 ? 0 : x.numel / cols, cols };
}

export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const dev = sameDevice("layerNorm", x, weight, bias);
  requireCompute("layerNorm", x);
  const { rows, cols } = lastDim("layerNorm", x, weight, "weight");
  lastDim("layerNorm", x, bias, "bias");
  const out = Tensor.empty(x.shape, x.dtype, dev);
  dev.backend.layerNorm(out, x, weight, bias, rows, cols, eps);
  return out;
}

export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
  const dev = sameDevice("rmsNorm", x, weight);
  requireCompute("rmsNorm", x);
  const { rows, cols } = lastDim("rmsNorm", x, weight, "weight");
  const out = Tensor.empty(x.shape, x.dtype, dev);
  dev.backend.rmsNorm(out, x, weight, rows, cols, eps);
  return out;
}

export function softmax(x: Tensor): Tensor {
  requireCompute("softmax", x);
  const { rows, cols } = lastDim("softmax", x, null, "");
  const out = Tensor.empty(x.shape, x.dtype, x.device);
  x.device.backend.softmax(out, x, rows, cols);
  return out;
}
