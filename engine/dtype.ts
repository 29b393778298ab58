// dtypes: names follow PyTorch; codes match engine/native/src/dtype.h.

export type DType =
  | "float32" | "float16" | "bfloat16" | "float8_e4m3fn" | "float8_e5m2"
  | "int8" | "uint8" | "int32" | "int4" | "fp6_e3m2" | "fp5_e2m2" | "fp4_e2m1";

export interface DTypeInfo {
  name: DType;
  code: number;
  /** bits per element; packed types store several elements per byte */
  bits: number;
  isFloat: boolean;
  /** sub-byte types stored as a packed bit stream */
  packed: boolean;
  /** safetensors dtype string, where the format has one */
  safetensors?: string;
}

const table: DTypeInfo[] = [
  { name: "float32", code: 0, bits: 32, isFloat: true, packed: false, safetensors: "F32" },
  { name: "float16", code: 1, bits: 16, isFloat: true, packed: false, safetensors: "F16" },
  { name: "bfloat16", code: 2, bits: 16, isFloat: true, packed: false, safetensors: "BF16" },
  { name: "float8_e4m3fn", code: 3, bits: 8, isFloat: true, packed: false, safetensors: "F8_E4M3" },
  { name: "float8_e5m2", code: 4, bits: 8, isFloat: true, packed: false, safetensors: "F8_E5M2" },
  { name: "int8", code: 5, bits: 8, isFloat: false, packed: false, safetensors: "I8" },
  { name: "uint8", code: 6, bits: 8, isFloat: false, packed: false, safetensors: "U8" },
  { name: "int32", code: 7, bits: 32, isFloat: false, packed: false, safetensors: "I32" },
  { name: "int4", code: 8, bits: 4, isFloat: false, packed: true },
  { name: "fp6_e3m2", code: 9, bits: 6, isFloat: true, packed: true },
  { name: "fp5_e2m2", code: 10, bits: 5, isFloat: true, packed: true },
  { name: "fp4_e2m1", code: 11, bits: 4, isFloat: true, packed: true },
];

const byName = new Map<string, DTypeInfo>(table.map((d) => [d.name, d]));
export const DTYPES: readonly DType[] = table.map((d) => d.name);

export function dtypeInfo(d: DType): DTypeInfo {
  const info = byName.get(d);
  if (!info) throw new TypeError(`unknown dtype "${String(d)}"; expected one of ${DTYPES.join(", ")}`);
  return info;
}

export function isDType(x: unknown): x is DType {
  return typeof x === "string" && byName.has(x);
}

export function dtypeCode(d: DType): number {
  return dtypeInfo(d).code;
}

/** Bytes that `numel` elements of `d` occupy (packed types round up to whole bytes). */
export function byteSize(d: DType, numel: number): number {
  return Math.ceil((numel * dtypeInfo(d).bits) / 8);
}

/** dtypes the float kernels accept as activations. */
export function isComputeDType(d: DType): d is "float32" | "float16" | "bfloat16" {
  return d === "float32" || d === "float16" || d === "bfloat16";
}
