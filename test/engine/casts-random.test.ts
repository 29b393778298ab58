// 1M seeded random float32 bit patterns (every exponent, NaNs included), plus
// random float32 values inside each format's own range, cast to every narrow
// float format with and without saturation; compared bit for bit with the
// independent reference (tolerance 0).
import { test } from "node:test";
import assert from "node:assert/strict";
import { FORMATS, FORMAT_NAMES, encodeFloat32Bits, valueTable } from "../reference/float-formats.js";
import { castBytes, firstMismatches, hex, readCodes, seededRandom } from "./casts-helpers.js";

const RANDOM_PATTERNS = 1 << 20;
const IN_RANGE_PER_FORMAT = 1 << 17;

const random = seededRandom(0x5eed_ca57);
const patterns = new Uint32Array(RANDOM_PATTERNS);
for (let i = 0; i < patterns.length; i++) patterns[i] = random();

/** Random float32s whose binary exponent lies between the format's smallest subnormal / 4 and 2 * max. */
function inRangeBits(name: (typeof FORMAT_NAMES)[number], count: number): Uint32Array {
  const t = valueTable(FORMATS[name]);
  const lowExp = Math.floor(Math.log2(t.values[1]!)) - 2;  // values[1] is the smallest subnormal
  const highExp = Math.min(127, Math.floor(Math.log2(t.maxFinite)) + 1);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const exp = lowExp + (random() % (highExp - lowExp + 1));
    const biased = Math.max(0, exp + 127);  // 0: float32 subnormal
    out[i] = ((random() & 0x80000000) | (biased << 23) | (random() & 0x7fffff)) >>> 0;
  }
  return out;
}

for (const name of FORMAT_NAMES) {
  test(`random float32 -> ${name}: 1M bit patterns and ${IN_RANGE_PER_FORMAT} in-range values`, () => {
    for (const inputs of [patterns, inRangeBits(name, IN_RANGE_PER_FORMAT)]) {
      const src = new Uint8Array(inputs.buffer, inputs.byteOffset, inputs.byteLength);
      for (const saturate of [false, true]) {
        const got = readCodes(castBytes(src, "float32", name, inputs.length, saturate), name, inputs.length);
        const expected = new Uint32Array(inputs.length);
        for (let i = 0; i < inputs.length; i++) expected[i] = encodeFloat32Bits(FORMATS[name], inputs[i]!, saturate);
        assert.deepEqual(firstMismatches(got, expected, (i) => hex(inputs[i]!)), [], `${name} saturate=${saturate}`);
      }
    }
  });
}
