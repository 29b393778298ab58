// The zeromq side of one websocket client of the bridge: its own shell,
// control and stdin DEALER sockets and an iopub SUB socket, as
// jupyter_server opens per websocket. Outgoing messages are signed with the
// connection key; incoming ones are verified and dropped when forged.
import { randomUUID } from "node:crypto";
import * as zmq from "zeromq";
import { endpoint, type ConnectionInfo } from "./connection.js";
import { decodeMessage, encodeMessage, makeHeader, Signer } from "./wire.js";
import type { JsonObject } from "./protocol.js";
import type { WsChannel, WsMessage } from "./ws-frames.js";

export type KernelMessageListener = (message: WsMessage) => void;

export class ZmqKernelClient {
  private readonly signer: Signer;
  private readonly dealers: Record<Exclude<WsChannel, "iopub">, zmq.Dealer>;
  private readonly iopub = new zmq.Subscriber({ linger: 0 });
  /** zeromq.js allows one pending send per socket: sends are chained per channel */
  private readonly sendChains = new Map<WsChannel, Promise<void>>();
  private readonly listeners = new Set<KernelMessageListener>();
  private closed = false;
  readonly session = randomUUID();

  constructor(private readonly connection: ConnectionInfo, private readonly log: (text: string) => void = () => {}) {
    this.signer = new Signer(connection.signature_scheme, connection.key);
    // one routing id for all three: a kernel sends input_request on stdin to the identity the execute_request came from on shell
    const identity = () => ({ routingId: this.session, linger: 0 });
    this.dealers = { shell: new zmq.Dealer(identity()), control: new zmq.Dealer(identity()), stdin: new zmq.Dealer(identity()) };
    for (const [name, socket] of Object.entries(this.dealers)) {
      socket.connect(endpoint(connection, name as "shell"));
      void this.receive(name as WsChannel, socket);
    }
    this.iopub.connect(endpoint(connection, "iopub"));
    this.iopub.subscribe();
    void this.receive("iopub", this.iopub);
  }

  onMessage(fn: KernelMessageListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private async receive(channel: WsChannel, socket: zmq.Dealer | zmq.Subscriber): Promise<void> {
    try {
      for await (const frames of socket) {
        const decoded = decodeMessage(frames, this.signer);
        if (!decoded.ok) {
          this.log(`dropped a ${channel} message from the kernel: ${decoded.reason}`);
          continue;
        }
        const m = decoded.message;
        const message: WsMessage = { channel, header: m.header, parent_header: m.parent_header, metadata: m.metadata, content: m.content, buffers: m.buffers };
        for (const fn of [...this.listeners]) fn(message);
      }
    } catch (e) {
      if (!this.closed) this.log(`${channel} receive loop ended: ${(e as Error).message}`);
    }
  }

  /** Signs and sends a message (the header is the client's own, as jupyter_server keeps it). */
  send(message: Omit<WsMessage, "channel"> & { channel: Exclude<WsChannel, "iopub"> }): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the kernel connection is closed"));
    const frames = encodeMessage(this.signer, { identities: [], header: message.header, parent_header: message.parent_header, metadata: message.metadata, content: message.content, buffers: message.buffers });
    const socket = this.dealers[message.channel];
    const next = (this.sendChains.get(message.channel) ?? Promise.resolve()).then(() => socket.send(frames));
    this.sendChains.set(message.channel, next.catch(() => {}));
    return next;
  }

  /** Builds a request header in this client's session. */
  request(channel: Exclude<WsChannel, "iopub">, msgType: string, content: JsonObject = {}): WsMessage & { channel: Exclude<WsChannel, "iopub"> } {
    return { channel, header: makeHeader(msgType, this.session, "vramlab-bridge"), parent_header: {}, metadata: {}, content, buffers: [] };
  }

  /**
   * Sends kernel_info_request until its reply and an iopub message for it
   * have both arrived: then the kernel answers and the iopub subscription is
   * live (a SUB socket misses what is published before it connects).
   * Returns the kernel_info_reply content.
   */
  async nudge(timeoutMs: number, isAlive: () => string | null = () => null): Promise<JsonObject> {
    const deadline = Date.now() + timeoutMs;
    const sent = new Set<string>();
    let reply: JsonObject | null = null;
    let iopubSeen = false;
    const off = this.onMessage((m) => {
      const parent = m.parent_header.msg_id;
      if (typeof parent !== "string" || !sent.has(parent)) return;
      if (m.channel === "shell" && m.header.msg_type === "kernel_info_reply") reply = m.content;
      if (m.channel === "iopub") iopubSeen = true;
    });
    try {
      while (!(reply && iopubSeen)) {
        const dead = isAlive();
        if (dead) throw new Error(dead);
        if (Date.now() > deadline) throw new Error(`the kernel did not answer kernel_info_request within ${timeoutMs / 1000} s (is it running at ${endpoint(this.connection, "shell")}?)`);
        const req = this.request("shell", "kernel_info_request");
        sent.add(req.header.msg_id);
        await this.send(req);
        await new Promise((r) => setTimeout(r, reply ? 50 : 250));
      }
      return reply!;
    } finally {
      off();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...Object.values(this.dealers), this.iopub]) s.close();
  }
}
