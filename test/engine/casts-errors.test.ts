// Bad arguments give JS errors (never a crash): storage too small, unknown
// dtype, disposed storage, negative or fractional counts, overlapping ranges.
// Also the allowed in-place and zero-length cases.
import { test } from "node:test";
import assert from "node:assert/strict";
import { native, type NativeStorage } from "../../engine/native-binding.js";
import { cast } from "../../engine/kernels/cast.js";
import type { DType } from "../../engine/dtype.js";
import { f32FromBits, readCodes } from "./casts-helpers.js";

function storage(nbytes: number): NativeStorage {
  return new native.Storage(nbytes, true);
}

test("cast: a range that does not fit its storage is a RangeError", () => {
  const src = storage(16), dst = storage(8);
  try {
    assert.throws(() => cast(src, "float32", 0, dst, "bfloat16", 0, 5, false), { name: "RangeError", message: /cast: src needs 20 bytes/ });
    cast(src, "float32", 0, dst, "float16", 0, 4, false);  // fits exactly
    assert.throws(() => cast(src, "float32", 0, dst, "float32", 0, 4, false), { name: "RangeError", message: /cast: dst needs 16 bytes/ });
    assert.throws(() => cast(src, "float32", 2, dst, "int8", 0, 3, false), { name: "RangeError", message: /src needs 20 bytes/ });
    assert.throws(() => cast(src, "int8", 0, dst, "fp4_e2m1", 1, 16, false), { name: "RangeError", message: /dst needs 9 bytes/ });
    assert.throws(() => cast(src, "fp6_e3m2", 19, dst, "int8", 0, 3, false), { name: "RangeError", message: /src needs 17 bytes/ });
    assert.throws(() => cast(src, "float32", -1, dst, "float32", 0, 1, false), { name: "RangeError", message: /non-negative/ });
    assert.throws(() => cast(src, "float32", 0, dst, "float32", 0, -2, false), { name: "RangeError", message: /non-negative/ });
  } finally {
    src.free();
    dst.free();
  }
});

test("cast: unknown dtypes, bad argument types and disposed storages are TypeErrors", () => {
  const src = storage(16), dst = storage(16);
  try {
    assert.throws(() => native.cast(src, 12, 0, dst, 0, 0, 1, false), { name: "TypeError", message: /srcDtype: unknown dtype code 12/ });
    assert.throws(() => native.cast(src, 0, 0, dst, -1, 0, 1, false), { name: "TypeError", message: /dstDtype: unknown dtype code -1/ });
    assert.throws(() => native.cast(src, 0.5, 0, dst, 0, 0, 1, false), { name: "TypeError", message: /must be an integer/ });
    assert.throws(() => cast(src, "float64" as DType, 0, dst, "float32", 0, 1, false), { name: "TypeError", message: /unknown dtype "float64"/ });
    assert.throws(() => native.cast(src, 0, 0, dst, 0, 0, 1.5, false), { name: "TypeError", message: /n must be an integer/ });
    assert.throws(() => native.cast(src, 0, 0, dst, 0, 0, 1, 1 as unknown as boolean), { name: "TypeError", message: /saturate must be a boolean/ });
    assert.throws(() => native.cast({} as never, 0, 0, dst, 0, 0, 1, false), { name: "TypeError", message: /src is not a Storage/ });
    assert.throws(() => (native.cast as unknown as (...a: unknown[]) => void)(src, 0, 0, dst, 0, 0, 1), { name: "TypeError", message: /cast expects/ });
    const gone = storage(16);
    gone.free();
    assert.throws(() => cast(gone, "float32", 0, dst, "float16", 0, 1, false), { name: "TypeError", message: /disposed/ });
    assert.throws(() => cast(src, "float32", 0, gone, "float16", 0, 1, false), { name: "TypeError", message: /dst was disposed/ });
  } finally {
    src.free();
    dst.free();
  }
});

test("cast: overlapping ranges in one storage are refused; disjoint and in-place ones work", () => {
  const s = storage(64);
  try {
    native.write(s, 0, new Float32Array([1.5, Infinity, -Infinity, NaN, -2, 3, 70000, -1e-45]));
    // float32 [0, 8) -> float16 at element 8 (bytes 16..32) overlaps bytes 0..32 of the source
    assert.throws(() => cast(s, "float32", 0, s, "float16", 8, 8, false), { name: "RangeError", message: /overlap/ });
    // shifted by one element of the same width is an overlap too
    assert.throws(() => cast(s, "float32", 0, s, "float32", 1, 4, false), { name: "RangeError", message: /overlap/ });
    // disjoint: float32 [0, 8) -> float16 at element 16 (bytes 32..48)
    cast(s, "float32", 0, s, "float16", 16, 8, false);
    assert.deepEqual([...readCodes(new Uint8Array(native.read(s, 32, 16)), "float16", 8)],
      [0x3e00, 0x7c00, 0xfc00, 0x7e00, 0xc000, 0x4200, 0x7c00, 0x8000]);
    // in place, same width: saturating float32 -> float32 clamps the infinities only
    cast(s, "float32", 0, s, "float32", 0, 8, true);
    const clamped = [...readCodes(new Uint8Array(native.read(s, 0, 32)), "float32", 8)].map(f32FromBits);
    assert.deepEqual(clamped.slice(0, 3), [1.5, 3.4028234663852886e38, -3.4028234663852886e38]);
    assert.ok(Number.isNaN(clamped[3]));
    // in place, float32 -> int32 over the same bytes
    cast(s, "float32", 4, s, "int32", 4, 3, false);
    assert.deepEqual([...new Int32Array(native.read(s, 16, 12))], [-2, 3, 70000]);
    // n = 0 is a no-op even at the end of the storage
    cast(s, "float32", 16, s, "float32", 16, 0, false);
  } finally {
    s.free();
  }
});

test("cast: in-place packed conversion of the same width keeps the other elements", () => {
  const s = storage(4);
  try {
    native.write(s, 0, new Uint8Array([0x21, 0x43, 0x65, 0x87]));  // fp4 codes 1,2,3,4,5,6,7,8
    // fp4_e2m1 -> int4 over elements 1..5: values 1, 1.5, 2, 3, 4 truncate to 1, 1, 2, 3, 4
    cast(s, "fp4_e2m1", 1, s, "int4", 1, 5, false);
    assert.deepEqual([...new Uint8Array(native.read(s, 0, 4))], [0x11, 0x21, 0x43, 0x87]);
  } finally {
    s.free();
  }
});
