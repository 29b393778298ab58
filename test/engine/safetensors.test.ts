import { test } from "node:test";
import assert from "node:assert/strict";
import {
  closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DTYPES, dtypeInfo } from "../../engine/dtype.js";
import {
  MAX_HEADER_BYTES, SAFETENSORS_DTYPES, SafetensorsError, openSafetensors, parseStrictJson, safetensorsByteLength,
  safetensorsDType, safetensorsDTypeInfo, vramlabDType, writeSafetensors, type SafetensorsWriteEntry,
} from "../../engine/io/safetensors.js";

const scratch = mkdtempSync(join(tmpdir(), "vl-safetensors-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
let fileCounter = 0;
const scratchFile = (label: string) => join(scratch, `${label}-${fileCounter++}.safetensors`);

/** Deterministic bytes (xorshift32) so failures reproduce. */
function seededBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

/** A file from raw header text (padded with spaces to 8) and data bytes; `headerLength` overrides N. */
function rawFile(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): string {
  const json = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  const bytes = new Uint8Array(8 + padded.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, headerLength ?? BigInt(padded.length), true);
  bytes.set(padded, 8);
  bytes.set(data, 8 + padded.length);
  const path = scratchFile("raw");
  writeFileSync(path, bytes);
  return path;
}

function assertOpenFails(path: string, pattern: RegExp): SafetensorsError {
  let caught: unknown;
  try {
    openSafetensors(path).close();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SafetensorsError, `expected SafetensorsError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  assert.ok(caught.message.includes(path), "message names the file");
  return caught;
}

test("dtype table: item sizes and the vramlab mapping agree with engine/dtype.ts", () => {
  const bits: Record<string, number> = {
    BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
    I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
  };
  assert.deepEqual([...SAFETENSORS_DTYPES].sort(), Object.keys(bits).sort());
  for (const [name, b] of Object.entries(bits)) assert.equal(safetensorsDTypeInfo(name)?.bits, b, name);
  for (const d of DTYPES) {
    const st = dtypeInfo(d).safetensors;
    assert.equal(safetensorsDType(d), st);
    if (st !== undefined) assert.equal(vramlabDType(st), d, `${st} -> ${d}`);
  }
  assert.equal(vramlabDType("F32"), "float32");
  assert.equal(vramlabDType("BF16"), "bfloat16");
  assert.equal(vramlabDType("F8_E4M3"), "float8_e4m3fn");
  assert.equal(vramlabDType("F64"), undefined);
  assert.equal(safetensorsDTypeInfo("F128"), undefined);
  assert.equal(safetensorsByteLength("F4", [3, 2]), 3);
  assert.equal(safetensorsByteLength("F6_E3M2", [4]), 3);
  assert.throws(() => safetensorsByteLength("F4", [3]), /12 bits, not a whole number of bytes/);
  assert.throws(() => safetensorsByteLength("F32", [2, -1]), /non-negative integers/);
  assert.throws(() => safetensorsByteLength("Q4", [2]), /unknown dtype "Q4"/);
});

test("round trip of every dtype with odd shapes, scalars and zero-size tensors", () => {
  const shapes: number[][] = [[], [0], [3, 0, 5], [1, 1, 1, 8], [257], [2, 3, 4]];
  const entries: SafetensorsWriteEntry[] = [];
  let seed = 1;
  for (const dtype of SAFETENSORS_DTYPES) {
    for (const shape of shapes) {
      const bits = safetensorsDTypeInfo(dtype)!.bits * shape.reduce((a, b) => a * b, 1);
      if (bits % 8 !== 0) continue; // F4/F6 scalars and odd counts are not storable (as in the reference)
      const data = seededBytes(bits / 8, seed++);
      entries.push({ name: `${dtype.toLowerCase()}.${shape.join("x") || "scalar"}`, dtype, shape, data });
    }
  }
  // Integer-like names must keep working (a plain JS object would reorder them).
  entries.push({ name: "0", dtype: "U8", shape: [2], data: new Uint8Array([7, 9]) });
  entries.push({ name: "名前 ✓", dtype: "I16", shape: [1], data: new Uint8Array([1, 2]) });
  const metadata = { format: "pt", note: "ünïcode \"quoted\" \\ text", "0": "zero", __proto__x: "y" };
  const path = scratchFile("all-dtypes");
  const written = writeSafetensors(path, entries, metadata);

  const f = openSafetensors(path);
  try {
    assert.equal(f.tensors.length, entries.length);
    assert.deepEqual(f.metadata, metadata);
    assert.equal(f.fileByteLength, written.fileByteLength);
    assert.equal(readFileSync(path).length, written.fileByteLength);
    for (const e of entries) {
      const t = f.get(e.name);
      assert.equal(t.dtype, e.dtype, e.name);
      assert.deepEqual(t.shape, e.shape, e.name);
      assert.equal(t.byteLength, (e.data as Uint8Array).length, e.name);
      assert.deepEqual(f.read(e.name), e.data, e.name);
    }
    // Widest dtype first, so every multi-byte tensor is aligned to its element size in the file.
    const dataStart = 8 + f.headerByteLength;
    for (const t of f.tensors) {
      const bytes = Math.max(1, safetensorsDTypeInfo(t.dtype)!.bits / 8);
      assert.equal((t.byteOffset - dataStart) % bytes, 0, `${t.name} aligned`);
    }
    // tensors are listed in file order and tile the buffer
    let cursor = dataStart;
    for (const t of f.tensors) {
      assert.equal(t.byteOffset, cursor);
      cursor += t.byteLength;
    }
    assert.equal(cursor, f.fileByteLength);
  } finally {
    f.close();
  }
});

test("header is padded with spaces to a multiple of 8 and data starts right after it", () => {
  for (let nameLength = 1; nameLength <= 8; nameLength++) {
    const name = "n".repeat(nameLength);
    const path = scratchFile("pad");
    writeSafetensors(path, [{ name, dtype: "F32", shape: [2], data: new Uint8Array(8).fill(0xab) }]);
    const bytes = readFileSync(path);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0, `N=${n} for name length ${nameLength}`);
    const header = bytes.subarray(8, 8 + n).toString("utf8");
    const json = `{"${name}":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`;
    assert.equal(header, json.padEnd(n, " "));
    assert.ok(n - json.length < 8);
    assert.deepEqual([...bytes.subarray(8 + n)], new Array(8).fill(0xab));
  }
  // An empty file is just "{}" padded: 8 + 8 bytes, as the reference writes it.
  const empty = scratchFile("empty");
  writeSafetensors(empty, []);
  assert.deepEqual([...readFileSync(empty)], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  const f = openSafetensors(empty);
  assert.equal(f.tensors.length, 0);
  assert.deepEqual(f.metadata, {});
  f.close();
});

test("reads the reference crate's documented byte layout and files with tensors listed out of order", () => {
  // The serialized example from the reference crate's tests (attn.0: F32 [1,2,3] = 0..5).
  const bytes = new Uint8Array([
    64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
    116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
    58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
    101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
    0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
  ]);
  const path = scratchFile("reference");
  writeFileSync(path, bytes);
  const f = openSafetensors(path);
  const t = f.get("attn.0");
  assert.deepEqual(t.shape, [1, 2, 3]);
  const r = f.read("attn.0");
  assert.deepEqual([...new Float32Array(r.buffer, r.byteOffset, 6)], [0, 1, 2, 3, 4, 5]);
  f.close();

  const data = seededBytes(12, 5);
  const outOfOrder = rawFile(
    `{"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]},"__metadata__":null,"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8],"extra":"ignored"}}`,
    data,
  );
  const g = openSafetensors(outOfOrder);
  assert.deepEqual(g.tensors.map((x) => x.name), ["a", "b"], "listed in file order");
  assert.deepEqual(g.read("b"), data.subarray(8, 12));
  assert.deepEqual(g.read("a"), data.subarray(0, 8));
  g.close();

  // A "__proto__" metadata key is kept as plain data, never turned into a prototype.
  const proto = openSafetensors(rawFile(`{"__metadata__":{"__proto__":"x","k":"v"}}`));
  assert.equal(Object.getPrototypeOf(proto.metadata), Object.prototype);
  assert.deepEqual(Object.keys(proto.metadata), ["__proto__", "k"]);
  assert.equal(Object.getOwnPropertyDescriptor(proto.metadata, "__proto__")?.value, "x");
  proto.close();
});

test("lazy: opening reads only the header and one tensor is read at a 4 GiB+ offset of a sparse 4 GiB file", () => {
  // A 4 GiB U8 tensor sits between two small ones. The file is sparse (no disk used). If open or
  // readInto touched the whole file this would need 4 GiB of RAM and fail (readFileSync refuses >2 GiB).
  const big = 2 ** 32;
  const headerText = JSON.stringify({
    head: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
    huge: { dtype: "U8", shape: [big], data_offsets: [16, 16 + big] },
    tail: { dtype: "F32", shape: [2, 2], data_offsets: [16 + big, 32 + big] },
  });
  const json = new TextEncoder().encode(headerText);
  const n = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + n).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true);
  head.set(json, 8);
  const headData = seededBytes(16, 11);
  const tailData = seededBytes(16, 12);
  const path = scratchFile("sparse");
  const fd = openSync(path, "w");
  try {
    writeSync(fd, head, 0, head.length, 0);
    writeSync(fd, headData, 0, 16, 8 + n);
    ftruncateSync(fd, 8 + n + 32 + big);
    writeSync(fd, tailData, 0, 16, 8 + n + 16 + big);
  } finally {
    closeSync(fd);
  }
  const t0 = performance.now();
  const f = openSafetensors(path);
  const openMs = performance.now() - t0;
  try {
    assert.equal(f.fileByteLength, 8 + n + 32 + big);
    assert.equal(f.get("huge").byteLength, big);
    const tail = new Uint8Array(16);
    f.readInto("tail", tail);
    assert.equal(f.get("tail").byteOffset, 8 + n + 16 + big);
    assert.deepEqual(tail, tailData);
    assert.deepEqual(f.read("head"), headData);
    assert.ok(openMs < 1000, `open took ${openMs.toFixed(1)} ms; it must not scan the data`);
  } finally {
    f.close();
  }
});

test("reading one tensor of a multi-tensor file returns exactly its bytes", () => {
  const entries = Array.from({ length: 6 }, (_, i) => ({
    name: `layer.${i}.weight`, dtype: "F16", shape: [i + 1, 3], data: seededBytes((i + 1) * 3 * 2, 100 + i),
  }));
  const path = scratchFile("subset");
  writeSafetensors(path, entries);
  const f = openSafetensors(path);
  const target = new Uint8Array(f.get("layer.3.weight").byteLength);
  f.readInto("layer.3.weight", target);
  assert.deepEqual(target, entries[3]!.data);
  // and the bytes really are at the advertised offset in the file
  const whole = readFileSync(path);
  const t = f.get("layer.3.weight");
  assert.deepEqual(new Uint8Array(whole.subarray(t.byteOffset, t.byteOffset + t.byteLength)), entries[3]!.data);
  assert.throws(() => f.readInto("layer.3.weight", new Uint8Array(5)), /exactly 24 bytes, got 5 bytes/);
  assert.throws(() => f.get("layer.9.weight"), (e: unknown) => e instanceof SafetensorsError && /no such tensor; the file has 6 tensors/.test(e.message) && e.tensor === "layer.9.weight");
  f.close();
  assert.ok(f.closed);
  assert.throws(() => f.read("layer.0.weight"), /was closed; open it again/);
  f.close(); // closing twice is harmless
});

test("writer: data functions are called once each, in write order; bad input leaves no file behind", () => {
  const calls: string[] = [];
  const entries: SafetensorsWriteEntry[] = ["a", "b", "c"].map((name, i) => ({
    name, dtype: "U8", shape: [3], data: () => { calls.push(name); return new Uint8Array([i, i, i]); },
  }));
  const path = scratchFile("thunks");
  writeSafetensors(path, entries);
  assert.deepEqual(calls, ["a", "b", "c"]);
  const f = openSafetensors(path);
  assert.deepEqual(f.read("b"), new Uint8Array([1, 1, 1]));
  f.close();

  const before = readFileSync(path);
  const failing: [SafetensorsWriteEntry[], RegExp][] = [
    [[{ name: "x", dtype: "U8", shape: [1], data: new Uint8Array(1) }, { name: "x", dtype: "U8", shape: [1], data: new Uint8Array(1) }], /tensor "x": the name appears twice/],
    [[{ name: "x", dtype: "F32", shape: [2], data: new Uint8Array(7) }], /tensor "x": data is 7 bytes but F32 shape \[2\] needs 8/],
    [[{ name: "x", dtype: "U8", shape: [1], data: new Uint8Array(1) }, { name: "y", dtype: "F32", shape: [2], data: () => new Uint8Array(3) }], /tensor "y": data is 3 bytes/],
    [[{ name: "x", dtype: "F33", shape: [1], data: new Uint8Array(1) }], /tensor "x": unknown dtype "F33"/],
    [[{ name: "x", dtype: "U8", shape: [1.5], data: new Uint8Array(1) }], /shape \[1.5\] must be an array of non-negative integers/],
    [[{ name: "__metadata__", dtype: "U8", shape: [1], data: new Uint8Array(1) }], /reserved/],
    [[{ name: "bad\uD800", dtype: "U8", shape: [1], data: new Uint8Array(1) }], /unpaired UTF-16 surrogate/],
  ];
  for (const [bad, pattern] of failing) {
    assert.throws(() => writeSafetensors(path, bad), (e: unknown) => e instanceof SafetensorsError && pattern.test(e.message));
  }
  assert.throws(() => writeSafetensors(path, [{ name: "z", dtype: "U8", shape: [1], data: () => { throw new RangeError("producer failed"); } }]), /producer failed/);
  assert.deepEqual(readFileSync(path), before, "the existing file is untouched by failed writes");
  assert.deepEqual(readdirSync(scratch).filter((n) => n.endsWith(".tmp")), [], "no temp files left");
  assert.throws(() => writeSafetensors(path, [], { k: 5 as unknown as string }), /metadata\["k"\] must be a string/);
  assert.throws(() => writeSafetensors(join(scratch, "no-such-dir", "x.safetensors"), []), (e: unknown) => e instanceof SafetensorsError && /cannot create/.test(e.message));
});

test("open rejects malformed files with a SafetensorsError that says what is wrong", () => {
  const f32x2 = `{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`;
  const eight = new Uint8Array(8);
  const short = scratchFile("short");
  writeFileSync(short, new Uint8Array(5));
  assertOpenFails(short, /5 bytes, shorter than the 8-byte header length/);
  assertOpenFails(rawFile("{}", new Uint8Array(0), 0n), /header length is 0/);
  assertOpenFails(rawFile("{}", new Uint8Array(0), BigInt(MAX_HEADER_BYTES) + 1n), /exceeds the 100000000-byte limit/);
  assertOpenFails(rawFile("{}", new Uint8Array(0), 2n ** 63n), /header length 9223372036854775808 exceeds/);
  assertOpenFails(rawFile("{}", new Uint8Array(0), 4096n), /header length 4096 reaches past the end of the 16-byte file; the file is truncated/);
  assertOpenFails(rawFile(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])), /header is not valid UTF-8/);
  assertOpenFails(rawFile(`{"t":`), /not valid JSON: unexpected end of JSON/);
  assertOpenFails(rawFile(`\uFEFF{}`), /not valid JSON/);
  assertOpenFails(rawFile(`{} x`), /unexpected data after the JSON value/);
  assertOpenFails(rawFile(`[1,2]`), /must be a JSON object, got array/);
  assertOpenFails(rawFile(`{"t":[1]}`), /tensor "t": entry must be an object/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}`, eight), /tensor "t": unknown dtype "F31"; expected one of BOOL, F4/);
  assertOpenFails(rawFile(`{"t":{"shape":[2],"data_offsets":[0,8]}}`, eight), /"dtype" must be a string, got nothing/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, eight), /"shape" must be an array, got number 2/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), /shape\[0\] must be non-negative, got -2/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, eight), /shape\[0\] must be an integer, got 2.0/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, eight), /shape\[0\] must be a non-negative integer, got string "2"/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}`, eight), /beyond 2\^53/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, eight), /"data_offsets" must be \[begin, end\], got array of length 1/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8e0]}}`, eight), /data_offsets\[1\] must be an integer, got 8e0/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, eight), /data_offsets \[8, 0\] end before they begin/);
  assertOpenFails(rawFile(f32x2, new Uint8Array(6)), /tensor "t": data_offsets \[0, 8\] reach past the end of the 6-byte data buffer; the file is truncated/);
  assertOpenFails(rawFile(f32x2, new Uint8Array(12)), /cover 8 bytes of the 12-byte data buffer, leaving 4 trailing bytes/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight), /F32 shape \[3\] needs 12 bytes but data_offsets \[0, 8\] hold 8/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}}`, new Uint8Array(1)), /12 bits, not a whole number of bytes/);
  assertOpenFails(rawFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, eight), /tensor "b": data_offsets \[2, 6\] overlap tensor "a", which ends at 4/);
  assertOpenFails(rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, eight), /tensor "b": data_offsets \[4, 8\] leave a gap of 2 unused bytes after tensor "a"/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight), /duplicate key "t"/);
  assertOpenFails(rawFile(`{"t":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight), /duplicate key "dtype"/);
  assertOpenFails(rawFile(`{"__metadata__":{"a":1}}`), /__metadata__\["a"\] must be a string, got number 1/);
  assertOpenFails(rawFile(`{"__metadata__":["a"]}`), /__metadata__ must be an object of strings, got array/);
  assertOpenFails(rawFile(`{"__metadata__":{"a":"${"[".repeat(10)}"},"x":${"[".repeat(5000)}}`), /nesting deeper than 64 levels/);
  assertOpenFails(rawFile(`{"\\ud800x":{}}`), /lone leading surrogate/);
  assertOpenFails(rawFile(`{"a\u0001":{}}`), /control character in string/);
  assertOpenFails(join(scratch, "missing.safetensors"), /no such file; check the path/);
  assertOpenFails(scratch, /not a regular file but a directory; for a model folder use openCheckpoint/);
});

test("strict JSON parser agrees with JSON.parse on valid input", () => {
  const samples = [`{"a":[1,2,{"b":"\\u00e9\\n\\"x\\" \\ud83d\\ude00"}],"c":null,"d":true,"e":-0.5e-3}`, ` [ ] `, `"\\/"`];
  const plain = (v: unknown): unknown => {
    if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, plain(x)]));
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === "object" && "text" in v) return Number((v as { text: string }).text);
    return v;
  };
  for (const s of samples) assert.deepEqual(plain(parseStrictJson(s)), JSON.parse(s), s);
  for (const bad of [`{"a":1,}`, `[01]`, `{'a':1}`, `"\\x"`, `[1 2]`, `+1`, `.5`, `1.`, `{"a" 1}`]) {
    assert.throws(() => parseStrictJson(bad), /at character/, bad);
    assert.throws(() => JSON.parse(bad), SyntaxError, bad);
  }
});

// The fixture lives next to the repository (../shared/fixtures) or inside it (shared/fixtures).
function findFixture(rel: string): string | undefined {
  const candidates = ["../../../../shared/fixtures/", "../../../shared/fixtures/"]
    .map((p) => fileURLToPath(new URL(p + rel, import.meta.url)));
  return candidates.find((p) => existsSync(p));
}

test("interop: reads the diffusers-written Flux transformer checkpoint", (t) => {
  const path = findFixture("flux-diffusers-a/transformer/diffusion_pytorch_model.safetensors");
  if (!path) return t.skip("fixture ../shared/fixtures/flux-diffusers-a not present");
  const f = openSafetensors(path);
  try {
    assert.equal(f.metadata.format, "pt");
    assert.equal(f.tensors.length, 112);
    const q = f.get("transformer_blocks.0.attn.to_q.weight");
    assert.equal(q.dtype, "F32");
    assert.equal(vramlabDType(q.dtype), "float32");
    assert.deepEqual(q.shape, [64, 64]);
    assert.equal(q.byteLength, 64 * 64 * 4);
    assert.ok(f.tensors.every((x) => x.dtype === "F32"));
    const total = f.tensors.reduce((a, x) => a + x.byteLength, 0);
    assert.equal(8 + f.headerByteLength + total, f.fileByteLength, "tensor bytes + header fill the file exactly");
    assert.equal(f.fileByteLength, readFileSync(path).length);

    // Cross-check against an independent parse with JSON.parse and Buffer.
    const whole = readFileSync(path);
    const n = Number(whole.readBigUInt64LE(0));
    const header = JSON.parse(whole.subarray(8, 8 + n).toString("utf8"));
    const [b, e] = header["transformer_blocks.0.attn.to_q.weight"].data_offsets as [number, number];
    const bytes = f.read("transformer_blocks.0.attn.to_q.weight");
    assert.deepEqual(bytes, new Uint8Array(whole.subarray(8 + n + b, 8 + n + e)));
    const values = new Float32Array(bytes.buffer, bytes.byteOffset, 64 * 64);
    assert.ok(values.every(Number.isFinite) && values.some((v) => v !== 0), "weights are real numbers");

    // Rewrite with our writer (one tensor produced at a time) and compare every tensor.
    const copy = scratchFile("flux-copy");
    writeSafetensors(copy, f.tensors.map((x) => ({ name: x.name, dtype: x.dtype, shape: x.shape, data: () => f.read(x.name) })), f.metadata);
    const g = openSafetensors(copy);
    for (const x of f.tensors) assert.deepEqual(g.read(x.name), f.read(x.name), x.name);
    assert.equal(g.fileByteLength, f.fileByteLength - f.headerByteLength + g.headerByteLength);
    g.close();
  } finally {
    f.close();
  }
});

test("interop: reads the diffusers reference inputs/outputs file", (t) => {
  const path = findFixture("flux-diffusers-a/io.safetensors");
  if (!path) return t.skip("fixture ../shared/fixtures/flux-diffusers-a not present");
  const f = openSafetensors(path);
  try {
    assert.match(f.metadata.generator ?? "", /diffusers/);
    assert.deepEqual(f.get("hidden_states").shape, [1, 24, 16]);
    assert.equal(f.get("hidden_states").dtype, "F32");
    assert.equal(f.get("output_float64").dtype, "F64");
    assert.equal(f.get("output_float64").byteLength, 1 * 24 * 16 * 8);
    assert.equal(8 + f.headerByteLength + f.tensors.reduce((a, x) => a + x.byteLength, 0), f.fileByteLength);
    const out32 = f.read("output_float32");
    const out64 = f.read("output_float64");
    const a = new Float32Array(out32.buffer, out32.byteOffset, 384);
    const b = new Float64Array(out64.buffer, out64.byteOffset, 384);
    // float32 and float64 runs of the same model agree to float32 rounding noise (loose 1e-3 relative bound).
    const scale = Math.max(...b.map(Math.abs));
    for (let i = 0; i < 384; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-3 * scale, `element ${i}`);
  } finally {
    f.close();
  }
});
