// torchao's quantization schemes as data: each is an affine scheme with a
// payload format, a granularity and optionally a dynamic activation
// quantization. The arithmetic runs in the backend's quantize, dequantize,
// matmulQuantB and int8Gemm kernels; this file only lays out inner tensors.
import type { Backend, QuantMode } from "../backend.js";
import { moduleLocation } from "../context.js";
import { isComputeDType, type DType } from "../dtype.js";
import { Tensor, formatShape } from "../tensor.js";
import { keep } from "../scope.js";
import { sameDevice } from "../ops/util.js";
import { QTensor } from "./qtensor.js";

export type SchemeName =
  | "int8wo" | "int8dq" | "fp8wo" | "fp8dq" | "fp8dqrow" | "int4wo"
  | "fp6_e3m2" | "fp5_e2m2" | "fp4_e2m1";

export interface SchemeConfig {
  /** elements per scale along a row (int4wo: 32, 64, 128 or 256); absent for per-row/per-tensor schemes */
  groupSize?: number;
}

export interface InnerSpec {
  name: string;
  shape: number[];
  dtype: DType;
}

type Granularity = "row" | "group" | "tensor";

/** The backend when it has fp8 tensor cores (cuda), or null where fp8 linears decode the activations and use matmulQuantB (cpu, sim). */
export function fp8GemmOf(backend: Backend): (Backend & Required<Pick<Backend, "fp8Gemm">>) | null {
  return backend.fp8Gemm ? (backend as Backend & Required<Pick<Backend, "fp8Gemm">>) : null;
}

interface ActivationQuant {
  qdtype: "int8" | "float8_e4m3fn";
  granularity: "token" | "tensor";
  qmin: number;
  qmax: number;
}

export interface QuantScheme {
  readonly name: SchemeName;
  readonly description: string;
  readonly qdtype: DType;
  readonly granularity: Granularity;
  readonly activation: ActivationQuant | null;
  readonly groupSizes?: readonly number[];
  readonly defaultGroupSize?: number;
  innerLayout(shape: readonly number[], config: SchemeConfig): InnerSpec[];
  /** Checks a weight shape and config; returns a reason it cannot be quantized, or null. */
  unsupported(shape: readonly number[], config: SchemeConfig): string | null;
  quantize(weight: Tensor, config?: SchemeConfig): QTensor;
  /** An uninitialised QTensor (a loader fills its inner tensors). */
  empty(shape: readonly number[], dtype: DType, config: SchemeConfig, device: Tensor["device"], owner: string): QTensor;
  dequantize(q: QTensor, dtype: DType): Tensor;
  linear(q: QTensor, x: Tensor, bias: Tensor | null): Tensor;
}

class AffineScheme implements QuantScheme {
  constructor(
    readonly name: SchemeName,
    readonly description: string,
    readonly qdtype: DType,
    readonly mode: QuantMode,
    readonly qmin: number,
    readonly qmax: number,
    readonly granularity: Granularity,
    readonly activation: ActivationQuant | null,
    readonly groupSizes?: readonly number[],
    readonly defaultGroupSize?: number,
  ) {}

  private groupSize(shape: readonly number[], config: SchemeConfig): number {
    const K = shape[1]!;
    if (this.granularity === "group") return config.groupSize ?? this.defaultGroupSize!;
    return K;
  }
  private scaleShape(shape: readonly number[], config: SchemeConfig): number[] {
    const [N, K] = shape as [number, number];
    if (this.granularity === "tensor") return [1];
    return [N, K / this.groupSize(shape, config)];
  }
  private scaleRowStride(shape: readonly number[], config: SchemeConfig): number {
    return this.granularity === "tensor" ? 0 : shape[1]! / this.groupSize(shape, config);
  }

  unsupported(shape: readonly number[], config: SchemeConfig): string | null {
    if (shape.length !== 2) return `${this.name} quantizes 2-d [out, in] weights, got ${formatShape(shape)}`;
    if (this.granularity === "group") {
      const g = config.groupSize ?? this.defaultGroupSize!;
      if (!this.groupSizes!.includes(g)) return `${this.name} group size must be one of ${this.groupSizes!.join(", ")}, got ${g}`;
      if (shape[1]! % g !== 0) return `in_features ${shape[1]} is not a multiple of the group size ${g}`;
    } else if (config.groupSize !== undefined) {
      return `${this.name} has no group size (it is ${this.granularity === "row" ? "per row" : "per tensor"}); drop groupSize`;
    }
    return null;
  }

  innerLayout(shape: readonly number[], config: SchemeConfig): InnerSpec[] {
    const specs: InnerSpec[] = [
      { name: "qdata", shape: [...shape], dtype: this.qdtype },
      { name: "scale", shape: this.scaleShape(shape, config), dtype: "float32" },
    ];
    if (this.mode === "asymmetric") specs.push({ name: "zero_point", shape: this.scaleShape(shape, config), dtype: "float32" });
    return specs;
  }

  private normalizedConfig(config: SchemeConfig): SchemeConfig {
    return this.granularity === "group" ? { groupSize: config.groupSize ?? this.defaultGroupSize! } : {};
  }

  empty(shape: readonly number[], dtype: DType, config: SchemeConfig, device: Tensor["device"], owner: string): QTensor {
    const why = this.unsupported(shape, config);
    if (why) throw new TypeError(`${this.name}: ${why}`);
    const cfg = this.normalizedConfig(config);
    const inner = new Map(this.innerLayout(shape, cfg).map((s) => [s.name, keep(Tensor.empty(s.shape, s.dtype, device, `${owner}.${s.name}`))]));
    return new QTensor(this, shape, dtype, cfg, inner);
  }

  quantize(weight: Tensor, config: SchemeConfig = {}): QTensor {
    if (!isComputeDType(weight.dtype)) throw new TypeError(`${this.name}: the weight must be float32, float16 or bfloat16, got ${weight.dtype}`);
    const q = this.empty(weight.shape, weight.dtype, config, weight.device, weight.owner || "weight");
    const [N, K] = weight.shape as [number, number];
    const gs = this.groupSize(weight.shape, q.config);
    const [rows, cols, group] = this.granularity === "tensor" ? [1, N * K, N * K] : [N, K, gs];
    weight.device.backend.quantize(weight, rows, cols, group, q.part("qdata"), q.part("scale"), q.optionalPart("zero_point"), this.mode, this.qmin, this.qmax);
    return q;
  }

  dequantize(q: QTensor, dtype: DType): Tensor {
    const [N, K] = q.shape as [number, number];
    const out = Tensor.empty([N, K], dtype, q.device);
    q.device.backend.dequantize(q.part("qdata"), q.part("scale"), q.optionalPart("zero_point"), N, K, this.groupSize(q.shape, q.config), this.scaleRowStride(q.shape, q.config), out);
    return out;
  }

  linear(q: QTensor, x: Tensor, bias: Tensor | null): Tensor {
    const dev = sameDevice("linear", x, q.part("qdata"), bias);
    const [N, K] = q.shape as [number, number];
    if (x.shape[x.ndim - 1] !== K) {
      throw new TypeError(`linear: input ${formatShape(x.shape)} has ${x.shape[x.ndim - 1]} features but the ${this.name} weight ${formatShape(q.shape)} expects ${K}${moduleLocation()}`);
    }
    if (!isComputeDType(x.dtype)) throw new TypeError(`linear: input dtype ${x.dtype} is not a float type${moduleLocation()}`);
    const M = x.numel / K;
    const out = Tensor.empty([...x.shape.slice(0, -1), N], x.dtype, dev);
    const gs = this.groupSize(q.shape, q.config);
    const stride = this.scaleRowStride(q.shape, q.config);
    const act = this.activation;
    if (!act) {
      dev.backend.matmulQuantB(out, x, null, q.part("qdata"), q.part("scale"), q.optionalPart("zero_point"), stride, gs, bias, M, N, K);
      return out;
    }
    const perTensor = act.granularity === "tensor";
    const xq = Tensor.empty([M, K], act.qdtype, dev, "activation.qdata");
    const xs = Tensor.empty([perTensor ? 1 : M], "float32", dev, "activation.scale");
    try {
      dev.backend.quantize(x, perTensor ? 1 : M, perTensor ? M * K : K, perTensor ? M * K : K, xq, xs, null, "symmetric", act.qmin, act.qmax);
      if (act.qdtype === "int8") {
        dev.backend.int8Gemm(out, xq, xs, q.part("qdata"), q.part("scale"), stride, bias, M, N, K);
        return out;
      }
      const fp8 = fp8GemmOf(dev.backend);
      if (fp8) {
        fp8.fp8Gemm(out, xq, xs, perTensor, q.part("qdata"), q.part("scale"), stride, bias, M, N, K);
        return out;
      }
      // fp8 x fp8 products are exact in float32, so decoding the fp8 activations and running an
      // fp32-accumulating GEMM on the fp8 weight is exactly what an fp8 tensor core computes.
      const xf = Tensor.empty([M, K], "float32", dev, "activation.decoded");
      const rowScale = perTensor ? Tensor.empty([M], "float32", dev, "activation.scale") : null;
      try {
        dev.backend.cast(xf, 0, xq, 0, M * K, false);
        if (rowScale) dev.backend.copyStrided(rowScale, 0, [1], xs, 0, [0], [M]);
        dev.backend.matmulQuantB(out, xf, rowScale ?? xs, q.part("qdata"), q.part("scale"), null, stride, gs, bias, M, N, K);
      } finally {
        xf.dispose();
        rowScale?.dispose();
      }
      return out;
    } finally {
      xq.dispose();
      xs.dispose();
    }
  }
}

const INT8_TOKEN: ActivationQuant = { qdtype: "int8", granularity: "token", qmin: -127, qmax: 127 };

export const SCHEMES: Readonly<Record<SchemeName, QuantScheme>> = {
  int8wo: new AffineScheme("int8wo", "int8 weight-only, per-row symmetric scale", "int8", "symmetric", -128, 127, "row", null),
  int8dq: new AffineScheme("int8dq", "int8 weights per row + dynamic per-token int8 activations, int32 accumulation", "int8", "symmetric", -128, 127, "row", INT8_TOKEN),
  fp8wo: new AffineScheme("fp8wo", "float8_e4m3fn weight-only, per-row scale amax/448", "float8_e4m3fn", "symmetric", 0, 0, "row", null),
  fp8dq: new AffineScheme("fp8dq", "float8_e4m3fn weights and dynamic activations, one scale per tensor", "float8_e4m3fn", "symmetric", 0, 0, "tensor", { qdtype: "float8_e4m3fn", granularity: "tensor", qmin: 0, qmax: 0 }),
  fp8dqrow: new AffineScheme("fp8dqrow", "float8_e4m3fn weights per row + dynamic per-token activations", "float8_e4m3fn", "symmetric", 0, 0, "row", { qdtype: "float8_e4m3fn", granularity: "token", qmin: 0, qmax: 0 }),
  int4wo: new AffineScheme("int4wo", "int4 weight-only, asymmetric per-group scale and zero point (tinygemm convention)", "int4", "asymmetric", 0, 15, "group", null, [32, 64, 128, 256], 128),
  fp6_e3m2: new AffineScheme("fp6_e3m2", "fp6 (e3m2) weight-only, per-row scale", "fp6_e3m2", "symmetric", 0, 0, "row", null),
  fp5_e2m2: new AffineScheme("fp5_e2m2", "fp5 (e2m2) weight-only, per-row scale", "fp5_e2m2", "symmetric", 0, 0, "row", null),
  fp4_e2m1: new AffineScheme("fp4_e2m1", "fp4 (e2m1) weight-only, per-row scale", "fp4_e2m1", "symmetric", 0, 0, "row", null),
};

export const SCHEME_NAMES = Object.keys(SCHEMES) as SchemeName[];

export function getScheme(name: string): QuantScheme {
  const s = (SCHEMES as Record<string, QuantScheme>)[name];
  if (!s) throw new TypeError(`unknown quantization scheme "${name}"; schemes: ${SCHEME_NAMES.join(", ")}`);
  return s;
}
