// Packed dtypes (int4, fp6_e3m2, fp5_e2m2, fp4_e2m1): the bit layout, round
// trips with odd element counts and nonzero offsets (partial bytes at both
// ends), and that bits of neighbouring elements sharing a byte survive.
// Everything is compared exactly (tolerance 0).
import { test } from "node:test";
import assert from "node:assert/strict";
import { byteSize, type DType } from "../../engine/dtype.js";
import { FORMATS, codeCount, decodeToFloat32Bits, encodeFloat32Bits, valueTable } from "../reference/float-formats.js";
import {
  bitsFromF32, bytesOf, castBytes, f32BytesFromBits, f32FromBits, firstMismatches, readCodes, seededRandom, writeCodes,
} from "./casts-helpers.js";

type Packed = "int4" | "fp6_e3m2" | "fp5_e2m2" | "fp4_e2m1";
const PACKED: Packed[] = ["int4", "fp6_e3m2", "fp5_e2m2", "fp4_e2m1"];
const random = seededRandom(7);

function randomBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => random() & 0xff);
}
function randomCodes(dtype: Packed, n: number): number[] {
  const count = dtype === "int4" ? 16 : codeCount(FORMATS[dtype]);
  return Array.from({ length: n }, () => random() % count);
}
/** float32 bits a packed code decodes to. */
function codeToF32Bits(dtype: Packed, code: number): number {
  return dtype === "int4" ? bitsFromF32(code >= 8 ? code - 16 : code) : decodeToFloat32Bits(FORMATS[dtype], code);
}
function f32BitsToCode(dtype: Packed, bits: number, saturate: boolean): number {
  if (dtype !== "int4") return encodeFloat32Bits(FORMATS[dtype], bits, saturate);
  const x = f32FromBits(bits);  // values here are small integers
  return (saturate ? Math.min(7, Math.max(-8, Math.trunc(x))) : Math.trunc(x)) & 0xf;
}

test("packed layout: element 0 in the lowest bits, a little-endian bit stream", () => {
  const int4 = castBytes(bytesOf("int8", [1, -2, 7, -8, 3].map((v) => v & 0xff)), "int8", "int4", 5, false);
  assert.deepEqual([...int4], [0xe1, 0x87, 0x03]);
  const f = (xs: number[]) => f32BytesFromBits(xs.map(bitsFromF32));
  assert.deepEqual([...castBytes(f([0.5, -6, 1, 3]), "float32", "fp4_e2m1", 4, false)], [0xf1, 0x52]);
  assert.deepEqual([...castBytes(f([1, -28, 0.0625, 28]), "float32", "fp6_e3m2", 4, false)], [0xcc, 0x1f, 0x7c]);
  assert.deepEqual([...castBytes(f([7, -0.25, 1]), "float32", "fp5_e2m2", 3, false)], [0x2f, 0x12]);
});

test("packed round trips with odd counts and offsets keep neighbouring bits", () => {
  for (const dtype of PACKED) {
    for (const n of [1, 2, 3, 7, 9, 37, 1001]) {
      for (const [srcOffset, dstOffset] of [[0, 0], [1, 3], [5, 6], [3, 7], [0, 1]]) {
        const codes = randomCodes(dtype, n);
        const src = randomBytes(byteSize(dtype, srcOffset + n) + 1);
        writeCodes(src, dtype, codes, srcOffset);
        const label = `${dtype} n=${n} offsets ${srcOffset}/${dstOffset}`;

        // packed -> float32
        const floats = castBytes(src, dtype, "float32", n, false, { srcOffset });
        const floatBits = [...readCodes(floats, "float32", n)];
        assert.deepEqual(firstMismatches(floatBits, codes.map((c) => codeToF32Bits(dtype, c)), String), [], `${label} decode`);

        // float32 -> packed into a destination full of other data
        const garbage = randomBytes(byteSize(dtype, dstOffset + n) + 2);
        const expected = garbage.slice();
        writeCodes(expected, dtype, codes, dstOffset);
        const back = castBytes(floats, "float32", dtype, n, false, { dstOffset, dstInit: garbage });
        assert.deepEqual(back, expected, `${label} encode (neighbours and codes)`);

        // packed -> packed, same dtype: a bit copy between different offsets
        const copied = castBytes(src, dtype, dtype, n, false, { srcOffset, dstOffset, dstInit: garbage });
        assert.deepEqual(copied, expected, `${label} copy`);

        // packed -> every other packed dtype (through float32)
        for (const other of PACKED) {
          if (other === dtype) continue;
          const otherGarbage = randomBytes(byteSize(other, dstOffset + n) + 1);
          for (const saturate of [false, true]) {
            const want = otherGarbage.slice();
            writeCodes(want, other, codes.map((c) => f32BitsToCode(other, codeToF32Bits(dtype, c), saturate)), dstOffset);
            const got = castBytes(src, dtype, other, n, saturate, { srcOffset, dstOffset, dstInit: otherGarbage });
            assert.deepEqual(got, want, `${label} -> ${other} saturate=${saturate}`);
          }
        }
      }
    }
  }
});

test("large packed casts split across threads write every byte once and keep the edges", () => {
  const n = 300_001;  // several thread chunks; odd count and offsets leave partial bytes at both ends
  const srcOffset = 5, dstOffset = 3;
  for (const dtype of PACKED) {
    const max = dtype === "int4" ? 7 : valueTable(FORMATS[dtype]).maxFinite;
    const inputs = Array.from({ length: srcOffset + n }, () => bitsFromF32(Math.fround(((random() / 2 ** 32) * 2 - 1) * max * 1.25)));
    const src = f32BytesFromBits(inputs);
    const garbage = randomBytes(byteSize(dtype, dstOffset + n) + 3);
    for (const saturate of [false, true]) {
      const codes = inputs.slice(srcOffset).map((b) => f32BitsToCode(dtype, b, saturate));
      const expected = garbage.slice();
      writeCodes(expected, dtype, codes, dstOffset);
      const got = castBytes(src, "float32", dtype, n, saturate, { srcOffset, dstOffset, dstInit: garbage });
      assert.ok(Buffer.compare(got, expected) === 0, `float32 -> ${dtype} saturate=${saturate}`);
    }
    // and back: packed -> float32, and a packed copy to a different bit offset
    const packed = garbage.slice();
    writeCodes(packed, dtype, inputs.slice(srcOffset).map((b) => f32BitsToCode(dtype, b, true)), dstOffset);
    const decoded = readCodes(castBytes(packed, dtype, "float32", n, false, { srcOffset: dstOffset }), "float32", n);
    const codes = readCodes(packed, dtype, n, dstOffset);
    assert.deepEqual(firstMismatches(decoded, [...codes].map((c) => codeToF32Bits(dtype, c)), String), [], `${dtype} -> float32`);
    const target = randomBytes(byteSize(dtype, 1 + n));
    const want = target.slice();
    writeCodes(want, dtype, codes, 1);
    const copy = castBytes(packed, dtype, dtype, n, false, { srcOffset: dstOffset, dstOffset: 1, dstInit: target });
    assert.ok(Buffer.compare(copy, want) === 0, `${dtype} copy`);
  }
});

test("non-packed destinations at an offset leave the elements around them alone", () => {
  const dtypes: DType[] = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "int8", "uint8", "int32"];
  const n = 70_001;  // SIMD bodies, scalar tails and several threads
  const inputs = Array.from({ length: n }, () => bitsFromF32(Math.fround(((random() / 2 ** 32) * 2 - 1) * 300)));
  for (const dtype of dtypes) {
    const garbage = randomBytes(byteSize(dtype, n + 5));
    const got = castBytes(f32BytesFromBits(inputs), "float32", dtype, n, true, { dstOffset: 2, dstInit: garbage });
    const bytesPer = byteSize(dtype, 1);
    assert.deepEqual(got.subarray(0, 2 * bytesPer), garbage.subarray(0, 2 * bytesPer), `${dtype} head`);
    assert.deepEqual(got.subarray((n + 2) * bytesPer), garbage.subarray((n + 2) * bytesPer), `${dtype} tail`);
  }
});
