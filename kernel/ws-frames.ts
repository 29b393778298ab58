// Jupyter messages over a websocket, as jupyter_server carries them with the
// "v1.kernel.websocket.jupyter.org" subprotocol (what @jupyterlab/services'
// KernelConnection asks for first): one binary frame per message,
//   u64 n | n u64 offsets | channel | header | parent_header | metadata | content | buffers...
// all little-endian, offsets from the start of the frame, the last one its end.
import type { JsonObject, MessageHeader } from "./protocol.js";

export const WS_KERNEL_PROTOCOL = "v1.kernel.websocket.jupyter.org";

export type WsChannel = "shell" | "control" | "stdin" | "iopub";
const CHANNELS: readonly WsChannel[] = ["shell", "control", "stdin", "iopub"];

export interface WsMessage {
  channel: WsChannel;
  header: MessageHeader;
  parent_header: JsonObject;
  metadata: JsonObject;
  content: JsonObject;
  buffers: Uint8Array[];
}

export function encodeWsMessage(msg: WsMessage): Buffer {
  const parts = [
    Buffer.from(msg.channel, "utf8"),
    Buffer.from(JSON.stringify(msg.header), "utf8"),
    Buffer.from(JSON.stringify(msg.parent_header ?? {}), "utf8"),
    Buffer.from(JSON.stringify(msg.metadata ?? {}), "utf8"),
    Buffer.from(JSON.stringify(msg.content ?? {}), "utf8"),
    ...msg.buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
  ];
  const count = parts.length + 1;
  const head = Buffer.alloc(8 * (1 + count));
  head.writeBigUInt64LE(BigInt(count), 0);
  let offset = head.length;
  for (let i = 0; i < parts.length; i++) {
    head.writeBigUInt64LE(BigInt(offset), 8 * (i + 1));
    offset += parts[i].length;
  }
  head.writeBigUInt64LE(BigInt(offset), 8 * count);
  return Buffer.concat([head, ...parts]);
}

export type WsDecodeResult = { ok: true; message: WsMessage } | { ok: false; reason: string };

function jsonObject(bytes: Buffer, name: string): JsonObject | string {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    return `${name} is not valid JSON (${(e as Error).message})`;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return `${name} is not a JSON object`;
  return v as JsonObject;
}

/** Parses one binary websocket frame; never throws, malformed frames give a reason. */
export function decodeWsMessage(frame: Buffer): WsDecodeResult {
  if (frame.length < 8) return { ok: false, reason: `a ${frame.length}-byte frame is too short for the ${WS_KERNEL_PROTOCOL} header` };
  const count = Number(frame.readBigUInt64LE(0));
  if (count < 6 || 8 * (1 + count) > frame.length) return { ok: false, reason: `bad offset count ${count} in a ${frame.length}-byte frame` };
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) offsets.push(Number(frame.readBigUInt64LE(8 * (i + 1))));
  for (let i = 0; i < count; i++) {
    const prev = i === 0 ? 8 * (1 + count) : offsets[i - 1];
    if (offsets[i] < prev || offsets[i] > frame.length) return { ok: false, reason: `offset ${i} (${offsets[i]}) is out of order or past the frame end` };
  }
  const part = (i: number) => frame.subarray(offsets[i], offsets[i + 1]);
  const channel = part(0).toString("utf8");
  if (!CHANNELS.includes(channel as WsChannel)) return { ok: false, reason: `unknown channel ${JSON.stringify(channel)} (expected one of ${CHANNELS.join(", ")})` };
  const objects: JsonObject[] = [];
  for (const [i, name] of ["header", "parent_header", "metadata", "content"].entries()) {
    const r = jsonObject(part(i + 1), name);
    if (typeof r === "string") return { ok: false, reason: r };
    objects.push(r);
  }
  const [header, parent_header, metadata, content] = objects;
  if (typeof header.msg_type !== "string" || typeof header.msg_id !== "string") return { ok: false, reason: "header needs string msg_id and msg_type" };
  const buffers: Uint8Array[] = [];
  for (let i = 5; i < count - 1; i++) buffers.push(new Uint8Array(part(i)));
  return { ok: true, message: { channel: channel as WsChannel, header: header as MessageHeader, parent_header, metadata, content, buffers } };
}
