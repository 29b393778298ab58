// Every code of every narrow float format decoded by the native cast, compared
// bit for bit with the independent reference (test/reference/float-formats.ts),
// and every code converted to every other float format. Exact: tolerance 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  FORMATS, FORMAT_NAMES, codeCount, decode, decodeToFloat32Bits, encodeFloat32Bits, isNanCode, valueTable,
} from "../reference/float-formats.js";
import { bytesOf, castBytes, firstMismatches, hex, readCodes } from "./casts-helpers.js";

test("reference formats: limits and special codes match the format definitions", () => {
  const anchors: [keyof typeof FORMATS, number, number][] = [
    ["float16", 0x3c00, 1], ["float16", 0x7bff, 65504], ["float16", 0x0001, Math.pow(2, -24)], ["float16", 0x0400, Math.pow(2, -14)],
    ["bfloat16", 0x3f80, 1], ["bfloat16", 0x7f7f, 3.3895313892515355e38], ["bfloat16", 0x0001, Math.pow(2, -133)],
    ["float8_e4m3fn", 0x7e, 448], ["float8_e4m3fn", 0x01, Math.pow(2, -9)], ["float8_e4m3fn", 0x08, Math.pow(2, -6)], ["float8_e4m3fn", 0xb8, -1],
    ["float8_e5m2", 0x7b, 57344], ["float8_e5m2", 0x01, Math.pow(2, -16)], ["float8_e5m2", 0x3c, 1],
    ["fp6_e3m2", 0x1f, 28], ["fp6_e3m2", 0x01, 0.0625], ["fp6_e3m2", 0x0c, 1], ["fp6_e3m2", 0x3f, -28],
    ["fp5_e2m2", 0x0f, 7], ["fp5_e2m2", 0x01, 0.25], ["fp5_e2m2", 0x04, 1],
    ["fp4_e2m1", 0x7, 6], ["fp4_e2m1", 0x1, 0.5], ["fp4_e2m1", 0x2, 1], ["fp4_e2m1", 0xf, -6],
  ];
  for (const [name, code, value] of anchors) assert.equal(decode(FORMATS[name], code), value, `${name} ${hex(code, 2)}`);
  assert.equal(decode(FORMATS.float16, 0x7c00), Infinity);
  assert.equal(decode(FORMATS.float8_e5m2, 0xfc), -Infinity);
  assert.ok(Object.is(decode(FORMATS.fp4_e2m1, 0x8), -0));
  const nanCounts = Object.fromEntries(FORMAT_NAMES.map((name) => {
    let count = 0;
    for (let c = 0; c < codeCount(FORMATS[name]); c++) if (isNanCode(FORMATS[name], c)) count++;
    return [name, count];
  }));
  assert.deepEqual(nanCounts, { float16: 2046, bfloat16: 254, float8_e4m3fn: 2, float8_e5m2: 6, fp6_e3m2: 0, fp5_e2m2: 0, fp4_e2m1: 0 });
  assert.deepEqual(FORMAT_NAMES.map((n) => valueTable(FORMATS[n]).maxFinite), [65504, 3.3895313892515355e38, 448, 57344, 28, 7, 6]);
});

for (const name of FORMAT_NAMES) {
  const f = FORMATS[name];
  const n = codeCount(f);
  const codes = Array.from({ length: n }, (_, c) => c);

  test(`decode: every ${name} code to float32 is exact (NaN bits as documented)`, () => {
    const expected = codes.map((c) => decodeToFloat32Bits(f, c));
    // offset 0, and shifted by a few elements so unaligned starts and scalar tails run too
    for (const [srcOffset, dstOffset] of [[0, 0], [3, 5]] as const) {
      const src = new Uint8Array(bytesOf(name, [...new Array(srcOffset).fill(0), ...codes]));
      const out = castBytes(src, name, "float32", n, false, { srcOffset, dstOffset });
      const got = readCodes(out, "float32", n, dstOffset);
      assert.deepEqual(firstMismatches(got, expected, (i) => hex(i, 4)), [], `${name} -> float32 offsets ${srcOffset}/${dstOffset}`);
    }
  });

  test(`decode: every ${name} code converted to each other float format matches the reference`, () => {
    const src = bytesOf(name, codes);
    for (const dst of FORMAT_NAMES) {
      for (const saturate of [false, true]) {
        const expected = codes.map((c) =>
          dst === name && !saturate ? c : encodeFloat32Bits(FORMATS[dst], decodeToFloat32Bits(f, c), saturate));
        const got = readCodes(castBytes(src, name, dst, n, saturate), dst, n);
        assert.deepEqual(firstMismatches(got, expected, (i) => `${name} ${hex(i, 4)}`), [], `${name} -> ${dst} saturate=${saturate}`);
      }
    }
  });
}
