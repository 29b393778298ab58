// The CUDA cast kernel's per-element codec (engine/native/src/cuda/hd_codecs.h,
// compiled __host__ __device__) run on the CPU through cudaCodecCast and
// compared bit for bit with the cpu cast kernel: every 8- and 16-bit source
// pattern and 2^20 float32 patterns into every dtype, with and without
// saturation, at element offsets that split packed bytes. This proves the
// codec the GPU runs; it does not prove nvcc's device build of it or the
// kernel's byte partitioning (test/engine/cuda-device.test.ts does, on a GPU).
import { test } from "node:test";
import assert from "node:assert/strict";
import { native } from "../../engine/native-binding.js";
import { DTYPES, byteSize, dtypeCode, dtypeInfo, type DType } from "../../engine/dtype.js";
import "../../engine/kernels/cuda.js";
import { cast } from "../../engine/kernels/cast.js";
import { seededRandom } from "./casts-helpers.js";

function run(fn: "cpu" | "codec", src: Uint8Array, sd: DType, dd: DType, n: number, sat: boolean, srcOffset: number, dstOffset: number, init: Uint8Array): Uint8Array {
  const s = new native.Storage(src.length, true);
  const d = new native.Storage(init.length, true);
  try {
    native.write(s, 0, src);
    native.write(d, 0, init);
    if (fn === "cpu") cast(s, sd, srcOffset, d, dd, dstOffset, n, sat);
    else native.cudaCodecCast(s, dtypeCode(sd), srcOffset, d, dtypeCode(dd), dstOffset, n, sat);
    return new Uint8Array(native.read(d, 0, init.length));
  } finally {
    s.free();
    d.free();
  }
}

function compare(src: Uint8Array, sd: DType, n: number, srcOffset = 0, dstOffset = 0): void {
  const random = seededRandom(0xc0dec + dtypeCode(sd));
  for (const dd of DTYPES) {
    const init = new Uint8Array(byteSize(dd, dstOffset + n) + 1);
    for (let i = 0; i < init.length; i++) init[i] = random() & 0xff; // neighbours of packed elements must survive
    for (const sat of [false, true]) {
      const want = run("cpu", src, sd, dd, n, sat, srcOffset, dstOffset, init);
      const got = run("codec", src, sd, dd, n, sat, srcOffset, dstOffset, init);
      if (Buffer.compare(Buffer.from(want), Buffer.from(got)) !== 0) {
        const at = want.findIndex((b, i) => b !== got[i]);
        assert.fail(`${sd} -> ${dd} (saturate=${sat}): byte ${at} is ${got[at]} from the CUDA codec, ${want[at]} from the cpu kernel`);
      }
    }
  }
}

test("every 8- and 16-bit source pattern converts identically to every dtype", () => {
  for (const sd of DTYPES) {
    const bits = dtypeInfo(sd).bits;
    if (bits !== 8 && bits !== 16) continue;
    const n = 1 << bits;
    const src = bits === 8 ? Uint8Array.from({ length: n }, (_, i) => i) : new Uint8Array(Uint16Array.from({ length: n }, (_, i) => i).buffer);
    compare(src, sd, n);
  }
});

test("every code of the packed formats, at offsets that split bytes", () => {
  for (const sd of ["int4", "fp6_e3m2", "fp5_e2m2", "fp4_e2m1"] as const) {
    const bits = dtypeInfo(sd).bits;
    const n = 3 * (1 << bits) + 5;
    const src = new Uint8Array(byteSize(sd, n + 3));
    const random = seededRandom(bits);
    for (let i = 0; i < src.length; i++) src[i] = random() & 0xff;
    compare(src, sd, n, 3, 5);
  }
});

test("2^20 random float32 patterns and the special values convert identically", () => {
  const random = seededRandom(0x5eed_cd);
  const n = 1 << 20;
  const bits = new Uint32Array(n + 16);
  for (let i = 0; i < n; i++) bits[i] = random();
  const specials = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00001, 1, 0x80000001, 0x43e00000, 0x43f00000, 0x477ff000, 0x477fe000, 0x4f000000, 0xcf000000, 0x5f000000];
  specials.forEach((s, i) => (bits[n + i] = s));
  compare(new Uint8Array(bits.buffer), "float32", bits.length, 0, 3);
  const ints = Int32Array.from({ length: 1 << 16 }, () => random() | 0);
  compare(new Uint8Array(ints.buffer), "int32", ints.length, 0, 1);
});
