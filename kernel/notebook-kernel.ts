// The notebook runner's side of a kernel: starts `vramlab kernel` as a child
// process on a fresh connection file (ipc sockets in a private temporary
// folder, so no port can be taken by someone else in between), speaks the
// Jupyter protocol to it over zeromq with the kernel's own signing code,
// and turns startup failures and deaths into errors that say what happened
// and quote the kernel's log.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import * as zmq from "zeromq";
import { endpoint, type ConnectionInfo } from "./connection.js";
import { decodeMessage, encodeMessage, makeHeader, Signer } from "./wire.js";
import { packageRoot } from "./resolution.js";
import type { JsonObject, MessageHeader } from "./protocol.js";

export interface KernelMessage {
  channel: "shell" | "control" | "iopub";
  header: MessageHeader;
  parent_header: JsonObject;
  metadata: JsonObject;
  content: JsonObject;
  buffers: Buffer[];
}

export interface StartKernelOptions {
  /** the kernel's working directory (module resolution and relative paths in cells) */
  cwd: string;
  /** environment of the kernel process (default: this process's, with history off unless VRAMLAB_HISTORY_FILE is set) */
  env?: NodeJS.ProcessEnv;
  /** how long the kernel may take to answer kernel_info (default 60 s: TypeScript loads in a few seconds) */
  startupTimeoutMs?: number;
}

/** The kernel did not start: its process failed, exited, or never answered. */
export class KernelStartupError extends Error {
  override name = "KernelStartupError";
}

/** The kernel process ended while the runner still needed it. */
export class KernelDiedError extends Error {
  override name = "KernelDiedError";
}

const LOG_TAIL_CHARS = 4000;

/** One pending send at a time per zeromq socket, in order. */
class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly socket: zmq.Writable) {}
  send(frames: Buffer[]): Promise<void> {
    const next = this.tail.then(() => this.socket.send(frames));
    this.tail = next.catch(() => {});
    return next;
  }
}

function socketFolder(): string {
  // ipc socket paths are limited to about 100 bytes; a long TMPDIR falls back to /tmp.
  const base = tmpdir().length > 60 ? "/tmp" : tmpdir();
  return mkdtempSync(join(base, "vramlab-run-"));
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "vramlab";
  }
}

export class RunnerKernel {
  /** the kernel's kernel_info_reply content */
  kernelInfo: JsonObject = {};
  private readonly session = randomUUID();
  private readonly username = currentUser();
  private readonly signer: Signer;
  private readonly shell = new zmq.Dealer({ linger: 0 });
  private readonly control = new zmq.Dealer({ linger: 0 });
  private readonly iopub = new zmq.Subscriber({ linger: 0 });
  private readonly queues: Record<"shell" | "control", SendQueue>;
  private readonly replyWaiters = new Map<string, (m: KernelMessage | null) => void>();
  private readonly iopubListeners = new Set<(m: KernelMessage) => void>();
  private readonly exitListeners = new Set<(why: string) => void>();
  private stderrTail = "";
  private exitReason: string | null = null;
  private closed = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly connection: ConnectionInfo,
    private readonly folder: string,
  ) {
    this.signer = new Signer(connection.signature_scheme, connection.key);
    this.queues = { shell: new SendQueue(this.shell), control: new SendQueue(this.control) };
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-LOG_TAIL_CHARS);
    });
    child.stdout?.resume();
    const stderrEnded = new Promise<void>((resolve) => (child.stderr ? child.stderr.on("close", () => resolve()) : resolve()));
    const ended = (why: string) => {
      if (this.exitReason !== null) return;
      this.exitReason = why;
      for (const fn of [...this.exitListeners]) fn(why);
    };
    child.on("exit", (code, signal) => {
      const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      // the last log lines may still be in the pipe; a process the kernel started could hold it open, so not for long
      void Promise.race([stderrEnded, new Promise((r) => setTimeout(r, 500))]).then(() => ended(why));
    });
    child.on("error", (e) => ended(`could not be started: ${e.message}`));
  }

  /** Starts `node bin/vramlab.js kernel` and waits until it answers on shell and its iopub output reaches us. */
  static async start(options: StartKernelOptions): Promise<RunnerKernel> {
    const folder = socketFolder();
    const connection: ConnectionInfo = {
      transport: "ipc",
      ip: join(folder, "kernel"),
      shell_port: 1,
      control_port: 2,
      iopub_port: 3,
      stdin_port: 4,
      hb_port: 5,
      key: randomBytes(32).toString("hex"),
      signature_scheme: "hmac-sha256",
    };
    const connectionFile = join(folder, "connection.json");
    writeFileSync(connectionFile, JSON.stringify(connection), { mode: 0o600 });
    const env = { ...(options.env ?? process.env) };
    if (env.VRAMLAB_HISTORY_FILE === undefined) env.VRAMLAB_HISTORY_FILE = "off"; // a batch run is not the user's typing
    env.JPY_PARENT_PID = String(process.pid); // the kernel ends itself if this process dies
    const child = spawn(process.execPath, [join(packageRoot(), "bin", "vramlab.js"), "kernel", "--connection-file", connectionFile], {
      cwd: options.cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const kernel = new RunnerKernel(child, connection, folder);
    try {
      await kernel.connect(options.startupTimeoutMs ?? 60_000);
    } catch (e) {
      await kernel.close(0);
      throw e;
    }
    return kernel;
  }

  /** The last lines the kernel wrote to stderr (its log). */
  get log(): string {
    return this.stderrTail.trim();
  }

  get alive(): boolean {
    return this.exitReason === null;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private async connect(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.shell.connect(endpoint(this.connection, "shell"));
    this.control.connect(endpoint(this.connection, "control"));
    this.iopub.connect(endpoint(this.connection, "iopub"));
    this.iopub.subscribe();
    void this.receiveLoop("shell", this.shell);
    void this.receiveLoop("control", this.control);
    void this.receiveLoop("iopub", this.iopub);

    const failure = (why: string) =>
      new KernelStartupError(`the vramlab kernel ${why} before it was ready${this.log ? `; its log:\n${this.log}` : " (it wrote nothing to stderr)"}`);
    // kernel_info until one is answered on shell and its busy/idle status arrives on iopub:
    // a subscriber only gets messages published after its subscription reached the kernel.
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw failure(`did not answer within ${Math.round(timeoutMs / 1000)} s`);
      const header = this.send("shell", "kernel_info_request", {});
      let sawStatus = false;
      const offIopub = this.onIopub((m) => {
        if (m.parent_header.msg_id === header.msg_id && m.header.msg_type === "status") sawStatus = true;
      });
      try {
        const reply = await this.raceExit(this.waitReply(header.msg_id, Math.min(left, 2000)), failure);
        if (reply) {
          this.kernelInfo = reply.content;
          // the idle status follows the reply closely; give it a moment
          const until = Date.now() + 500;
          while (!sawStatus && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
          if (sawStatus) return;
        }
      } finally {
        offIopub();
      }
    }
  }

  private async receiveLoop(channel: KernelMessage["channel"], socket: zmq.Dealer | zmq.Subscriber): Promise<void> {
    try {
      for await (const frames of socket) {
        const decoded = decodeMessage(frames, this.signer);
        if (!decoded.ok) continue; // not from our kernel (or damaged): nothing to do with it
        const m = decoded.message;
        const message: KernelMessage = { channel, header: m.header, parent_header: m.parent_header, metadata: m.metadata, content: m.content, buffers: m.buffers };
        if (channel === "iopub") {
          for (const fn of [...this.iopubListeners]) fn(message);
        } else {
          const parentId = m.parent_header.msg_id;
          const waiter = typeof parentId === "string" ? this.replyWaiters.get(parentId) : undefined;
          if (waiter) {
            this.replyWaiters.delete(parentId as string);
            waiter(message);
          }
        }
      }
    } catch {
      // the socket was closed
    }
  }

  /** Sends a request; returns its header (its msg_id identifies the reply and the outputs). */
  send(channel: "shell" | "control", msgType: string, content: JsonObject, opts: { metadata?: JsonObject; parent?: JsonObject } = {}): MessageHeader {
    const header = makeHeader(msgType, this.session, this.username);
    const frames = encodeMessage(this.signer, { identities: [], header, parent_header: opts.parent ?? {}, metadata: opts.metadata ?? {}, content, buffers: [] });
    this.queues[channel].send(frames).catch(() => {
      // a send fails only when the socket is closed; the exit listener reports why
    });
    return header;
  }

  /** Calls fn for every iopub message; returns a function that stops it. */
  onIopub(fn: (m: KernelMessage) => void): () => void {
    this.iopubListeners.add(fn);
    return () => this.iopubListeners.delete(fn);
  }

  /** Calls fn once if the kernel process ends; returns a function that stops it. */
  onExit(fn: (why: string) => void): () => void {
    if (this.exitReason !== null) {
      fn(this.exitReason);
      return () => {};
    }
    this.exitListeners.add(fn);
    return () => this.exitListeners.delete(fn);
  }

  /** The reply to msgId on shell or control, or null after timeoutMs. */
  waitReply(msgId: string, timeoutMs: number): Promise<KernelMessage | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.replyWaiters.delete(msgId);
        resolve(null);
      }, timeoutMs);
      this.replyWaiters.set(msgId, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }

  /** Rejects with makeError(why) if the process ends before p settles. */
  raceExit<T>(p: Promise<T>, makeError: (why: string) => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const off = this.onExit((why) => reject(makeError(why)));
      p.then(
        (v) => {
          off();
          resolve(v);
        },
        (e) => {
          off();
          reject(e);
        },
      );
    });
  }

  /** interrupt_request on control (the kernelspec's interrupt_mode is "message"). */
  interrupt(): void {
    this.send("control", "interrupt_request", {});
  }

  /** shutdown_request, then SIGKILL if the process is still there after graceMs; removes the socket folder. */
  async close(graceMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.alive && graceMs > 0) {
      const exited = new Promise<void>((resolve) => this.onExit(() => resolve()));
      this.send("control", "shutdown_request", { restart: false });
      await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    }
    if (this.alive) {
      const exited = new Promise<void>((resolve) => this.onExit(() => resolve()));
      this.child.kill("SIGKILL");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    }
    for (const s of [this.shell, this.control, this.iopub]) s.close();
    for (const waiter of this.replyWaiters.values()) waiter(null);
    this.replyWaiters.clear();
    rmSync(this.folder, { recursive: true, force: true });
  }
}
