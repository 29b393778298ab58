// The kernel's I/O thread (a worker_thread): it owns every zeromq socket,
// so heartbeats and control requests are answered even while a cell keeps
// the main thread busy. It authenticates and parses incoming messages
// (dropping bad ones), answers heartbeat, interrupt and control
// kernel_info itself, relays everything else to the main thread, and signs
// and sends what the main thread asks it to.
import { parentPort, workerData } from "node:worker_threads";
import { writeSync } from "node:fs";
import * as zmq from "zeromq";
import { endpoint, type ConnectionInfo } from "./connection.js";
import { decodeMessage, encodeMessage, makeHeader, Signer, type DecodedMessage } from "./wire.js";
import type { Channel, FromIoThread, IncomingMessage, JsonObject, OutgoingMessage, ToIoThread } from "./protocol.js";

export interface IoThreadData {
  connection: ConnectionInfo;
  /** the kernel's session id (header.session of everything it sends) */
  session: string;
  username: string;
  /** kernel_info_reply content, answered on control without the main thread */
  kernelInfo: JsonObject;
  /** seconds after an interrupt before warning that the main thread is still busy */
  stuckWarningSeconds: number;
}

const port = parentPort!;
const data = workerData as IoThreadData;
const signer = new Signer(data.connection.signature_scheme, data.connection.key);

function log(text: string): void {
  // Straight to fd 2: the worker's process.stderr is relayed through the main thread, which may be busy.
  try {
    writeSync(2, `[vramlab kernel io] ${text}\n`);
  } catch {
    // nowhere left to log
  }
}

/** Counts dropped messages so a flood of bad ones produces a few log lines, not thousands. */
class DropLog {
  private count = 0;
  private lastLog = 0;
  note(channel: string, reason: string, identities: Buffer[]): void {
    this.count++;
    const now = Date.now();
    if (this.count <= 5 || now - this.lastLog > 1000) {
      const who = identities.length ? ` from ${identities[0].toString("hex").slice(0, 16)}` : "";
      log(`dropped a message on ${channel}${who}: ${reason} (${this.count} dropped so far)`);
      this.lastLog = now;
    }
  }
}
const drops = new DropLog();

/** zeromq.js allows one pending send per socket; this keeps them in order. */
class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly socket: zmq.Writable & zmq.Socket, private readonly name: string) {}
  send(frames: Buffer[]): Promise<void> {
    this.tail = this.tail.then(
      () => this.socket.send(frames),
    ).catch((e: Error) => {
      if (!this.socket.closed) log(`send on ${this.name} failed: ${e.message}`);
    });
    return this.tail;
  }
  /** Resolves when everything queued so far has been handed to zeromq. */
  drain(): Promise<void> {
    return this.tail;
  }
}

const shell = new zmq.Router({ handover: true, linger: 1000 });
const control = new zmq.Router({ handover: true, linger: 1000 });
const stdin = new zmq.Router({ handover: true, linger: 1000 });
const iopub = new zmq.Publisher({ linger: 1000 });
const heartbeat = new zmq.Reply({ linger: 0 });
const queues: Record<Channel, SendQueue> = {
  shell: new SendQueue(shell, "shell"),
  control: new SendQueue(control, "control"),
  stdin: new SendQueue(stdin, "stdin"),
  iopub: new SendQueue(iopub, "iopub"),
};

function post(msg: FromIoThread): void {
  port.postMessage(msg);
}

/** What the I/O thread knows about the cell being run, for the "still busy" warning. */
let runningExecute: JsonObject | null = null;
let stuckTimer: NodeJS.Timeout | null = null;
let shutdownTimer: NodeJS.Timeout | null = null;
let closing = false;
/** VRAMLAB_KERNEL_TRACE=1 logs each shell request's time inside the kernel (received -> idle sent). */
const trace = process.env.VRAMLAB_KERNEL_TRACE === "1";
const received = new Map<string, number>();

function send(message: OutgoingMessage): Promise<void> {
  const header = makeHeader(message.msg_type, data.session, data.username);
  if (message.channel === "iopub" && message.msg_type === "status") trackExecution(message);
  if (message.channel === "control" && message.msg_type === "shutdown_reply" && shutdownTimer) {
    clearTimeout(shutdownTimer);
    shutdownTimer = null;
  }
  const identities = message.channel === "iopub" ? [Buffer.from(`kernel.${data.session}.${message.msg_type}`)] : (message.identities ?? []);
  let frames: Buffer[];
  try {
    frames = encodeMessage(signer, {
      identities,
      header,
      parent_header: message.parent_header,
      metadata: message.metadata ?? {},
      content: message.content,
      buffers: message.buffers ?? [],
    });
  } catch (e) {
    log(`cannot encode ${message.msg_type}: ${(e as Error).message}`);
    return Promise.resolve();
  }
  return queues[message.channel].send(frames);
}

function trackExecution(status: OutgoingMessage): void {
  const parent = status.parent_header;
  if (trace && status.content.execution_state === "idle" && typeof parent.msg_id === "string" && received.has(parent.msg_id)) {
    log(`${String(parent.msg_type)} ${parent.msg_id}: ${(performance.now() - received.get(parent.msg_id)!).toFixed(2)} ms in the kernel`);
    received.delete(parent.msg_id);
  }
  if (parent.msg_type !== "execute_request") return;
  if (status.content.execution_state === "busy") runningExecute = parent;
  else if (status.content.execution_state === "idle" && runningExecute && runningExecute.msg_id === parent.msg_id) {
    runningExecute = null;
  }
}

function reply(request: DecodedMessage, channel: Channel, msgType: string, content: JsonObject): Promise<void> {
  return send({ channel, msg_type: msgType, parent_header: request.header, content, identities: request.identities });
}

function publishStatus(parent: JsonObject, state: "busy" | "idle" | "starting"): Promise<void> {
  return send({ channel: "iopub", msg_type: "status", parent_header: parent, content: { execution_state: state } });
}

/** The last execute_request relayed: the warning below goes there when no cell is known to run. */
let lastExecute: JsonObject | null = null;
let pingSeq = 0;
let answeredPing = 0;

/**
 * Interrupts by raising SIGINT in this process: a cell running inside the
 * kernel's protected regions stops with an exception, and otherwise the
 * SIGINT thread turns the signal into a message for the main thread,
 * which aborts awaited work. If the main thread then stays unresponsive
 * (a native call, or a loop in a timer callback, which nothing can stop),
 * the user is told on the cell's output.
 */
function interruptMainThread(): void {
  process.kill(process.pid, "SIGINT");
  const ping = ++pingSeq;
  post({ op: "ping", id: ping });
  if (stuckTimer) clearTimeout(stuckTimer);
  stuckTimer = setTimeout(() => {
    stuckTimer = null;
    const parent = runningExecute ?? lastExecute;
    if (answeredPing >= ping || !parent) return;
    void send({
      channel: "iopub",
      msg_type: "stream",
      parent_header: parent,
      content: {
        name: "stderr",
        text:
          `vramlab: the kernel is still busy ${data.stuckWarningSeconds} s after the interrupt. The code running now cannot be stopped ` +
          `(a long native call, or a loop in a callback the cell did not run itself, e.g. a timer). ` +
          `An engine forward stops at its next module boundary; if nothing finishes, restart the kernel.\n`,
      },
    });
  }, data.stuckWarningSeconds * 1000);
}

async function handleControl(msg: DecodedMessage): Promise<void> {
  switch (msg.header.msg_type) {
    case "interrupt_request":
      await publishStatus(msg.header, "busy");
      interruptMainThread();
      await reply(msg, "control", "interrupt_reply", { status: "ok" });
      await publishStatus(msg.header, "idle");
      return;
    case "kernel_info_request":
      await publishStatus(msg.header, "busy");
      await reply(msg, "control", "kernel_info_reply", data.kernelInfo);
      await publishStatus(msg.header, "idle");
      return;
    case "shutdown_request":
      // A cell stuck in a loop would never let the main thread answer: interrupt it first,
      // and if the main thread still does not answer, answer here and end the process.
      if (runningExecute) interruptMainThread();
      relay("control", msg);
      if (!shutdownTimer) {
        shutdownTimer = setTimeout(() => {
          log("the main thread did not answer shutdown_request in 3 s; exiting from the I/O thread");
          const restart = msg.content.restart === true;
          void reply(msg, "control", "shutdown_reply", { status: "ok", restart })
            .then(() => closeSockets())
            .finally(() => process.kill(process.pid, "SIGTERM"));
        }, 3000);
      }
      return;
    default:
      relay("control", msg);
  }
}

function relay(channel: IncomingMessage["channel"], msg: DecodedMessage): void {
  if (msg.header.msg_type === "execute_request") lastExecute = msg.header;
  if (trace && channel === "shell") received.set(msg.header.msg_id, performance.now());
  post({
    op: "message",
    message: {
      channel,
      identities: msg.identities,
      header: msg.header,
      parent_header: msg.parent_header,
      metadata: msg.metadata,
      content: msg.content,
      buffers: msg.buffers,
    },
  });
}

async function receiveLoop(channel: IncomingMessage["channel"], socket: zmq.Router): Promise<void> {
  try {
    for await (const frames of socket) {
      try {
        const decoded = decodeMessage(frames, signer);
        if (!decoded.ok) {
          drops.note(channel, decoded.reason, frames.slice(0, 1));
          continue;
        }
        if (channel === "control") await handleControl(decoded.message);
        else relay(channel, decoded.message);
      } catch (e) {
        log(`error handling a ${channel} message: ${(e as Error).stack ?? e}`);
      }
    }
  } catch (e) {
    if (!closing) log(`${channel} receive loop ended: ${(e as Error).message}`);
  }
}

async function heartbeatLoop(): Promise<void> {
  try {
    for await (const frames of heartbeat) await heartbeat.send(frames);
  } catch (e) {
    if (!closing) log(`heartbeat loop ended: ${(e as Error).message}`);
  }
}

async function closeSockets(): Promise<void> {
  if (closing) return;
  closing = true;
  if (stuckTimer) clearTimeout(stuckTimer);
  // Let queued replies leave before closing (linger covers what is still in zeromq's queues).
  await Promise.all(Object.values(queues).map((q) => q.drain()));
  for (const s of [shell, control, stdin, iopub, heartbeat]) s.close();
}

port.on("message", (msg: ToIoThread) => {
  switch (msg.op) {
    case "send":
      void send(msg.message);
      return;
    case "barrier":
      post({ op: "barrier", id: msg.id });
      return;
    case "main-ready":
      return;
    case "pong":
      answeredPing = Math.max(answeredPing, msg.id);
      return;
    case "close":
      void closeSockets().then(() => post({ op: "closed" }));
      return;
  }
});

async function bindAll(): Promise<void> {
  const c = data.connection;
  const sockets: [string, zmq.Socket][] = [["shell", shell], ["control", control], ["stdin", stdin], ["iopub", iopub], ["hb", heartbeat]];
  const ports: Record<string, number> = {};
  for (const [name, socket] of sockets) {
    await socket.bind(endpoint(c, name as "shell"));
    const m = /:(\d+)$/.exec(socket.lastEndpoint ?? "");
    ports[name] = m ? Number(m[1]) : 0;
  }
  void heartbeatLoop();
  void receiveLoop("shell", shell);
  void receiveLoop("control", control);
  void receiveLoop("stdin", stdin);
  await publishStatus({}, "starting");
  post({ op: "bound", ports });
}

/**
 * Ends the kernel when the process that started it dies (jupyter_client sets
 * JPY_PARENT_PID), so a crashed frontend leaves no kernel behind. Polled here
 * because the main thread may be busy.
 */
function watchParent(): void {
  const parent = process.ppid;
  // Only when Jupyter started us directly (not through a wrapper that may exit early).
  if (!process.env.JPY_PARENT_PID || process.env.JPY_PARENT_PID !== String(parent)) return;
  setInterval(() => {
    if (process.ppid === parent) return;
    log(`the parent process ${parent} is gone; exiting`);
    void closeSockets().finally(() => process.kill(process.pid, "SIGTERM"));
  }, 1000).unref();
}
watchParent();

bindAll().catch((e: Error) => {
  post({ op: "bind-failed", error: e.message });
});
