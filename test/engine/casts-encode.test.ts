// float32 -> each narrow float format, bit for bit against the independent
// reference (tolerance 0): every code's value, every midpoint between adjacent
// values and the float32 neighbours of each midpoint, the overflow midpoint,
// zeros, infinities, NaNs, subnormals, and every float16 and bfloat16 value as
// a float32 input; saturating and non-saturating. Named thresholds are also
// checked against hard-coded codes, so the reference itself is pinned.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FORMATS, FORMAT_NAMES, encodeFloat32Bits, nextDownF32, nextUpF32, type FormatName } from "../reference/float-formats.js";
import {
  allHalfValuesAsF32Bits, bitsFromF32, castBytes, f32BytesFromBits, firstMismatches, hex, probeF32Bits, readCodes, specialF32Bits,
} from "./casts-helpers.js";

const halfValues = allHalfValuesAsF32Bits();

for (const name of FORMAT_NAMES) {
  test(`encode: float32 -> ${name}, codes, midpoints and neighbours, specials, all float16/bfloat16 values`, () => {
    const inputs = [...specialF32Bits(), ...probeF32Bits(name), ...halfValues];
    const src = f32BytesFromBits(inputs);
    for (const saturate of [false, true]) {
      const expected = inputs.map((bits) => encodeFloat32Bits(FORMATS[name], bits, saturate));
      const got = readCodes(castBytes(src, "float32", name, inputs.length, saturate), name, inputs.length);
      assert.deepEqual(firstMismatches(got, expected, (i) => hex(inputs[i]!)), [], `float32 -> ${name} saturate=${saturate}`);
    }
  });
}

// [input, code without saturation, code with saturation]
const thresholds: Record<FormatName, [number, number, number][]> = {
  float8_e4m3fn: [
    [448, 0x7e, 0x7e], [nextUpF32(448), 0x7e, 0x7e], [464, 0x7e, 0x7e], [nextDownF32(464), 0x7e, 0x7e],
    [nextUpF32(464), 0x7f, 0x7e], [480, 0x7f, 0x7e], [1e30, 0x7f, 0x7e], [Infinity, 0x7f, 0x7e],
    [-464, 0xfe, 0xfe], [-nextUpF32(464), 0xff, 0xfe], [-Infinity, 0xff, 0xfe],
    [Math.pow(2, -9), 0x01, 0x01], [Math.pow(2, -10), 0x00, 0x00], [nextUpF32(Math.pow(2, -10)), 0x01, 0x01],
    [-Math.pow(2, -10), 0x80, 0x80], [3 * Math.pow(2, -10), 0x02, 0x02],
  ],
  float8_e5m2: [
    [57344, 0x7b, 0x7b], [nextDownF32(61440), 0x7b, 0x7b], [61440, 0x7c, 0x7b], [nextUpF32(61440), 0x7c, 0x7b],
    [65536, 0x7c, 0x7b], [Infinity, 0x7c, 0x7b], [-61440, 0xfc, 0xfb], [-Infinity, 0xfc, 0xfb],
    [Math.pow(2, -16), 0x01, 0x01], [Math.pow(2, -17), 0x00, 0x00], [nextUpF32(Math.pow(2, -17)), 0x01, 0x01],
  ],
  float16: [
    [65504, 0x7bff, 0x7bff], [nextDownF32(65520), 0x7bff, 0x7bff], [65520, 0x7c00, 0x7bff], [nextUpF32(65520), 0x7c00, 0x7bff],
    [Infinity, 0x7c00, 0x7bff], [-65520, 0xfc00, 0xfbff], [Math.pow(2, -24), 0x0001, 0x0001],
    [Math.pow(2, -25), 0x0000, 0x0000], [nextUpF32(Math.pow(2, -25)), 0x0001, 0x0001], [3 * Math.pow(2, -25), 0x0002, 0x0002],
  ],
  bfloat16: [
    [1 + Math.pow(2, -8), 0x3f80, 0x3f80], [1 + 3 * Math.pow(2, -8), 0x3f82, 0x3f82], [nextUpF32(1 + Math.pow(2, -8)), 0x3f81, 0x3f81],
    [3.4028234663852886e38, 0x7f80, 0x7f7f], [Infinity, 0x7f80, 0x7f7f], [Math.pow(2, -149), 0x0000, 0x0000],
  ],
  fp6_e3m2: [[28, 0x1f, 0x1f], [30, 0x1f, 0x1f], [1e9, 0x1f, 0x1f], [Infinity, 0x1f, 0x1f], [-Infinity, 0x3f, 0x3f], [0.03125, 0x00, 0x00], [0.09375, 0x02, 0x02]],
  fp5_e2m2: [[7, 0x0f, 0x0f], [7.5, 0x0f, 0x0f], [Infinity, 0x0f, 0x0f], [0.125, 0x00, 0x00], [0.375, 0x02, 0x02], [-0.125, 0x10, 0x10]],
  fp4_e2m1: [[6, 0x7, 0x7], [7, 0x7, 0x7], [Infinity, 0x7, 0x7], [-100, 0xf, 0xf], [0.25, 0x0, 0x0], [0.75, 0x2, 0x2], [2.5, 0x4, 0x4], [5, 0x6, 0x6], [-0, 0x8, 0x8]],
};

for (const name of FORMAT_NAMES) {
  test(`encode: ${name} overflow, rounding and underflow thresholds give the documented codes`, () => {
    const rows = thresholds[name];
    const inputs = rows.map(([x]) => bitsFromF32(x));
    for (const [column, saturate] of [[1, false], [2, true]] as const) {
      const got = readCodes(castBytes(f32BytesFromBits(inputs), "float32", name, inputs.length, saturate), name, inputs.length);
      const expected = rows.map((r) => r[column]);
      assert.deepEqual(firstMismatches(got, expected, (i) => String(rows[i]![0])), [], `${name} saturate=${saturate}`);
      // the reference agrees with the hard-coded table
      assert.deepEqual(inputs.map((b) => encodeFloat32Bits(FORMATS[name], b, saturate)), expected, `reference ${name} saturate=${saturate}`);
    }
  });
}

test("encode: NaN keeps NaN (sign and payload where the format can hold them); sub-byte formats give +0", () => {
  const nans = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fa12345, 0xffbfffff];
  const expected: Record<FormatName, number[]> = {
    float16: [0x7e00, 0xfe00, 0x7e00, 0xfe00, 0x7f09, 0xffff],
    bfloat16: [0x7fc0, 0xffc0, 0x7fc0, 0xffc0, 0x7fe1, 0xffff],
    float8_e4m3fn: [0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff],
    float8_e5m2: [0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff],
    fp6_e3m2: [0, 0, 0, 0, 0, 0], fp5_e2m2: [0, 0, 0, 0, 0, 0], fp4_e2m1: [0, 0, 0, 0, 0, 0],
  };
  for (const name of FORMAT_NAMES) {
    for (const saturate of [false, true]) {
      const got = readCodes(castBytes(f32BytesFromBits(nans), "float32", name, nans.length, saturate), name, nans.length);
      assert.deepEqual([...got], expected[name], `${name} saturate=${saturate}`);
    }
  }
});
