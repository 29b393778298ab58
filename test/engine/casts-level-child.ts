// Child process of casts-cpu-levels.test.ts: runs every dtype pair (both
// saturate modes) on a fixed, seeded input set at whatever CPU level
// VRAMLAB_CPU selects, and prints a digest of each output as JSON.
import { createHash } from "node:crypto";
import { native } from "../../engine/native-binding.js";
import { DTYPES, byteSize, type DType } from "../../engine/dtype.js";
import { cast } from "../../engine/kernels/cast.js";
import { FORMAT_NAMES } from "../reference/float-formats.js";
import { allHalfValuesAsF32Bits, bytesOf, f32BytesFromBits, probeF32Bits, seededRandom, specialF32Bits } from "./casts-helpers.js";

const random = seededRandom(0x1e7e1);

function float32Source(): Uint8Array {
  const bits = [...specialF32Bits(), ...FORMAT_NAMES.flatMap((name) => probeF32Bits(name)), ...allHalfValuesAsF32Bits()];
  for (let i = 0; i < 1 << 18; i++) bits.push(random());
  for (let i = 0; i < 1 << 16; i++) bits.push((((random() % 64) + 100) << 23 | (random() & 0x807fffff)) >>> 0);  // |x| in [2^-27, 2^37)
  return f32BytesFromBits(bits);
}

/** Every code of the dtype several times over, plus random codes: an odd count. */
function codeSource(dtype: DType): Uint8Array {
  const bits = byteSize(dtype, 8);  // bytes per 8 elements = bits per element
  const codeCount = bits >= 32 ? 0 : 2 ** bits;
  const codes: number[] = [];
  for (let rep = 0; rep < Math.max(1, Math.floor(40_000 / Math.max(codeCount, 1))); rep++) {
    for (let c = 0; c < codeCount; c++) codes.push(c);
  }
  const extra = bits >= 32 ? 100_001 : 30_001;
  for (let i = 0; i < extra; i++) codes.push(bits >= 32 ? random() : random() % codeCount);
  return bytesOf(dtype, codes);
}

const digests: Record<string, string> = {};
for (const src of DTYPES) {
  const bytes = src === "float32" ? float32Source() : codeSource(src);
  const n = Math.floor((bytes.length * 8) / (byteSize(src, 8))) - 1;  // skip the first element (srcOffset 1)
  const s = new native.Storage(bytes.length);
  native.write(s, 0, bytes);
  for (const dst of DTYPES) {
    const d = new native.Storage(byteSize(dst, n + 3));
    for (const saturate of [false, true]) {
      native.write(d, 0, new Uint8Array(d.nbytes).fill(0xa5));
      cast(s, src, 1, d, dst, 3, n, saturate);
      digests[`${src}->${dst}${saturate ? " saturate" : ""}`] = createHash("sha256").update(new Uint8Array(native.read(d, 0, d.nbytes))).digest("hex");
    }
    d.free();
  }
  s.free();
}
process.stdout.write(JSON.stringify({ level: native.cpuInfo().level, threads: native.getNumThreads(), digests }));
