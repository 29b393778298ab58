// Linear weights prepacked once for the CPU GEMM, and the linear op that
// reads them. The GEMM packs a weight W[N,K] into micro-kernel panels on
// every call; a PrepackedWeight holds those panels (float32) so a weight used
// by every forward is packed once, as onnxruntime does for constant
// initializers at session load. The result is bit-identical to linear():
// same micro-kernel, same K blocks, same split over threads.
//
// The panels are a tensor of their own on the weight's device, so the memory
// tracker counts them, attributed to "<weight owner>.prepacked". They are
// released when a kernel writes into the weight's storage or the storage is
// freed (the weight disposed), when the module's weight is replaced (moved,
// cast, quantized, offloaded) and when the module is disposed.
import { moduleLocation } from "../context.js";
import type { NativeStorage } from "../native-binding.js";
import { untracked } from "../scope.js";
import { Tensor, formatShape } from "../tensor.js";
import type { Device } from "../device.js";
import type { DType } from "../dtype.js";
import { requireCompute, sameDevice } from "./util.js";
import { linearRows } from "./math.js";

export class PrepackedWeight {
  private packedRef: Tensor | null;
  private stopWatching: (() => void) | null;
  private readonly storage: NativeStorage;
  private readonly device: Device;
  private readonly dtype: DType;
  readonly N: number;
  readonly K: number;

  private constructor(weight: Tensor, packed: Tensor) {
    this.storage = weight.native!;
    this.device = weight.device;
    this.dtype = weight.dtype;
    [this.N, this.K] = weight.shape as [number, number];
    this.packedRef = packed;
    this.stopWatching = weight.device.backend.watchWrites!(weight, () => this.release());
  }

  /** Whether `device` can prepack Linear weights (the cpu backend can; sim, meta and cuda compute as they are). */
  static supported(device: Device): boolean {
    const b = device.backend;
    return b.hasData && !!b.prepackWeight && !!b.matmulPrepacked && !!b.watchWrites && !!b.prepackedWeightElements;
  }

  /** Bytes the prepacked form of a weight [N, K] takes on `device` (0 where unsupported). */
  static bytesFor(device: Device, N: number, K: number): number {
    return PrepackedWeight.supported(device) ? device.backend.prepackedWeightElements!(N, K) * 4 : 0;
  }

  /** Packs a 2-d float weight [N, K]; null where its device cannot prepack. */
  static create(weight: Tensor): PrepackedWeight | null {
    if (!PrepackedWeight.supported(weight.device)) return null;
    requireCompute("prepack", weight, "weight");
    if (weight.ndim !== 2) throw new TypeError(`prepack: a Linear weight is 2-d [out, in], got ${formatShape(weight.shape)}${moduleLocation()}`);
    const [N, K] = weight.shape as [number, number];
    const backend = weight.device.backend;
    // the panels belong to the module, not to the scope of the forward that made them
    const packed = untracked(() => Tensor.empty([backend.prepackedWeightElements!(N, K)], "float32", weight.device, `${weight.owner || "weight"}.prepacked`));
    try {
      backend.prepackWeight!(packed, weight, N, K);
    } catch (e) {
      packed.dispose();
      throw e;
    }
    return new PrepackedWeight(weight, packed);
  }

  /** The panels (float32), or null once released. */
  get packed(): Tensor | null {
    return this.packedRef;
  }
  get bytes(): number {
    return this.packedRef?.nbytes ?? 0;
  }

  /** Whether these panels are those of `w` now: same storage, dtype and shape, and not written since. */
  matches(w: Tensor): boolean {
    return this.packedRef !== null && !w.isDisposed && w.device === this.device && w.dtype === this.dtype &&
      w.ndim === 2 && w.shape[0] === this.N && w.shape[1] === this.K && w.native === this.storage;
  }

  /** Frees the panels (idempotent). */
  release(): void {
    this.stopWatching?.();
    this.stopWatching = null;
    this.packedRef?.dispose();
    this.packedRef = null;
  }
}

/**
 * linear(x, weight, bias) computed with the weight's prepacked panels: same checks, same
 * result bit for bit. `prepacked` must match `weight` (PrepackedWeight.matches).
 */
export function linearPrepacked(x: Tensor, weight: Tensor, prepacked: PrepackedWeight, bias: Tensor | null = null, outDtype?: DType): Tensor {
  const packed = prepacked.packed;
  if (!packed || !prepacked.matches(weight)) throw new Error(`linearPrepacked: the prepacked panels are not those of this weight (released or replaced)${moduleLocation()}`);
  const dev = sameDevice("linear", x, weight, bias);
  requireCompute("linear", x);
  const { N, K } = prepacked;
  const M = linearRows(x, weight, bias, N, K);
  const out = Tensor.empty([...x.shape.slice(0, -1), N], outDtype ?? x.dtype, dev);
  dev.backend.matmulPrepacked!(out, x, weight, packed, bias, M, N, K);
  return out;
}
