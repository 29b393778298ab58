// Integer casts: float -> int8/uint8/int32/int4 (truncation; wrap or clamp),
// int -> int, int -> float (through float32, RNE). Exact (tolerance 0)
// against a JS model of the documented semantics, plus values observed from
// PyTorch 2.13 on x86 pinned by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DType } from "../../engine/dtype.js";
import {
  FORMATS, FORMAT_NAMES, codeCount, decode, decodeToFloat32Bits, encodeValue,
} from "../reference/float-formats.js";
import { bitsFromF32, bytesOf, castBytes, f32BytesFromBits, firstMismatches, readCodes, seededRandom } from "./casts-helpers.js";

type IntDType = "int8" | "uint8" | "int32" | "int4";
const INT_DTYPES: IntDType[] = ["int8", "uint8", "int32", "int4"];
const RANGE: Record<IntDType, { lo: number; hi: number; bits: number }> = {
  int8: { lo: -128, hi: 127, bits: 8 },
  uint8: { lo: 0, hi: 255, bits: 8 },
  int32: { lo: -2147483648, hi: 2147483647, bits: 32 },
  int4: { lo: -8, hi: 7, bits: 4 },
};

/** Unsigned element code of an integer value: its low `bits` bits (two's complement). */
function codeOf(value: number | bigint, dtype: IntDType): number {
  const bits = BigInt(RANGE[dtype].bits);
  return Number(BigInt.asUintN(Number(bits), BigInt(value)));
}
/** Signed value of a code of an integer dtype. */
function valueOf(code: number, dtype: IntDType): number {
  return dtype === "uint8" ? code : Number(BigInt.asIntN(RANGE[dtype].bits, BigInt(code)));
}

/**
 * float -> int: truncate toward zero. saturate clamps (NaN -> 0). Otherwise
 * int32 gives -2^31 outside [-2^31, 2^31) and for NaN/inf (x86 cvttss2si),
 * narrower types keep the low bits of the truncated value (0 for NaN, inf,
 * |x| >= 2^63).
 */
function floatToIntCode(x: number, dtype: IntDType, saturate: boolean): number {
  const { lo, hi } = RANGE[dtype];
  if (saturate) return codeOf(Number.isNaN(x) ? 0 : Math.min(hi, Math.max(lo, Math.trunc(x))), dtype);
  if (dtype === "int32") return codeOf(x >= -2147483648 && x < 2147483648 ? Math.trunc(x) : -2147483648, dtype);
  if (!Number.isFinite(x) || Math.abs(x) >= Math.pow(2, 63)) return 0;
  return codeOf(BigInt(Math.trunc(x)), dtype);
}

function intToIntCode(v: number, dtype: IntDType, saturate: boolean): number {
  const { lo, hi } = RANGE[dtype];
  return codeOf(saturate ? Math.min(hi, Math.max(lo, v)) : v, dtype);
}

const floatEdges = [
  0, -0, 0.5, -0.5, 0.999, -0.999, 1, -1, 1.5, -1.5, 7, 7.9, 8, -8, -8.5, -9, 15, 16, 127, 127.5, 128, -128, -128.9, -129,
  255, 255.9, 256, 300.7, -129.9, 1000, -1000.5, 65504, 2147483520, 2147483648, -2147483648, -2147483904, 3e9, -3e9,
  Math.pow(2, 40), Math.pow(2, 62), Math.pow(2, 63), -Math.pow(2, 63), Math.pow(2, 64), 1e30, -1e30,
  Infinity, -Infinity, NaN, Math.pow(2, -149), -Math.pow(2, -126),
].map((x) => Math.fround(x));

test("float32 -> int8/uint8/int32/int4 edge values, wrapping and saturating", () => {
  const src = f32BytesFromBits(floatEdges.map(bitsFromF32));
  for (const dtype of INT_DTYPES) {
    for (const saturate of [false, true]) {
      const got = readCodes(castBytes(src, "float32", dtype, floatEdges.length, saturate), dtype, floatEdges.length);
      const expected = floatEdges.map((x) => floatToIntCode(x, dtype, saturate));
      assert.deepEqual(firstMismatches(got, expected, (i) => String(floatEdges[i])), [], `float32 -> ${dtype} saturate=${saturate}`);
    }
  }
});

test("float32 -> int: results PyTorch 2.13 gives on x86", () => {
  const inputs = [1000, -1000.5, 300.7, -129.9, 255.9, -1, 3e9, NaN, Infinity, 65504];
  const torch: Record<"int8" | "uint8" | "int32", number[]> = {
    int8: [-24, 24, 44, 127, -1, -1, 0, 0, 0, -32],
    uint8: [232, 24, 44, 127, 255, 255, 0, 0, 0, 224],
    int32: [1000, -1000, 300, -129, 255, -1, -2147483648, -2147483648, -2147483648, 65504],
  };
  const src = f32BytesFromBits(inputs.map(bitsFromF32));
  for (const dtype of ["int8", "uint8", "int32"] as const) {
    const got = [...readCodes(castBytes(src, "float32", dtype, inputs.length, false), dtype, inputs.length)].map((c) => valueOf(c, dtype));
    assert.deepEqual(got, torch[dtype], dtype);
  }
});

test("every code of each narrow float format -> each integer dtype", () => {
  for (const name of FORMAT_NAMES) {
    const f = FORMATS[name];
    const n = codeCount(f);
    const codes = Array.from({ length: n }, (_, c) => c);
    const values = codes.map((c) => decode(f, c));
    for (const dtype of INT_DTYPES) {
      for (const saturate of [false, true]) {
        const got = readCodes(castBytes(bytesOf(name, codes), name, dtype, n, saturate), dtype, n);
        const expected = values.map((x) => floatToIntCode(x, dtype, saturate));
        assert.deepEqual(firstMismatches(got, expected, (i) => `${name} ${i} (${values[i]})`), [], `${name} -> ${dtype} saturate=${saturate}`);
      }
    }
  }
});

const random = seededRandom(42);
const int32Edges = [
  0, 1, -1, 7, 8, -8, -9, 15, 16, 127, 128, -128, -129, 255, 256, -256, 0x12345678, -0x12345678,
  2147483647, -2147483648, 16777216, 16777217, 16777219, -16777217, 33554432 + 131072 + 1, 65504, 65519, 65520, 1e9,
];
const intSources: Record<IntDType, number[]> = {
  int8: Array.from({ length: 256 }, (_, i) => i - 128),
  uint8: Array.from({ length: 256 }, (_, i) => i),
  int4: Array.from({ length: 16 }, (_, i) => i - 8),
  int32: [...int32Edges, ...Array.from({ length: 4096 }, () => random() | 0)],
};

test("int -> int: wrap like a C cast, or clamp when saturating", () => {
  for (const src of INT_DTYPES) {
    const values = intSources[src];
    const bytes = bytesOf(src, values.map((v) => codeOf(v, src)));
    for (const dst of INT_DTYPES) {
      for (const saturate of [false, true]) {
        const got = readCodes(castBytes(bytes, src, dst, values.length, saturate), dst, values.length);
        const expected = values.map((v) => intToIntCode(v, dst, saturate));
        assert.deepEqual(firstMismatches(got, expected, (i) => String(values[i])), [], `${src} -> ${dst} saturate=${saturate}`);
      }
    }
  }
});

test("int -> float: through float32 (exact below 2^24, RNE above), then rounded to the target", () => {
  const floatTargets: DType[] = ["float32", ...FORMAT_NAMES];
  for (const src of INT_DTYPES) {
    const values = intSources[src];
    const bytes = bytesOf(src, values.map((v) => codeOf(v, src)));
    for (const dst of floatTargets) {
      for (const saturate of [false, true]) {
        const got = readCodes(castBytes(bytes, src, dst, values.length, saturate), dst, values.length);
        const expected = values.map((v) => dst === "float32"
          ? bitsFromF32(Math.fround(v))
          : encodeValue(FORMATS[dst as (typeof FORMAT_NAMES)[number]], Math.fround(v), saturate));
        assert.deepEqual(firstMismatches(got, expected, (i) => String(values[i])), [], `${src} -> ${dst} saturate=${saturate}`);
      }
    }
  }
  // PyTorch rounds twice (int32 -> float32 -> bfloat16): 2^25 + 2^17 + 1 becomes 2^25, not 2^25 + 2^18
  const twice = readCodes(castBytes(bytesOf("int32", [33554432 + 131072 + 1]), "int32", "bfloat16", 1, false), "bfloat16", 1);
  assert.equal(twice[0], 0x4c00);
  // and int32 -> float16 overflows to inf from 65520
  const half = readCodes(castBytes(bytesOf("int32", [65519, 65520, -70000].map((v) => codeOf(v, "int32"))), "int32", "float16", 3, false), "float16", 3);
  assert.deepEqual([...half], [0x7bff, 0x7c00, 0xfc00]);
});

test("float32 and other float sources reach int via the same truncation (float16 65504 -> int8 wraps to -32)", () => {
  const f16 = bytesOf("float16", [0x7bff, 0xfbff, 0x3e00]);  // 65504, -65504, 1.5
  const got = [...readCodes(castBytes(f16, "float16", "int8", 3, false), "int8", 3)].map((c) => valueOf(c, "int8"));
  assert.deepEqual(got, [-32, 32, 1]);
  const sat = [...readCodes(castBytes(f16, "float16", "int8", 3, true), "int8", 3)].map((c) => valueOf(c, "int8"));
  assert.deepEqual(sat, [127, -128, 1]);
  // decodeToFloat32Bits is what the cast reads: a float16 NaN saturates to 0
  assert.ok(Number.isNaN(decode(FORMATS.float16, 0x7e00)) && decodeToFloat32Bits(FORMATS.float16, 0x7e00) === 0x7fc00000);
  const nan = readCodes(castBytes(bytesOf("float16", [0x7e00]), "float16", "int32", 1, true), "int32", 1);
  assert.equal(nan[0], 0);
});
