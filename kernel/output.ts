// Routes what a cell prints and displays to iopub, attributed to the
// request being handled (and, like ipykernel, to the last one when a
// timer prints after its cell finished). Streams are coalesced for a few
// milliseconds and always flushed before any other output, so order is
// kept.
import type { JsonObject, OutgoingMessage } from "./protocol.js";
import { setParentHeaderSource } from "./runtime.js";

type StreamName = "stdout" | "stderr";

export class OutputRouter {
  private parentHeader: JsonObject = {};
  private segments: { name: StreamName; text: string }[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly send: (m: OutgoingMessage) => void, private readonly coalesceMs = 5) {}

  get parent(): JsonObject {
    return this.parentHeader;
  }

  setParent(header: JsonObject): void {
    this.flush();
    this.parentHeader = header;
  }

  write(name: StreamName, text: string): void {
    if (!text) return;
    const last = this.segments[this.segments.length - 1];
    if (last && last.name === name) last.text += text;
    else this.segments.push({ name, text });
    this.pendingBytes += text.length;
    if (this.pendingBytes > 64 * 1024) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.coalesceMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const segments = this.segments;
    this.segments = [];
    this.pendingBytes = 0;
    for (const s of segments) this.send({ channel: "iopub", msg_type: "stream", parent_header: this.parentHeader, content: { name: s.name, text: s.text } });
  }

  /** Publishes on iopub under the current parent, after the pending stream text. */
  publish(msgType: string, content: JsonObject, extra: { metadata?: JsonObject; buffers?: Uint8Array[]; parent?: JsonObject } = {}): void {
    this.flush();
    this.send({ channel: "iopub", msg_type: msgType, parent_header: extra.parent ?? this.parentHeader, content, metadata: extra.metadata, buffers: extra.buffers });
  }
}

/** Sends process.stdout/stderr writes (console.log included) to the router, which becomes the process's output: its parent is currentParentHeader(). */
export function captureProcessStreams(router: OutputRouter): void {
  setParentHeaderSource(() => router.parent);
  for (const name of ["stdout", "stderr"] as const) {
    const stream = process[name];
    stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
      let text: string;
      if (typeof chunk === "string") text = chunk;
      else if (chunk instanceof Uint8Array) text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString(typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
      else text = String(chunk);
      router.write(name, text);
      const cb = typeof encoding === "function" ? encoding : callback;
      if (typeof cb === "function") process.nextTick(cb as () => void);
      return true;
    }) as typeof stream.write;
  }
}
