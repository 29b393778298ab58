// QTensor: a quantized weight whose payload lives in named inner tensors
// (qdata, scale, zero_point). It implements the flatten protocol of
// engine/weight.ts, so moves, offloads, memory accounting and saving never
// need to know the scheme; the scheme object does the arithmetic.
import type { DType } from "../dtype.js";
import type { Device } from "../device.js";
import { Tensor, formatShape } from "../tensor.js";
import type { TensorSubclass } from "../weight.js";
import type { QuantScheme, SchemeConfig } from "./schemes.js";

export class QTensor implements TensorSubclass {
  readonly isTensorSubclass = true as const;

  constructor(
    readonly scheme: QuantScheme,
    /** logical [out, in] */
    readonly shape: readonly number[],
    /** compute dtype: what dequantize() and linear() produce */
    readonly dtype: DType,
    readonly config: Readonly<SchemeConfig>,
    private readonly inner: ReadonlyMap<string, Tensor>,
  ) {
    const expected = scheme.innerLayout(shape, config);
    for (const spec of expected) {
      const t = inner.get(spec.name);
      if (!t) throw new Error(`QTensor ${scheme.name}: inner tensor "${spec.name}" is missing`);
      if (t.dtype !== spec.dtype || t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
        throw new Error(`QTensor ${scheme.name}: inner "${spec.name}" must be ${spec.dtype} ${formatShape(spec.shape)}, got ${t.dtype} ${formatShape(t.shape)}`);
      }
    }
    if (inner.size !== expected.length) throw new Error(`QTensor ${scheme.name}: expected inner tensors ${expected.map((e) => e.name).join(", ")}, got ${[...inner.keys()].join(", ")}`);
    const devices = new Set([...inner.values()].map((t) => t.device));
    if (devices.size > 1) {
      throw new Error(`QTensor ${scheme.name}: inner tensors are on different devices (${[...devices].map((d) => d.name).join(", ")}); move the whole QTensor, never a part`);
    }
  }

  innerTensors(): [string, Tensor][] {
    return this.scheme.innerLayout(this.shape, this.config).map((spec) => [spec.name, this.inner.get(spec.name)!]);
  }

  /** One inner tensor by name (qdata, scale, zero_point). */
  part(name: string): Tensor {
    const t = this.inner.get(name);
    if (!t) throw new Error(`QTensor ${this.scheme.name} has no inner tensor "${name}"`);
    return t;
  }
  optionalPart(name: string): Tensor | null {
    return this.inner.get(name) ?? null;
  }

  rebuild(inner: Map<string, Tensor>): QTensor {
    return new QTensor(this.scheme, this.shape, this.dtype, this.config, inner);
  }

  metadata(): Record<string, unknown> {
    return { scheme: this.scheme.name, shape: [...this.shape], dtype: this.dtype, ...this.config };
  }

  get device(): Device {
    return this.inner.values().next().value!.device;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** payload bytes (all inner tensors) */
  get nbytes(): number {
    let n = 0;
    for (const t of this.inner.values()) n += t.nbytes;
    return n;
  }
  get isDisposed(): boolean {
    return [...this.inner.values()].some((t) => t.isDisposed);
  }

  dequantize(dtype: DType = this.dtype): Tensor {
    return this.scheme.dequantize(this, dtype);
  }
  linear(x: Tensor, bias: Tensor | null): Tensor {
    return this.scheme.linear(this, x, bias);
  }

  dispose(): void {
    for (const t of this.inner.values()) t.dispose();
  }

  toString(): string {
    return `QTensor(${this.scheme.name}${this.config.groupSize ? ` g${this.config.groupSize}` : ""}, ${formatShape(this.shape)}, ${this.dtype}, ${this.isDisposed ? "disposed" : this.device.name})`;
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
