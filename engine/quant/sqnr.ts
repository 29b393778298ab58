// Signal-to-quantization-noise ratio, the error measure torchao and autoquant use.
import type { Tensor } from "../tensor.js";

/** 10 log10(sum ref^2 / sum (ref - x)^2) in dB, accumulated in float64; Infinity when equal. */
export function sqnrDb(reference: Tensor | ArrayLike<number>, approx: Tensor | ArrayLike<number>): number {
  const a = "toFloat32Array" in reference ? reference.toFloat32Array() : reference;
  const b = "toFloat32Array" in approx ? approx.toFloat32Array() : approx;
  if (a.length !== b.length) throw new TypeError(`sqnrDb: ${a.length} vs ${b.length} elements`);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < a.length; i++) {
    signal += a[i]! * a[i]!;
    noise += (a[i]! - b[i]!) ** 2;
  }
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}
