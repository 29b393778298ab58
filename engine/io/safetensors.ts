// Reader and writer for the huggingface safetensors format:
//   8 bytes  little-endian u64 N, the header length
//   N bytes  UTF-8 JSON: {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
//   rest     the data buffer; data_offsets are relative to its start and must tile it exactly.
// Opening reads only the header; tensor bytes are read on demand with positional reads,
// so a many-GB checkpoint never has to sit whole in memory. Validation follows the
// reference implementation (the Rust `safetensors` crate) and adds what JSON.parse would hide
// (duplicate keys, integers that lose precision).
import {
  closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { DTYPES, dtypeInfo, type DType } from "../dtype.js";

/** The reference reader refuses headers above this size (100 MB); so do we, before allocating. */
export const MAX_HEADER_BYTES = 100_000_000;
const LENGTH_PREFIX_BYTES = 8;
/** Largest single fs read/write call; keeps each call well under Node's 2 GiB limit. */
const IO_CHUNK_BYTES = 64 * 1024 * 1024;
/** A valid header nests 3 deep (root -> entry -> shape); anything far deeper is garbage. */
const MAX_JSON_DEPTH = 64;

// ---------------------------------------------------------------------------------------------
// dtypes

export interface SafetensorsDTypeInfo {
  /** the dtype string as written in the header, e.g. "BF16" */
  name: string;
  /** bits per element; F4 and F6_* pack several elements per byte */
  bits: number;
  /** the vramlab dtype with the same bit layout, where vramlab has one */
  vramlab?: DType;
}

// Every dtype string the reference crate knows, in its (increasing alignment) order.
const SAFETENSORS_DTYPE_BITS: ReadonlyArray<readonly [string, number]> = [
  ["BOOL", 8], ["F4", 4], ["F6_E2M3", 6], ["F6_E3M2", 6], ["U8", 8], ["I8", 8],
  ["F8_E5M2", 8], ["F8_E4M3", 8], ["F8_E8M0", 8], ["I16", 16], ["U16", 16], ["F16", 16],
  ["BF16", 16], ["I32", 32], ["U32", 32], ["F32", 32], ["C64", 64], ["F64", 64],
  ["I64", 64], ["U64", 64],
];

// The vramlab mapping comes from engine/dtype.ts (DTypeInfo.safetensors), the single source of truth.
const vramlabBySafetensorsName = new Map<string, DType>();
for (const d of DTYPES) {
  const st = dtypeInfo(d).safetensors;
  if (st !== undefined) vramlabBySafetensorsName.set(st, d);
}

const dtypeTable = new Map<string, SafetensorsDTypeInfo>(
  SAFETENSORS_DTYPE_BITS.map(([name, bits]) => {
    const vramlab = vramlabBySafetensorsName.get(name);
    const info: SafetensorsDTypeInfo = vramlab === undefined ? { name, bits } : { name, bits, vramlab };
    return [name, Object.freeze(info)];
  }),
);

/** All safetensors dtype strings, in the reference crate's order. */
export const SAFETENSORS_DTYPES: readonly string[] = SAFETENSORS_DTYPE_BITS.map(([name]) => name);

export function safetensorsDTypeInfo(dtype: string): SafetensorsDTypeInfo | undefined {
  return dtypeTable.get(dtype);
}

/** The vramlab dtype for a safetensors dtype string, or undefined when vramlab has none (e.g. F64). */
export function vramlabDType(safetensorsDType: string): DType | undefined {
  return dtypeTable.get(safetensorsDType)?.vramlab;
}

/** The safetensors dtype string for a vramlab dtype, or undefined when the format has none. */
export function safetensorsDType(d: DType): string | undefined {
  return dtypeInfo(d).safetensors;
}

// ---------------------------------------------------------------------------------------------
// errors

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
  readonly path: string | undefined;
  readonly tensor: string | undefined;

  constructor(problem: string, where: { path?: string; tensor?: string; cause?: unknown } = {}) {
    const location = [
      where.path !== undefined ? `safetensors file ${where.path}` : "safetensors",
      where.tensor !== undefined ? `tensor ${JSON.stringify(where.tensor)}` : undefined,
    ].filter((s) => s !== undefined).join(", ");
    super(`${location}: ${problem}`, where.cause !== undefined ? { cause: where.cause } : undefined);
    this.path = where.path;
    this.tensor = where.tensor;
  }
}

const CORRUPT_HINT = "the file is damaged or not a safetensors file; re-download or re-export it";

function describeFsError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// sizes

function isDimension(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Bytes a tensor of this dtype and shape occupies. Throws SafetensorsError (naming `where`, when
 * given) if the dtype is unknown, a dimension is not a non-negative safe integer, or a sub-byte
 * dtype's bit count is not a whole number of bytes.
 */
export function safetensorsByteLength(dtype: string, shape: readonly number[], where: { path?: string; tensor?: string } = {}): number {
  const info = dtypeTable.get(dtype);
  if (!info) throw new SafetensorsError(`unknown dtype ${JSON.stringify(dtype)}; expected one of ${SAFETENSORS_DTYPES.join(", ")}`, where);
  if (!Array.isArray(shape) || !shape.every(isDimension)) {
    throw new SafetensorsError(`shape ${JSON.stringify(shape)} must be an array of non-negative integers`, where);
  }
  const bits = bitCount(info, shape);
  if (bits % 8n !== 0n) {
    throw new SafetensorsError(`${dtype} tensor of shape [${shape.join(", ")}] is ${bits} bits, not a whole number of bytes`, where);
  }
  const bytes = bits / 8n;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new SafetensorsError(`shape [${shape.join(", ")}] is too large (${bytes} bytes)`, where);
  }
  return Number(bytes);
}

// BigInt so that absurd shapes are compared exactly instead of rounding into a false match.
function bitCount(info: SafetensorsDTypeInfo, shape: readonly number[]): bigint {
  let n = BigInt(info.bits);
  for (const dim of shape) n *= BigInt(dim);
  return n;
}

// ---------------------------------------------------------------------------------------------
// strict JSON

/** A JSON number kept as its source text, so integers above 2^53 are not silently rounded. */
export class JsonNumber {
  constructor(readonly text: string) {}
}
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
/** Objects keep key order; duplicate keys are a parse error. */
export type JsonObject = Map<string, JsonValue>;

export class JsonSyntaxError extends Error {
  override name = "JsonSyntaxError";
}

/**
 * RFC 8259 JSON parser that, unlike JSON.parse, rejects duplicate keys and lone surrogate escapes,
 * limits nesting depth, and keeps numbers as text. Leading/trailing JSON whitespace is allowed
 * (writers pad safetensors headers with spaces).
 */
export function parseStrictJson(text: string, maxDepth = MAX_JSON_DEPTH): JsonValue {
  let pos = 0;

  const fail = (what: string): never => {
    const near = JSON.stringify(text.slice(Math.max(0, pos - 20), pos + 20));
    throw new JsonSyntaxError(`${what} at character ${pos} (near ${near})`);
  };
  const skipWhitespace = () => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else return;
    }
  };
  const expectLiteral = (word: string) => {
    if (text.startsWith(word, pos)) pos += word.length;
    else fail("unexpected token");
  };

  const parseString = (): string => {
    pos++; // opening quote
    let out = "";
    let runStart = pos;
    for (;;) {
      if (pos >= text.length) fail("unterminated string");
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(runStart, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail("control character in string");
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(runStart, pos);
      const e = text[pos + 1];
      pos += 2;
      switch (e) {
        case '"': out += '"'; break;
        case "\\": out += "\\"; break;
        case "/": out += "/"; break;
        case "b": out += "\b"; break;
        case "f": out += "\f"; break;
        case "n": out += "\n"; break;
        case "r": out += "\r"; break;
        case "t": out += "\t"; break;
        case "u": {
          const unit = readHex4();
          if (unit >= 0xdc00 && unit <= 0xdfff) fail("lone trailing surrogate in \\u escape");
          if (unit >= 0xd800 && unit <= 0xdbff) {
            if (text[pos] !== "\\" || text[pos + 1] !== "u") fail("lone leading surrogate in \\u escape");
            pos += 2;
            const low = readHex4();
            if (low < 0xdc00 || low > 0xdfff) fail("invalid surrogate pair in \\u escape");
            out += String.fromCharCode(unit, low);
          } else {
            out += String.fromCharCode(unit);
          }
          break;
        }
        default:
          pos -= 1;
          fail("invalid escape in string");
      }
      runStart = pos;
    }
  };
  const readHex4 = (): number => {
    const hex = text.slice(pos, pos + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("invalid \\u escape");
    pos += 4;
    return parseInt(hex, 16);
  };

  const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  const parseNumber = (): JsonNumber => {
    numberPattern.lastIndex = pos;
    const m = numberPattern.exec(text);
    if (!m) return fail("invalid number");
    pos += m[0].length;
    return new JsonNumber(m[0]);
  };

  const parseValue = (depth: number): JsonValue => {
    skipWhitespace();
    const c = text[pos];
    switch (c) {
      case "{": return parseObject(depth + 1);
      case "[": return parseArray(depth + 1);
      case '"': return parseString();
      case "t": expectLiteral("true"); return true;
      case "f": expectLiteral("false"); return false;
      case "n": expectLiteral("null"); return null;
      case undefined: return fail("unexpected end of JSON");
      default:
        if (c === "-" || (c >= "0" && c <= "9")) return parseNumber();
        return fail(`unexpected character ${JSON.stringify(c)}`);
    }
  };
  const parseArray = (depth: number): JsonValue[] => {
    if (depth > maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
    pos++;
    const out: JsonValue[] = [];
    skipWhitespace();
    if (text[pos] === "]") { pos++; return out; }
    for (;;) {
      out.push(parseValue(depth));
      skipWhitespace();
      const c = text[pos++];
      if (c === "]") return out;
      if (c !== ",") { pos--; fail("expected ',' or ']' in array"); }
    }
  };
  const parseObject = (depth: number): JsonObject => {
    if (depth > maxDepth) fail(`nesting deeper than ${maxDepth} levels`);
    pos++;
    const out: JsonObject = new Map();
    skipWhitespace();
    if (text[pos] === "}") { pos++; return out; }
    for (;;) {
      skipWhitespace();
      if (text[pos] !== '"') fail("expected a string key");
      const keyAt = pos;
      const key = parseString();
      if (out.has(key)) { pos = keyAt; fail(`duplicate key ${JSON.stringify(key)}`); }
      skipWhitespace();
      if (text[pos] !== ":") fail("expected ':' after key");
      pos++;
      out.set(key, parseValue(depth));
      skipWhitespace();
      const c = text[pos++];
      if (c === "}") return out;
      if (c !== ",") { pos--; fail("expected ',' or '}' in object"); }
    }
  };

  const value = parseValue(0);
  skipWhitespace();
  if (pos !== text.length) fail("unexpected data after the JSON value");
  return value;
}

function jsonTypeName(v: JsonValue): string {
  if (v === null) return "null";
  if (v instanceof JsonNumber) return `number ${v.text}`;
  if (v instanceof Map) return "object";
  if (Array.isArray(v)) return "array";
  return typeof v === "string" ? `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}` : `${typeof v} ${v}`;
}

/** A JSON number that is a plain non-negative integer literal within 2^53, else a reason why not. */
function readCount(v: JsonValue): number | string {
  if (!(v instanceof JsonNumber)) return `must be a non-negative integer, got ${jsonTypeName(v)}`;
  if (v.text.startsWith("-")) return `must be non-negative, got ${v.text}`;
  if (!/^(?:0|[1-9][0-9]*)$/.test(v.text)) return `must be an integer, got ${v.text}`;
  const n = Number(v.text);
  if (!Number.isSafeInteger(n)) return `${v.text} is beyond 2^53, larger than any real file`;
  return n;
}

/** Sets a key on a plain object without triggering the __proto__ setter. */
function defineOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------------------
// header parsing

export interface SafetensorsTensorInfo {
  name: string;
  /** safetensors dtype string, e.g. "F32" */
  dtype: string;
  shape: readonly number[];
  /** absolute position of the first byte in the file */
  byteOffset: number;
  byteLength: number;
}

interface ParsedHeader {
  tensors: SafetensorsTensorInfo[];
  metadata: Record<string, string>;
}

/**
 * Validates a decoded header against the file size. `headerBytes` excludes the 8-byte length prefix.
 * Rules (as the reference crate): root is an object; `__metadata__` is absent, null or a
 * string->string map; every other key is a tensor entry {dtype, shape, data_offsets}; sorted by
 * offsets, the tensors tile the data buffer from 0 to its end with no gap or overlap, and each
 * tensor's byte range equals numel * dtype bits / 8.
 */
function parseHeader(headerBytes: Uint8Array, fileByteLength: number, path: string): ParsedHeader {
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, where the JSON parser rejects it (as serde_json does).
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch (err) {
    throw new SafetensorsError(`the ${headerBytes.length}-byte header is not valid UTF-8; ${CORRUPT_HINT}`, { path, cause: err });
  }
  let root: JsonValue;
  try {
    root = parseStrictJson(text);
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    throw new SafetensorsError(`the header is not valid JSON: ${err.message}; ${CORRUPT_HINT}`, { path, cause: err });
  }
  if (!(root instanceof Map)) {
    throw new SafetensorsError(`the header must be a JSON object, got ${jsonTypeName(root)}; ${CORRUPT_HINT}`, { path });
  }

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number; order: number }[] = [];
  for (const [name, value] of root) {
    if (name === "__metadata__") {
      if (value === null) continue;
      if (!(value instanceof Map)) {
        throw new SafetensorsError(`__metadata__ must be an object of strings, got ${jsonTypeName(value)}; ${CORRUPT_HINT}`, { path });
      }
      for (const [key, v] of value) {
        if (typeof v !== "string") {
          throw new SafetensorsError(`__metadata__[${JSON.stringify(key)}] must be a string, got ${jsonTypeName(v)}; ${CORRUPT_HINT}`, { path });
        }
        defineOwn(metadata, key, v);
      }
      continue;
    }
    const where = { path, tensor: name };
    if (!(value instanceof Map)) {
      throw new SafetensorsError(`entry must be an object {dtype, shape, data_offsets}, got ${jsonTypeName(value)}; ${CORRUPT_HINT}`, where);
    }
    const dtype = value.get("dtype");
    if (typeof dtype !== "string") {
      throw new SafetensorsError(`"dtype" must be a string, got ${dtype === undefined ? "nothing" : jsonTypeName(dtype)}; ${CORRUPT_HINT}`, where);
    }
    if (!dtypeTable.has(dtype)) {
      throw new SafetensorsError(`unknown dtype ${JSON.stringify(dtype)}; expected one of ${SAFETENSORS_DTYPES.join(", ")} (a newer format revision, or a damaged file)`, where);
    }
    const shapeValue = value.get("shape");
    if (!Array.isArray(shapeValue)) {
      throw new SafetensorsError(`"shape" must be an array, got ${shapeValue === undefined ? "nothing" : jsonTypeName(shapeValue)}; ${CORRUPT_HINT}`, where);
    }
    const shape = shapeValue.map((dim, i) => {
      const n = readCount(dim);
      if (typeof n === "string") throw new SafetensorsError(`shape[${i}] ${n}; ${CORRUPT_HINT}`, where);
      return n;
    });
    const offsets = value.get("data_offsets");
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      throw new SafetensorsError(`"data_offsets" must be [begin, end], got ${offsets === undefined ? "nothing" : jsonTypeName(offsets)}${Array.isArray(offsets) ? ` of length ${offsets.length}` : ""}; ${CORRUPT_HINT}`, where);
    }
    const [begin, end] = offsets.map((o, i) => {
      const n = readCount(o);
      if (typeof n === "string") throw new SafetensorsError(`data_offsets[${i}] ${n}; ${CORRUPT_HINT}`, where);
      return n;
    }) as [number, number];
    if (end < begin) {
      throw new SafetensorsError(`data_offsets [${begin}, ${end}] end before they begin; ${CORRUPT_HINT}`, where);
    }
    entries.push({ name, dtype, shape, begin, end, order: entries.length });
  }

  // Tensors may be listed in any order; the data must be tiled in offset order.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end || a.order - b.order);
  const headerEnd = LENGTH_PREFIX_BYTES + headerBytes.length;
  const bufferLength = fileByteLength - headerEnd;
  const tensors: SafetensorsTensorInfo[] = [];
  let cursor = 0;
  let previous: string | undefined;
  for (const e of entries) {
    const where = { path, tensor: e.name };
    if (e.end > bufferLength) {
      throw new SafetensorsError(
        `data_offsets [${e.begin}, ${e.end}] reach past the end of the ${bufferLength}-byte data buffer; the file is truncated (re-download it) or damaged`,
        where,
      );
    }
    if (e.begin > cursor) {
      throw new SafetensorsError(
        `data_offsets [${e.begin}, ${e.end}] leave a gap of ${e.begin - cursor} unused bytes after ${previous === undefined ? "the start of the data buffer" : `tensor ${JSON.stringify(previous)}`}; tensors must tile the buffer; ${CORRUPT_HINT}`,
        where,
      );
    }
    if (e.begin < cursor) {
      throw new SafetensorsError(
        `data_offsets [${e.begin}, ${e.end}] overlap tensor ${JSON.stringify(previous)}, which ends at ${cursor}; ${CORRUPT_HINT}`,
        where,
      );
    }
    const info = dtypeTable.get(e.dtype)!;
    const bits = bitCount(info, e.shape);
    if (bits % 8n !== 0n) {
      throw new SafetensorsError(`${e.dtype} shape [${e.shape.join(", ")}] is ${bits} bits, not a whole number of bytes; ${CORRUPT_HINT}`, where);
    }
    if (bits / 8n !== BigInt(e.end - e.begin)) {
      throw new SafetensorsError(
        `${e.dtype} shape [${e.shape.join(", ")}] needs ${bits / 8n} bytes but data_offsets [${e.begin}, ${e.end}] hold ${e.end - e.begin}; ${CORRUPT_HINT}`,
        where,
      );
    }
    tensors.push(Object.freeze({
      name: e.name, dtype: e.dtype, shape: Object.freeze(e.shape),
      byteOffset: headerEnd + e.begin, byteLength: e.end - e.begin,
    }));
    cursor = e.end;
    previous = e.name;
  }
  if (cursor !== bufferLength) {
    throw new SafetensorsError(
      `the tensors cover ${cursor} bytes of the ${bufferLength}-byte data buffer, leaving ${bufferLength - cursor} trailing bytes; the file was appended to or its header is damaged; ${CORRUPT_HINT}`,
      { path },
    );
  }
  return { tensors, metadata };
}

// ---------------------------------------------------------------------------------------------
// reading

/** An open safetensors file: validated header in memory, tensor bytes read on demand. */
export class SafetensorsFile {
  /** tensors in file (offset) order */
  readonly tensors: readonly SafetensorsTensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  /** header length N (excluding the 8-byte prefix) */
  readonly headerByteLength: number;
  readonly fileByteLength: number;
  private fd: number | undefined;
  private readonly byName: Map<string, SafetensorsTensorInfo>;

  /** Use openSafetensors(). */
  constructor(readonly path: string, fd: number, header: ParsedHeader, headerByteLength: number, fileByteLength: number) {
    this.fd = fd;
    this.tensors = Object.freeze(header.tensors);
    this.metadata = Object.freeze(header.metadata);
    this.headerByteLength = headerByteLength;
    this.fileByteLength = fileByteLength;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  get closed(): boolean {
    return this.fd === undefined;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Tensor entry by name; throws SafetensorsError when absent. */
  get(name: string): SafetensorsTensorInfo {
    const t = this.byName.get(name);
    if (!t) {
      const examples = this.tensors.slice(0, 5).map((x) => JSON.stringify(x.name)).join(", ");
      throw new SafetensorsError(
        `no such tensor; the file has ${this.tensors.length} tensors${examples ? ` (e.g. ${examples})` : ""}; check the name and prefix`,
        { path: this.path, tensor: name },
      );
    }
    return t;
  }

  /** Reads one tensor's bytes into `target`, which must be exactly its byteLength long. */
  readInto(name: string, target: Uint8Array): void {
    const fd = this.openFd(name);
    const t = this.get(name);
    if (!(target instanceof Uint8Array) || target.byteLength !== t.byteLength) {
      throw new SafetensorsError(
        `readInto needs a Uint8Array of exactly ${t.byteLength} bytes, got ${target instanceof Uint8Array ? `${target.byteLength} bytes` : typeof target}`,
        { path: this.path, tensor: name },
      );
    }
    let done = 0;
    while (done < t.byteLength) {
      const want = Math.min(IO_CHUNK_BYTES, t.byteLength - done);
      let got: number;
      try {
        got = readSync(fd, target, done, want, t.byteOffset + done);
      } catch (err) {
        throw new SafetensorsError(`reading ${want} bytes at offset ${t.byteOffset + done} failed: ${describeFsError(err)}`, { path: this.path, tensor: name, cause: err });
      }
      if (got === 0) {
        throw new SafetensorsError(
          `the file ended at offset ${t.byteOffset + done} while reading; it was truncated or replaced after it was opened; reopen it`,
          { path: this.path, tensor: name },
        );
      }
      done += got;
    }
  }

  /** Reads one tensor's bytes into a new buffer. */
  read(name: string): Uint8Array {
    this.openFd(name);
    const out = new Uint8Array(this.get(name).byteLength);
    this.readInto(name, out);
    return out;
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }

  private openFd(tensor: string): number {
    if (this.fd === undefined) {
      throw new SafetensorsError("the file was closed; open it again with openSafetensors()", { path: this.path, tensor });
    }
    return this.fd;
  }
}

function readExactly(fd: number, target: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < target.byteLength) {
    const got = readSync(fd, target, done, Math.min(IO_CHUNK_BYTES, target.byteLength - done), position + done);
    if (got === 0) throw new SafetensorsError(`the file ended while reading its header; ${CORRUPT_HINT}`, { path });
    done += got;
  }
}

/** Opens a safetensors file and validates its header; reads no tensor data. */
export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === "ENOENT" ? "no such file; check the path" : `cannot open it: ${describeFsError(err)}`;
    throw new SafetensorsError(hint, { path, cause: err });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new SafetensorsError(`not a regular file${stat.isDirectory() ? " but a directory; for a model folder use openCheckpoint()" : ""}`, { path });
    }
    const fileByteLength = stat.size;
    if (fileByteLength < LENGTH_PREFIX_BYTES) {
      throw new SafetensorsError(`the file is ${fileByteLength} bytes, shorter than the 8-byte header length; ${CORRUPT_HINT}`, { path });
    }
    const prefix = new Uint8Array(LENGTH_PREFIX_BYTES);
    readExactly(fd, prefix, 0, path);
    const n = new DataView(prefix.buffer).getBigUint64(0, true);
    if (n === 0n) {
      throw new SafetensorsError(`the header length is 0; a header holds at least "{}"; ${CORRUPT_HINT}`, { path });
    }
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw new SafetensorsError(`the header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit; ${CORRUPT_HINT}`, { path });
    }
    const headerByteLength = Number(n);
    if (LENGTH_PREFIX_BYTES + headerByteLength > fileByteLength) {
      throw new SafetensorsError(
        `the header length ${headerByteLength} reaches past the end of the ${fileByteLength}-byte file; the file is truncated (re-download it) or damaged`,
        { path },
      );
    }
    const headerBytes = new Uint8Array(headerByteLength);
    readExactly(fd, headerBytes, LENGTH_PREFIX_BYTES, path);
    const header = parseHeader(headerBytes, fileByteLength, path);
    return new SafetensorsFile(path, fd, header, headerByteLength, fileByteLength);
  } catch (err) {
    closeSync(fd);
    if (err instanceof SafetensorsError) throw err;
    throw new SafetensorsError(`reading the header failed: ${describeFsError(err)}`, { path, cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// writing

export interface SafetensorsWriteEntry {
  name: string;
  /** safetensors dtype string, e.g. "F32" (see SAFETENSORS_DTYPES) */
  dtype: string;
  shape: readonly number[];
  /** the tensor's bytes, or a function producing them when the writer reaches this tensor */
  data: Uint8Array | (() => Uint8Array);
}

export interface WrittenSafetensors {
  path: string;
  headerByteLength: number;
  fileByteLength: number;
  /** tensors in the order they were written */
  tensors: SafetensorsTensorInfo[];
}

function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/**
 * Writes a safetensors file. Tensors are laid out widest dtype first (stable otherwise), so with
 * the 8-byte header padding every tensor starts at a multiple of its element size, as the
 * reference writer does. Data functions are called once each, in write order, so only one
 * tensor needs to be in memory at a time. The file is written to a temporary name in the same
 * directory and renamed into place: a failure never leaves a partial file under `path`.
 */
export function writeSafetensors(
  path: string,
  entries: readonly SafetensorsWriteEntry[],
  metadata?: Readonly<Record<string, string>>,
): WrittenSafetensors {
  const seen = new Set<string>();
  const planned = entries.map((e, order) => {
    const name = e?.name;
    if (typeof name !== "string") throw new SafetensorsError(`entry ${order} has no string name`, { path });
    if (name === "__metadata__") throw new SafetensorsError(`"__metadata__" is reserved for file metadata; rename the tensor`, { path, tensor: name });
    if (hasLoneSurrogate(name)) throw new SafetensorsError("the name contains an unpaired UTF-16 surrogate and cannot be stored as UTF-8", { path, tensor: name });
    if (seen.has(name)) throw new SafetensorsError("the name appears twice in the entries; tensor names must be unique", { path, tensor: name });
    seen.add(name);
    const byteLength = safetensorsByteLength(e.dtype, e.shape, { path, tensor: name });
    if (typeof e.data !== "function") checkData(e.data, byteLength, e, path);
    return { entry: e, byteLength, bits: dtypeTable.get(e.dtype)!.bits, order };
  });
  const meta = metadata ?? {};
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v !== "string") throw new SafetensorsError(`metadata[${JSON.stringify(k)}] must be a string, got ${typeof v}`, { path });
    if (hasLoneSurrogate(k) || hasLoneSurrogate(v)) throw new SafetensorsError(`metadata[${JSON.stringify(k)}] contains an unpaired UTF-16 surrogate`, { path });
  }
  planned.sort((a, b) => b.bits - a.bits || a.order - b.order);

  // Built by hand: a JS object would reorder integer-like keys such as "0".
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(meta)}`);
  let offset = 0;
  const layout: { name: string; dtype: string; shape: readonly number[]; begin: number }[] = [];
  for (const p of planned) {
    const { name, dtype, shape } = p.entry;
    parts.push(`${JSON.stringify(name)}:{"dtype":${JSON.stringify(dtype)},"shape":[${shape.join(",")}],"data_offsets":[${offset},${offset + p.byteLength}]}`);
    layout.push({ name, dtype, shape: [...shape], begin: offset });
    offset += p.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerByteLength = Math.ceil(json.length / 8) * 8;
  if (headerByteLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(`the header would be ${headerByteLength} bytes, above the ${MAX_HEADER_BYTES}-byte limit readers enforce; split the tensors over several files`, { path });
  }
  const head = new Uint8Array(LENGTH_PREFIX_BYTES + headerByteLength).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerByteLength), true);
  head.set(json, LENGTH_PREFIX_BYTES);

  const tempPath = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let fd: number | undefined;
  try {
    fd = fsCall(() => openSync(tempPath, "wx"), `cannot create ${tempPath}`, path);
    let position = 0;
    position = writeAll(fd, head, position, path);
    for (const p of planned) {
      const data = typeof p.entry.data === "function" ? p.entry.data() : p.entry.data;
      checkData(data, p.byteLength, p.entry, path);
      position = writeAll(fd, data, position, path);
    }
    const openFd = fd;
    fsCall(() => fsyncSync(openFd), "flushing to disk failed", path);
    fd = undefined;
    fsCall(() => closeSync(openFd), "closing failed", path);
    fsCall(() => renameSync(tempPath, path), `renaming ${tempPath} into place failed`, path);
    return {
      path,
      headerByteLength,
      fileByteLength: position,
      tensors: layout.map((t, i) => ({
        name: t.name, dtype: t.dtype, shape: t.shape,
        byteOffset: LENGTH_PREFIX_BYTES + headerByteLength + t.begin, byteLength: planned[i]!.byteLength,
      })),
    };
  } catch (err) {
    if (fd !== undefined) {
      try { closeSync(fd); } catch { /* already failing; report the first error */ }
    }
    try { unlinkSync(tempPath); } catch { /* it may never have been created */ }
    throw err;
  }
}

function checkData(data: unknown, byteLength: number, e: SafetensorsWriteEntry, path: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new SafetensorsError(`data must be a Uint8Array (wrap typed arrays with new Uint8Array(a.buffer, a.byteOffset, a.byteLength)), got ${data === null ? "null" : typeof data}`, { path, tensor: e.name });
  }
  if (data.byteLength !== byteLength) {
    throw new SafetensorsError(`data is ${data.byteLength} bytes but ${e.dtype} shape [${e.shape.join(", ")}] needs ${byteLength}`, { path, tensor: e.name });
  }
}

function fsCall<T>(fn: () => T, what: string, path: string): T {
  try {
    return fn();
  } catch (err) {
    throw new SafetensorsError(`${what}: ${describeFsError(err)}; check free disk space and permissions`, { path, cause: err });
  }
}

function writeAll(fd: number, data: Uint8Array, position: number, path: string): number {
  let done = 0;
  while (done < data.byteLength) {
    const n = Math.min(IO_CHUNK_BYTES, data.byteLength - done);
    done += fsCall(() => writeSync(fd, data, done, n, position + done), "writing failed", path);
  }
  return position + data.byteLength;
}
