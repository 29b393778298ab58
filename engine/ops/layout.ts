// Layout ops built on one strided-copy kernel: permute/transpose, slice,
// chunk/split, concat. Results are contiguous new tensors.
import { moduleLocation } from "../context.js";
import { Tensor, formatShape } from "../tensor.js";
import { contiguousStrides, normDim, sameDevice } from "./util.js";

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) throw new TypeError(`permute: ${dims.length} dims given for a ${x.ndim}-d tensor`);
  const norm = dims.map((d) => normDim(d, x.ndim, "permute"));
  if (new Set(norm).size !== norm.length) throw new TypeError(`permute: dims [${dims.join(", ")}] repeat a dimension`);
  const inStrides = contiguousStrides(x.shape);
  const shape = norm.map((d) => x.shape[d]!);
  const out = Tensor.empty(shape, x.dtype, x.device);
  x.device.backend.copyStrided(out, 0, contiguousStrides(shape), x, 0, norm.map((d) => inStrides[d]!), shape);
  return out;
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const dims = x.shape.map((_, i) => i);
  const a = normDim(d0, x.ndim, "transpose");
  const b = normDim(d1, x.ndim, "transpose");
  [dims[a], dims[b]] = [dims[b]!, dims[a]!];
  return permute(x, dims);
}

/** x[..., start:end, ...] along dim. */
export function slice(x: Tensor, dim: number, start: number, end: number): Tensor {
  const d = normDim(dim, x.ndim, "slice");
  const size = x.shape[d]!;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > size || start > end) {
    throw new RangeError(`slice: [${start}, ${end}) is outside dimension ${d} of size ${size} in ${formatShape(x.shape)}${moduleLocation()}`);
  }
  const shape = [...x.shape];
  shape[d] = end - start;
  const strides = contiguousStrides(x.shape);
  const out = Tensor.empty(shape, x.dtype, x.device);
  x.device.backend.copyStrided(out, 0, contiguousStrides(shape), x, start * strides[d]!, strides, shape);
  return out;
}

/** torch.chunk with equal sizes (the dimension must divide evenly). */
export function chunk(x: Tensor, chunks: number, dim: number): Tensor[] {
  const d = normDim(dim, x.ndim, "chunk");
  const size = x.shape[d]!;
  if (!Number.isInteger(chunks) || chunks < 1 || size % chunks !== 0) {
    throw new RangeError(`chunk: dimension ${d} of size ${size} does not split into ${chunks} equal chunks`);
  }
  const step = size / chunks;
  return Array.from({ length: chunks }, (_, i) => slice(x, d, i * step, (i + 1) * step));
}

/** torch.split with explicit sizes. */
export function split(x: Tensor, sizes: readonly number[], dim: number): Tensor[] {
  const d = normDim(dim, x.ndim, "split");
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x.shape[d]) throw new RangeError(`split: sizes [${sizes.join(", ")}] sum to ${total}, not ${x.shape[d]} (dimension ${d} of ${formatShape(x.shape)})`);
  let at = 0;
  return sizes.map((n) => {
    const s = slice(x, d, at, at + n);
    at += n;
    return s;
  });
}

export function cat(tensors: readonly Tensor[], dim: number): Tensor {
  if (tensors.length === 0) throw new TypeError("cat: expected at least one tensor");
  const first = tensors[0]!;
  const dev = sameDevice("cat", ...tensors);
  const d = normDim(dim, first.ndim, "cat");
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i]) || t.dtype !== first.dtype) {
      throw new TypeError(`cat: ${t.dtype} ${formatShape(t.shape)} does not match ${first.dtype} ${formatShape(first.shape)} outside dimension ${d}${moduleLocation()}`);
    }
  }
  const shape = [...first.shape];
  shape[d] = tensors.reduce((a, t) => a + t.shape[d]!, 0);
  const out = Tensor.empty(shape, first.dtype, dev);
  const outStrides = contiguousStrides(shape);
  let at = 0;
  for (const t of tensors) {
    dev.backend.copyStrided(out, at * outStrides[d]!, outStrides, t, 0, contiguousStrides(t.shape), [...t.shape]);
    at += t.shape[d]!;
  }
  return out;
}
