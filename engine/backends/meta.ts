// The meta backend: shapes and bytes only. Every kernel is a no-op, so a
// full-size model (12B parameters) "runs" instantly with exact memory
// accounting; reading data is an error.
import type { Backend } from "../backend.js";
import type { Tensor } from "../tensor.js";

const noop = (): void => {};

export class MetaBackend implements Backend {
  readonly hasData = false;
  allocate(): null {
    return null;
  }
  release(): void {}
  write(): void {}
  read(t: Tensor): Uint8Array {
    throw new Error(`${t} is on the meta device, which holds shapes only; move the model to "cpu" (or load real weights) to read values`);
  }
  copyBytes = noop;
  cast = noop;
  matmul = noop;
  binary = noop;
  unary = noop;
  scalarOp = noop;
  clamp = noop;
  modulate = noop;
  layerNorm = noop;
  rmsNorm = noop;
  softmax = noop;
  sdpa = noop;
  rope = noop;
  quantize = noop;
  dequantize = noop;
  matmulQuantB = noop;
  int8Gemm = noop;
  copyStrided = noop;
  fill = noop;
}
