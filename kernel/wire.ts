// The Jupyter wire format: routing identities, "<IDS|MSG>", an HMAC
// signature over the four JSON frames, the frames, then raw buffers.
// Decoding never throws: malformed or badly signed input is reported as a
// reason string and dropped by the caller.
import { createHmac, getHashes, randomUUID, timingSafeEqual } from "node:crypto";
import { DELIMITER, PROTOCOL_VERSION, type JsonObject, type MessageHeader } from "./protocol.js";

const DELIMITER_BYTES = Buffer.from(DELIMITER);

/** Signs and verifies messages with the connection file's key and scheme ("hmac-sha256"). */
export class Signer {
  private readonly algorithm: string;
  private readonly key: Buffer;
  /** Signatures seen recently: a replayed message is dropped like a forged one. */
  private readonly seen = new Set<string>();
  private static readonly SEEN_LIMIT = 1 << 16;

  constructor(scheme: string, key: string) {
    const m = /^hmac-([a-z0-9-]+)$/i.exec(scheme);
    if (!m) throw new Error(`unsupported signature_scheme "${scheme}": expected "hmac-<hash>", e.g. "hmac-sha256"`);
    const algorithm = m[1].toLowerCase();
    if (!getHashes().includes(algorithm)) throw new Error(`unsupported signature_scheme "${scheme}": this Node has no "${algorithm}" hash`);
    this.algorithm = algorithm;
    this.key = Buffer.from(key, "utf8");
  }

  /** An empty key turns authentication off (the protocol allows it); signatures are then "". */
  get enabled(): boolean {
    return this.key.length > 0;
  }

  sign(parts: readonly (Buffer | string)[]): string {
    if (!this.enabled) return "";
    const h = createHmac(this.algorithm, this.key);
    for (const p of parts) h.update(p);
    return h.digest("hex");
  }

  /** Constant-time comparison of a received signature with the expected one. */
  verify(signature: Buffer, parts: readonly Buffer[]): boolean {
    if (!this.enabled) return true;
    const expected = Buffer.from(this.sign(parts), "ascii");
    if (signature.length !== expected.length) return false;
    return timingSafeEqual(signature, expected);
  }

  /** Records a verified signature; false when it was seen before (a replay). */
  remember(signature: Buffer): boolean {
    if (!this.enabled) return true;
    const s = signature.toString("ascii");
    if (this.seen.has(s)) return false;
    this.seen.add(s);
    if (this.seen.size > Signer.SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }
}

export interface DecodedMessage {
  identities: Buffer[];
  header: MessageHeader;
  parent_header: JsonObject;
  metadata: JsonObject;
  content: JsonObject;
  buffers: Buffer[];
}

export type DecodeResult = { ok: true; message: DecodedMessage } | { ok: false; reason: string; badSignature?: boolean };

function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJsonFrame(frame: Buffer, name: string): { ok: true; value: JsonObject } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(frame.toString("utf8"));
  } catch (e) {
    return { ok: false, reason: `${name} is not valid JSON (${(e as Error).message})` };
  }
  if (!isPlainObject(value)) return { ok: false, reason: `${name} is not a JSON object` };
  return { ok: true, value };
}

/** Parses and authenticates one multipart message. */
export function decodeMessage(frames: readonly Buffer[], signer: Signer): DecodeResult {
  const delim = frames.findIndex((f) => f.equals(DELIMITER_BYTES));
  if (delim < 0) return { ok: false, reason: `no "${DELIMITER}" delimiter among ${frames.length} frame(s)` };
  const rest = frames.slice(delim + 1);
  if (rest.length < 5) return { ok: false, reason: `${rest.length} frame(s) after the delimiter; a message has a signature and 4 JSON frames` };
  const [signature, ...signed] = rest;
  const jsonFrames = signed.slice(0, 4);
  if (!signer.verify(signature, jsonFrames)) return { ok: false, reason: "bad signature", badSignature: true };
  if (!signer.remember(signature)) return { ok: false, reason: "replayed signature", badSignature: true };
  const parsed: JsonObject[] = [];
  for (const [i, name] of ["header", "parent_header", "metadata", "content"].entries()) {
    const r = parseJsonFrame(jsonFrames[i], name);
    if (!r.ok) return r;
    parsed.push(r.value);
  }
  const [header, parent_header, metadata, content] = parsed;
  if (typeof header.msg_type !== "string" || !header.msg_type) return { ok: false, reason: "header has no msg_type" };
  if (typeof header.msg_id !== "string") return { ok: false, reason: "header has no msg_id" };
  return {
    ok: true,
    message: {
      identities: frames.slice(0, delim),
      header: header as MessageHeader,
      parent_header,
      metadata,
      content,
      buffers: signed.slice(4),
    },
  };
}

export function makeHeader(msgType: string, session: string, username: string): MessageHeader {
  return { msg_id: randomUUID(), msg_type: msgType, session, username, date: new Date().toISOString(), version: PROTOCOL_VERSION };
}

/** Frames for one outgoing message: identities, delimiter, signature, JSON frames, buffers. */
export function encodeMessage(
  signer: Signer,
  parts: { identities: readonly Uint8Array[]; header: MessageHeader; parent_header: JsonObject; metadata: JsonObject; content: JsonObject; buffers: readonly Uint8Array[] },
): Buffer[] {
  const json = [parts.header, parts.parent_header, parts.metadata, parts.content].map((o) => Buffer.from(JSON.stringify(o), "utf8"));
  return [
    ...parts.identities.map((i) => Buffer.from(i.buffer, i.byteOffset, i.byteLength)),
    DELIMITER_BYTES,
    Buffer.from(signer.sign(json), "ascii"),
    ...json,
    ...parts.buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
  ];
}
