// Making tensors: from JS data, zeros/ones/full, seeded normal and uniform.
import { isComputeDType, type DType, dtypeInfo } from "../dtype.js";
import { getDevice, type DeviceSpec } from "../device.js";
import { Tensor, checkShape, numelOf, formatShape } from "../tensor.js";
import { keep } from "../scope.js";
import { native, type NativeStorage } from "../native-binding.js";

declare module "../native-binding.js" {
  interface NativeBinding {
    randomFill(dst: NativeStorage, n: number, seed: number, kind: 0 | 1, a: number, b: number): void;
  }
}

export interface CreateOptions {
  shape?: readonly number[];
  dtype?: DType;
  device?: DeviceSpec;
  /** memory attribution name */
  owner?: string;
}

type NumericData = ArrayLike<number> | Float32Array | Float64Array | Int32Array | Int8Array | Uint8Array;

/** Flattens nested arrays and infers their shape. */
function flatten(data: unknown, shape: number[] = [], depth = 0, out: number[] = []): { values: number[]; shape: number[] } {
  if (Array.isArray(data)) {
    if (shape.length <= depth) shape.push(data.length);
    else if (shape[depth] !== data.length) throw new TypeError(`tensor(): ragged nested array (dimension ${depth} has lengths ${shape[depth]} and ${data.length})`);
    for (const x of data) flatten(x, shape, depth + 1, out);
  } else if (typeof data === "number") {
    if (depth !== shape.length) throw new TypeError("tensor(): ragged nested array");
    out.push(data);
  } else {
    throw new TypeError(`tensor(): expected numbers, nested arrays of numbers or a typed array, got ${typeof data}`);
  }
  return { values: out, shape };
}

/** Writes float64 values into a tensor of any dtype, through a float32 (or int32) staging tensor and the cast kernel. */
export function writeValues(t: Tensor, values: ArrayLike<number>): void {
  if (!t.device.hasData) return;
  const info = dtypeInfo(t.dtype);
  if (t.dtype === "float32") {
    t.device.backend.write(t, 0, new Uint8Array(Float32Array.from(values).buffer));
    return;
  }
  if (t.dtype === "int32") {
    t.device.backend.write(t, 0, new Uint8Array(Int32Array.from(values).buffer));
    return;
  }
  const stagingDtype: DType = info.isFloat ? "float32" : "int32";
  const staging = keep(Tensor.empty(t.shape, stagingDtype, t.device, "staging"));
  try {
    writeValues(staging, values);
    t.device.backend.cast(t, 0, staging, 0, t.numel, false);
  } finally {
    staging.dispose();
  }
}

export function tensor(data: NumericData | unknown[] | number, options: CreateOptions = {}): Tensor {
  let values: ArrayLike<number>;
  let shape: number[];
  if (typeof data === "number") {
    values = [data];
    shape = options.shape ? checkShape(options.shape) : [];
  } else if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    values = data as ArrayLike<number>;
    shape = options.shape ? checkShape(options.shape) : [values.length];
  } else {
    const f = flatten(data);
    values = f.values;
    shape = options.shape ? checkShape(options.shape) : f.shape;
  }
  if (numelOf(shape) !== values.length) {
    throw new TypeError(`tensor(): ${values.length} values cannot fill shape ${formatShape(shape)} (${numelOf(shape)} elements)`);
  }
  const dtype = options.dtype ?? (data instanceof Int32Array ? "int32" : data instanceof Int8Array ? "int8" : data instanceof Uint8Array ? "uint8" : "float32");
  const t = Tensor.empty(shape, dtype, options.device ?? "cpu", options.owner);
  writeValues(t, values);
  return t;
}

export function full(shape: readonly number[], value: number, options: Omit<CreateOptions, "shape"> = {}): Tensor {
  const t = Tensor.empty(shape, options.dtype ?? "float32", options.device ?? "cpu", options.owner, value === 0);
  if (value !== 0 && t.device.hasData) {
    if (dtypeInfo(t.dtype).packed) writeValues(t, new Float64Array(t.numel).fill(value));
    else t.device.backend.fill(t, 0, t.numel, value);
  }
  return t;
}

export function zeros(shape: readonly number[], options: Omit<CreateOptions, "shape"> = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options: Omit<CreateOptions, "shape"> = {}): Tensor {
  return full(shape, 1, options);
}

/** A small, fast, seedable generator (sfc32) so model weights are reproducible across runs and machines. */
export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;
  constructor(seed: number) {
    // splitmix32 expands the seed into the four words of state
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** uniform in [0, 1) with 32 random bits */
  uniform(): number {
    return this.uint32() / 4294967296;
  }
  /** standard normal (Box-Muller) */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

export interface RandomOptions extends Omit<CreateOptions, "shape"> {
  seed?: number;
  /** standard deviation (randn) */
  std?: number;
  mean?: number;
}

let defaultSeedCounter = 0x5eed;

/**
 * Values come from the addon's Philox generator: element i depends only on (seed, i), so they
 * are the same on every machine and thread count. Other float dtypes are float32 values
 * rounded once, so a bf16 model equals its float32 twin cast to bf16.
 */
function randomTensor(shape: readonly number[], options: RandomOptions, kind: 0 | 1, a: number, b: number, op: string): Tensor {
  const dtype = options.dtype ?? "float32";
  if (!isComputeDType(dtype) && !dtypeInfo(dtype).isFloat) throw new TypeError(`${op}: dtype must be a float type, got ${dtype}`);
  const seed = options.seed ?? defaultSeedCounter++;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new TypeError(`${op}: seed must be a non-negative integer, got ${seed}`);
  const t = Tensor.empty(shape, dtype, options.device ?? "cpu", options.owner);
  if (!t.device.hasData) return t;
  const staging = dtype === "float32" ? t : keep(Tensor.empty(shape, "float32", t.device, "staging"));
  try {
    const storage = staging.native;
    if (!storage) throw new Error(`${op}: ${t.device.name} has no host storage to fill`);
    native.randomFill(storage, staging.numel, seed, kind, a, b);
    if (staging !== t) t.device.backend.cast(t, 0, staging, 0, t.numel, false);
  } finally {
    if (staging !== t) staging.dispose();
  }
  return t;
}

/** Normal samples (mean 0, std 1 unless given), reproducible for a seed. */
export function randn(shape: readonly number[], options: RandomOptions = {}): Tensor {
  return randomTensor(shape, options, 0, options.mean ?? 0, options.std ?? 1, "randn");
}

/** Uniform samples in [low, high). */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  return randomTensor(shape, options, 1, options.low ?? 0, options.high ?? 1, "rand");
}

export { getDevice };
