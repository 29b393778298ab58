// Jupyter messaging protocol types shared by the kernel's threads.
// https://jupyter-client.readthedocs.io/en/latest/messaging.html

export const PROTOCOL_VERSION = "5.4";

/** The frame separating zeromq routing identities from the signed message. */
export const DELIMITER = "<IDS|MSG>";

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
  [extra: string]: unknown;
}

export type Channel = "shell" | "control" | "stdin" | "iopub";

export type JsonObject = Record<string, unknown>;

/** A verified, parsed message as the kernel's main thread sees it. */
export interface IncomingMessage {
  channel: Exclude<Channel, "iopub">;
  /** zeromq routing identities, echoed on replies */
  identities: Uint8Array[];
  header: MessageHeader;
  /** the parent's header, or {} */
  parent_header: JsonObject;
  metadata: JsonObject;
  content: JsonObject;
  buffers: Uint8Array[];
}

/** What the main thread asks the I/O thread to send; the I/O thread adds the header and signs. */
export interface OutgoingMessage {
  channel: Channel;
  msg_type: string;
  /** header of the request this answers or belongs to ({} for none) */
  parent_header: JsonObject;
  content: JsonObject;
  metadata?: JsonObject;
  /** routing identities for shell/control/stdin replies */
  identities?: Uint8Array[];
  buffers?: Uint8Array[];
}

/** Messages between the main thread and the I/O thread (worker_threads postMessage). */
export type ToIoThread =
  | { op: "send"; message: OutgoingMessage }
  | { op: "barrier"; id: number }
  | { op: "main-ready" }
  | { op: "pong"; id: number }
  | { op: "close" };

export type FromIoThread =
  | { op: "bound"; ports: Record<string, number> }
  | { op: "bind-failed"; error: string }
  | { op: "message"; message: IncomingMessage }
  | { op: "barrier"; id: number }
  | { op: "ping"; id: number }
  | { op: "closed" };

/** Messages from the SIGINT thread to the main thread. */
export type FromSigintThread = { op: "ready" } | { op: "sigint" };
