// Seeded mutation fuzzing of the safetensors reader. Every mutated file must either open and
// read back all its tensors consistently, or be refused with a SafetensorsError; any other
// exception (TypeError, RangeError, ...) is a bug in the validation. Structured header edits
// whose outcome is known also assert which of the two happened.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_HEADER_BYTES, SafetensorsError, openSafetensors, writeSafetensors } from "../../engine/io/safetensors.js";

// Longer hunts: VL_FUZZ_ITERATIONS=200000 VL_FUZZ_SEED=7 node scripts/run-tests.mjs safetensors-fuzz
const ITERATIONS = Math.max(3000, Number(process.env.VL_FUZZ_ITERATIONS ?? 0) || 0);
const SEED = Number(process.env.VL_FUZZ_SEED ?? 0x5afe7e45);

/** mulberry32: small, fast, seedable. */
function rngFrom(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}
type Rng = ReturnType<typeof rngFrom>;

const scratch = mkdtempSync(join(tmpdir(), "vl-st-fuzz-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));

// The valid base file: several dtypes, a scalar, a zero-size tensor, a packed F4 tensor, metadata.
const basePath = join(scratch, "base.safetensors");
writeSafetensors(basePath, [
  { name: "blocks.0.weight", dtype: "F32", shape: [4, 3], data: new Uint8Array(48).map((_, i) => i * 7) },
  { name: "blocks.0.bias", dtype: "BF16", shape: [5], data: new Uint8Array(10).map((_, i) => 200 - i) },
  { name: "empty", dtype: "U8", shape: [3, 0], data: new Uint8Array(0) },
  { name: "step", dtype: "I64", shape: [], data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) },
  { name: "scales", dtype: "F8_E4M3", shape: [8], data: new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]) }, // same size as "step"
  { name: "packed", dtype: "F4", shape: [2, 3], data: new Uint8Array([0x12, 0x34, 0x56]) },
], { format: "pt", note: "fuzz base" });
const base = new Uint8Array(readFileSync(basePath));
const baseN = Number(new DataView(base.buffer).getBigUint64(0, true));
const baseHeader = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + baseN))) as Record<string, any>;
const baseData = base.subarray(8 + baseN);
const tensorNames = Object.keys(baseHeader).filter((k) => k !== "__metadata__");

/** Assembles a file from header bytes (space-padded to 8) and data. */
function assemble(headerBytes: Uint8Array, data: Uint8Array = baseData): Uint8Array {
  const n = Math.ceil(headerBytes.length / 8) * 8;
  const out = new Uint8Array(8 + n + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.fill(0x20, 8, 8 + n);
  out.set(headerBytes, 8);
  out.set(data, 8 + n);
  return out;
}
const encode = (s: string) => new TextEncoder().encode(s);
/** Values written as "@raw:TEXT" are emitted as the raw JSON text TEXT (for numbers JSON.stringify cannot make). */
const serialize = (h: unknown) => JSON.stringify(h).replace(/"@raw:([^"]*)"/g, "$1");

type Expect = "ok" | "error" | "either";
interface Mutation { kind: string; bytes: Uint8Array; expect: Expect }

// ---- byte-level mutations of the whole file --------------------------------------------------

function flipBits(bytes: Uint8Array, from: number, to: number, count: number, rng: Rng): void {
  for (let i = 0; i < count && to > from; i++) {
    const at = from + rng.int(to - from);
    bytes[at]! ^= 1 << rng.int(8);
  }
}

const INTERESTING_ASCII = [..."\"{}[],:0123456789-+.eE \\/nult\u0000\u007f"].map((c) => c.charCodeAt(0));

const byteMutations: Record<string, (rng: Rng) => Mutation> = {
  lengthBitFlip: (rng) => {
    const b = base.slice();
    flipBits(b, 0, 8, 1 + rng.int(3), rng);
    // Any other N misplaces the JSON/data boundary; flipping one bit twice restores the file.
    const unchanged = new DataView(b.buffer).getBigUint64(0, true) === BigInt(baseN);
    return { kind: "lengthBitFlip", bytes: b, expect: unchanged ? "ok" : "error" };
  },
  lengthByte: (rng) => {
    const b = base.slice();
    const at = rng.int(8);
    const v = rng.int(256);
    b[at] = v === b[at] ? v ^ 1 : v;
    return { kind: "lengthByte", bytes: b, expect: "error" };
  },
  lengthSpecial: (rng) => {
    const b = base.slice();
    const values = [0n, 1n, 7n, BigInt(baseN - 1), BigInt(baseN + 1), BigInt(baseN + 8), BigInt(b.length), BigInt(b.length - 8),
      BigInt(MAX_HEADER_BYTES), BigInt(MAX_HEADER_BYTES) + 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n,
      BigInt(rng.int(2 ** 31)) * BigInt(rng.int(2 ** 31))];
    const v = rng.pick(values);
    new DataView(b.buffer).setBigUint64(0, v, true);
    return { kind: "lengthSpecial", bytes: b, expect: v === BigInt(baseN) ? "ok" : "error" };
  },
  headerBitFlip: (rng) => {
    const b = base.slice();
    flipBits(b, 8, 8 + baseN, 1 + rng.int(3), rng);
    return { kind: "headerBitFlip", bytes: b, expect: "either" };
  },
  headerByte: (rng) => {
    const b = base.slice();
    for (let i = 1 + rng.int(3); i > 0; i--) b[8 + rng.int(baseN)] = rng.int(256);
    return { kind: "headerByte", bytes: b, expect: "either" };
  },
  headerAscii: (rng) => {
    const b = base.slice();
    for (let i = 1 + rng.int(2); i > 0; i--) b[8 + rng.int(baseN)] = rng.pick(INTERESTING_ASCII);
    return { kind: "headerAscii", bytes: b, expect: "either" };
  },
  dataBitFlip: (rng) => {
    const b = base.slice();
    flipBits(b, 8 + baseN, b.length, 1 + rng.int(8), rng);
    return { kind: "dataBitFlip", bytes: b, expect: "ok" }; // data bytes are opaque: always readable
  },
  truncate: (rng) => {
    const cut = rng.int(base.length);
    return { kind: "truncate", bytes: base.slice(0, cut), expect: "error" };
  },
  append: (rng) => {
    const extra = new Uint8Array(1 + rng.int(16)).map(() => rng.int(256));
    const b = new Uint8Array(base.length + extra.length);
    b.set(base);
    b.set(extra, base.length);
    return { kind: "append", bytes: b, expect: "error" };
  },
  combo: (rng) => {
    const kinds = ["lengthBitFlip", "headerBitFlip", "headerByte", "headerAscii", "dataBitFlip"] as const;
    let b = base.slice();
    for (let i = 2 + rng.int(3); i > 0; i--) {
      const k = rng.pick(kinds);
      if (k === "dataBitFlip") flipBits(b, 8 + baseN, b.length, 1, rng);
      else if (k === "lengthBitFlip") flipBits(b, 0, 8, 1, rng);
      else if (k === "headerAscii") b[8 + rng.int(baseN)] = rng.pick(INTERESTING_ASCII);
      else if (k === "headerByte") b[8 + rng.int(baseN)] = rng.int(256);
      else flipBits(b, 8, 8 + baseN, 1, rng);
    }
    if (rng.next() < 0.3) b = b.slice(0, rng.int(b.length + 1));
    return { kind: "combo", bytes: b, expect: "either" };
  },
};

// ---- structured header edits, re-serialized with a correct length --------------------------

const clone = () => structuredClone(baseHeader);
const nonEmptyTensors = tensorNames.filter((n) => baseHeader[n].data_offsets[1] > baseHeader[n].data_offsets[0]);

const jsonEdits: Record<string, (rng: Rng) => { text?: string; bytes?: Uint8Array; expect: Expect; data?: Uint8Array }> = {
  swapOffsets: (rng) => {
    const h = clone();
    const a = rng.pick(nonEmptyTensors);
    const b = rng.pick(nonEmptyTensors.filter((x) => x !== a));
    [h[a].data_offsets, h[b].data_offsets] = [h[b].data_offsets, h[a].data_offsets];
    const sameSize = baseHeader[a].data_offsets[1] - baseHeader[a].data_offsets[0] === baseHeader[b].data_offsets[1] - baseHeader[b].data_offsets[0];
    return { text: serialize(h), expect: sameSize ? "ok" : "error" };
  },
  overlap: (rng) => {
    const h = clone();
    const name = rng.pick(nonEmptyTensors.filter((n) => baseHeader[n].data_offsets[0] > 0));
    const shift = 1 + rng.int(4);
    h[name].data_offsets = [h[name].data_offsets[0] - shift, h[name].data_offsets[1] - shift];
    return { text: serialize(h), expect: "error" };
  },
  badNumber: (rng) => {
    const h = clone();
    const name = rng.pick(tensorNames);
    const raw = rng.pick(["-1", "-0", "1.5", "8.0", "1e3", "0.0e0", "\"8\"", "18446744073709551616", "9007199254740993", "true", "null", "[]", "{}"]);
    const field = rng.pick(["shape", "data_offsets"]);
    const arr = h[name][field] as unknown[];
    if (arr.length === 0) arr.push(`@raw:${raw}`);
    else arr[rng.int(arr.length)] = `@raw:${raw}`;
    return { text: serialize(h), expect: "error" };
  },
  unknownDtype: (rng) => {
    const h = clone();
    h[rng.pick(tensorNames)].dtype = rng.pick(["f32", "F128", "", "FLOAT", "F8", "Q4_0", "BF16 ", "F32\u0000"]);
    return { text: serialize(h), expect: "error" };
  },
  otherDtype: (rng) => {
    const h = clone();
    const name = rng.pick(tensorNames);
    const from = baseHeader[name].dtype as string;
    const to = rng.pick(["BOOL", "U8", "I8", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "C64", "F4", "F6_E3M2", "F8_E8M0"]);
    const bits: Record<string, number> = { BOOL: 8, U8: 8, I8: 8, F8_E4M3: 8, F8_E8M0: 8, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, F64: 64, I64: 64, C64: 64, F4: 4, F6_E3M2: 6 };
    h[name].dtype = to;
    const numel = (baseHeader[name].shape as number[]).reduce((a, b) => a * b, 1);
    return { text: serialize(h), expect: bits[from] === bits[to] || numel === 0 ? "ok" : "error" };
  },
  shapeMismatch: (rng) => {
    const h = clone();
    const name = rng.pick(nonEmptyTensors);
    const shape = h[name].shape as number[];
    const edit = rng.int(3);
    if (edit === 0) shape.push(2 + rng.int(5));
    else if (edit === 1 && shape.length > 0) shape[rng.int(shape.length)] += 1 + rng.int(3);
    else shape.splice(0, shape.length, 0);
    return { text: serialize(h), expect: "error" };
  },
  duplicateKey: (rng) => {
    const text = serialize(baseHeader);
    const name = rng.pick(tensorNames);
    const entry = JSON.stringify(baseHeader[name]);
    if (rng.next() < 0.5) return { text: text.slice(0, -1) + `,${JSON.stringify(name)}:${entry}}`, expect: "error" };
    const field = rng.pick(["dtype", "shape", "data_offsets"]);
    const dup = entry.slice(0, -1) + `,${JSON.stringify(field)}:${JSON.stringify(baseHeader[name][field])}}`;
    return { text: text.replace(`${JSON.stringify(name)}:${entry}`, `${JSON.stringify(name)}:${dup}`), expect: "error" };
  },
  deepNesting: (rng) => {
    const depth = rng.pick([10, 63, 65, 1000, 100_000]);
    const deep = "[".repeat(depth) + "]".repeat(depth);
    const text = serialize(baseHeader);
    const name = rng.pick(tensorNames);
    const entry = JSON.stringify(baseHeader[name]);
    // as an ignored extra field of an entry: fine while shallow, an error when absurdly deep
    return { text: text.replace(entry, entry.slice(0, -1) + `,"x":${deep}}`), expect: depth + 2 <= 64 ? "ok" : "error" };
  },
  nonUtf8Name: (rng) => {
    const text = serialize(baseHeader);
    const name = rng.pick(tensorNames);
    const at = encode(text.slice(0, text.indexOf(JSON.stringify(name)) + 2)).length;
    const bytes = encode(text);
    const bad = rng.pick([[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x80], [0xf5, 0x80, 0x80, 0x80]]);
    const out = new Uint8Array(bytes.length + bad.length);
    out.set(bytes.subarray(0, at));
    out.set(bad, at);
    out.set(bytes.subarray(at), at + bad.length);
    return { bytes: out, expect: "error" };
  },
  loneSurrogate: (rng) => {
    const text = serialize(baseHeader);
    const name = rng.pick(tensorNames);
    const esc = rng.pick(["\\ud800", "\\udfff", "\\ud800\\u0041", "\\ud83d\\ude00"]);
    return { text: text.replace(JSON.stringify(name), JSON.stringify(name).slice(0, -1) + esc + '"'), expect: esc === "\\ud83d\\ude00" ? "ok" : "error" };
  },
  badMetadata: (rng) => {
    const h = clone();
    const v = rng.pick<unknown>([1, null, ["a"], { a: "b" }, true]);
    const replaceWhole = rng.next() < 0.5;
    if (replaceWhole) h.__metadata__ = v === null ? 5 : v;
    else h.__metadata__.note = v;
    // replacing the whole map with {a: "b"} is a valid (different) metadata map
    const valid = replaceWhole && typeof v === "object" && v !== null && !Array.isArray(v);
    return { text: serialize(h), expect: valid ? "ok" : "error" };
  },
  missingField: (rng) => {
    const h = clone();
    delete h[rng.pick(tensorNames)][rng.pick(["dtype", "shape", "data_offsets"])];
    return { text: serialize(h), expect: "error" };
  },
  entryNotObject: (rng) => {
    const h = clone();
    h[rng.pick(tensorNames)] = rng.pick([1, "F32", [0, 8], null, true]);
    return { text: serialize(h), expect: "error" };
  },
  rootNotObject: (rng) => ({ text: rng.pick(["[]", "null", "\"x\"", "42", "[{}]", ""]), expect: "error" }),
  trailingGarbage: (rng) => ({ text: serialize(baseHeader) + rng.pick(["}", "x", ",", "{}", "\u0000"]), expect: "error" }),
  // valid rewrites: the file must still open and read identically
  renameTensor: (rng) => {
    const h = clone();
    const name = rng.pick(tensorNames);
    h[rng.pick(["renamed", "0", "ünï ✓", "a\"b\\c", ""])] = h[name];
    delete h[name];
    return { text: serialize(h), expect: "ok" };
  },
  reorderEntries: (rng) => {
    const keys = Object.keys(baseHeader);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    return { text: `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(baseHeader[k])}`).join(",")}}`, expect: "ok" };
  },
  whitespace: (rng) => ({ text: rng.pick(["\n", " ", "\t", "\r\n"]) + JSON.stringify(baseHeader, null, rng.pick([1, 2, "\t"])) + "\n", expect: "ok" }),
  extraField: () => {
    const h = clone();
    for (const n of tensorNames) h[n].extra = { ignored: [1, 2] };
    return { text: serialize(h), expect: "ok" };
  },
  nullMetadata: () => {
    const h = clone();
    h.__metadata__ = null;
    return { text: serialize(h), expect: "ok" };
  },
  removeTensor: (rng) => {
    const h = clone();
    const name = rng.pick(tensorNames);
    const empty = baseHeader[name].data_offsets[0] === baseHeader[name].data_offsets[1];
    delete h[name];
    return { text: serialize(h), expect: empty ? "ok" : "error" };
  },
};

function jsonEditMutation(rng: Rng): Mutation {
  const kind = rng.pick(Object.keys(jsonEdits));
  const r = jsonEdits[kind]!(rng);
  const header = r.bytes ?? encode(r.text!);
  return { kind: `json:${kind}`, bytes: assemble(header, r.data), expect: r.expect };
}

// ---- the check -----------------------------------------------------------------------------

type Outcome = "ok" | "error";

function check(path: string, bytes: Uint8Array): Outcome {
  writeFileSync(path, bytes);
  let f;
  try {
    f = openSafetensors(path);
  } catch (err) {
    if (err instanceof SafetensorsError) {
      assert.ok(err.message.includes(path), `error message names the file: ${err.message}`);
      return "error";
    }
    throw err;
  }
  try {
    // Opened: the tensors must tile the data exactly and each read must return the file's bytes.
    let cursor = 8 + f.headerByteLength;
    for (const t of f.tensors) {
      assert.equal(t.byteOffset, cursor);
      const got = f.read(t.name);
      assert.equal(got.length, t.byteLength);
      assert.deepEqual(got, bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength));
      cursor += t.byteLength;
    }
    assert.equal(cursor, bytes.length);
  } finally {
    f.close();
  }
  return "ok";
}

test(`fuzz: ${ITERATIONS} seeded mutations either read back consistently or throw SafetensorsError`, { timeout: 600_000 }, (t) => {
  const rng = rngFrom(SEED);
  const path = join(scratch, "mutant.safetensors");
  const counts = new Map<string, { ok: number; error: number }>();
  const generators = [...Object.values(byteMutations), jsonEditMutation, jsonEditMutation, jsonEditMutation];
  const started = performance.now();

  assert.equal(check(path, base), "ok", "the unmutated base file opens");
  for (let i = 0; i < ITERATIONS; i++) {
    const m = generators[i % generators.length]!(rng);
    let outcome: Outcome;
    try {
      outcome = check(path, m.bytes);
    } catch (err) {
      const header = new TextDecoder().decode(m.bytes.subarray(8, Math.min(m.bytes.length, 8 + 400)));
      assert.fail(`iteration ${i} (${m.kind}, seed ${SEED}) threw a non-SafetensorsError: ${err instanceof Error ? err.stack : String(err)}\nheader start: ${JSON.stringify(header)}`);
    }
    if (m.expect !== "either") assert.equal(outcome, m.expect, `iteration ${i} (${m.kind}) expected ${m.expect}`);
    const c = counts.get(m.kind) ?? { ok: 0, error: 0 };
    c[outcome]++;
    counts.set(m.kind, c);
  }
  const elapsedMs = performance.now() - started;

  let ok = 0;
  let error = 0;
  for (const [kind, c] of [...counts].sort()) {
    t.diagnostic(`${kind.padEnd(22)} ok ${String(c.ok).padStart(4)}  SafetensorsError ${String(c.error).padStart(4)}`);
    ok += c.ok;
    error += c.error;
  }
  t.diagnostic(`total: ${ok} opened and read back, ${error} rejected with SafetensorsError, ${elapsedMs.toFixed(0)} ms`);
  assert.equal(ok + error, ITERATIONS);
  assert.ok(ok >= 300, `only ${ok} mutants opened; the fuzzer is not exercising the read path`);
  assert.ok(error >= 1000, `only ${error} mutants were rejected`);
  // Random header edits must hit both outcomes, or they are not probing the validation boundary.
  for (const kind of ["headerBitFlip", "headerByte", "headerAscii", "lengthSpecial"]) {
    const c = counts.get(kind)!;
    assert.ok(c.error > 0, `${kind} never rejected`);
  }
  assert.ok(counts.get("dataBitFlip")!.ok > 100);
});
