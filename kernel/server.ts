// The kernel's main thread: runs cells and answers shell requests in
// order. Sockets live on the I/O thread (io-thread.ts); signals arrive
// through the SIGINT thread (sigint-thread.ts). See ARCHITECTURE.md, "Kernel".
import { Worker } from "node:worker_threads";
import { writeSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { userInfo } from "node:os";
import { readConnectionFile, type ConnectionInfo } from "./connection.js";
import { kernelInfo } from "./kernel-info.js";
import { CellRunner } from "./cell-runner.js";
import { CommRegistry } from "./comm.js";
import { display, isLiveDisplayable, mimeBundleOf, type ResolvedBundle } from "./display.js";
import { History, defaultHistoryFile } from "./history.js";
import { OutputRouter, captureProcessStreams } from "./output.js";
import { installProtection } from "./protect.js";
import { installRuntimeResolution, installTypeResolution } from "./resolution.js";
import { setKernelRuntime, type KernelRuntime } from "./runtime.js";
import { StdinBridge } from "./stdin.js";
import { runtimeError } from "./traceback.js";
import { currentContext, withContext } from "../engine/context.js";
import { resetSyncScope } from "../engine/scope.js";
import type { FromIoThread, FromSigintThread, IncomingMessage, JsonObject, OutgoingMessage, ToIoThread } from "./protocol.js";
import type { IoThreadData } from "./io-thread.js";

export interface KernelOptions {
  connectionFile?: string;
  connection?: ConnectionInfo;
  /** working directory for module resolution (default: process.cwd()) */
  cwd?: string;
  /** history file (default: defaultHistoryFile()); null keeps history in memory */
  historyFile?: string | null;
  /** seconds after an interrupt before the I/O thread warns that the main thread is still busy (default: $VRAMLAB_STUCK_WARNING_SECONDS or 5) */
  stuckWarningSeconds?: number;
  /** ms the main thread waits for an interrupted cell to end by itself before rejecting its await (default 250) */
  interruptGraceMs?: number;
}

function log(text: string): void {
  try {
    writeSync(2, `[vramlab kernel] ${text}\n`);
  } catch {
    // stderr gone
  }
}

function username(): string {
  try {
    return userInfo().username;
  } catch {
    return "vramlab";
  }
}

type QueueItem = { kind: "message"; message: IncomingMessage } | { kind: "barrier"; id: number };

interface RunningExecution {
  id: number;
  message: IncomingMessage;
  graceTimer: NodeJS.Timeout | null;
}

class Kernel {
  private readonly output: OutputRouter;
  private readonly stdin: StdinBridge;
  private readonly comms: CommRegistry;
  private readonly history: History;
  private runner: CellRunner | null = null;
  private readonly queue: QueueItem[] = [];
  private pumping = false;
  private aborting = false;
  private barrierSeq = 0;
  private abortBarrier = -1;
  private executionCount = 1;
  private running: RunningExecution | null = null;
  private executionSeq = 0;
  private interruptController = new AbortController();
  private readonly interruptListeners = new Set<() => void>();
  private shuttingDown = false;
  private readonly info = kernelInfo();

  constructor(
    private readonly io: Worker,
    private readonly sigint: { worker: Worker; stop: Int32Array },
    private readonly options: KernelOptions,
  ) {
    const send = (m: OutgoingMessage) => this.post({ op: "send", message: m });
    this.output = new OutputRouter(send);
    this.stdin = new StdinBridge(send);
    this.comms = new CommRegistry({
      publish: (msgType, content, metadata, buffers) => this.output.publish(msgType, content, { metadata, buffers }),
    });
    this.history = new History(options.historyFile === undefined ? defaultHistoryFile() : options.historyFile, log);
  }

  private post(m: ToIoThread): void {
    this.io.postMessage(m);
  }

  /** Globals, output capture, module resolution, interrupt protection, then tslab (the slow part). */
  start(cwd: string): void {
    const kernel = this;
    const runtime: KernelRuntime = {
      display: (p) => {
        const transient = p.displayId !== undefined ? { display_id: p.displayId } : {};
        this.output.publish(p.update ? "update_display_data" : "display_data", { data: p.data, metadata: p.metadata, transient });
      },
      clearOutput: (wait) => this.output.publish("clear_output", { wait }),
      input: (prompt, password) => this.stdin.input(prompt, password),
      get signal() {
        return kernel.interruptController.signal;
      },
      comms: { publish: (t, c, m, b) => this.output.publish(t, c, { metadata: m, buffers: b }) },
      commRegistry: this.comms,
      onInterrupt: (fn) => {
        this.interruptListeners.add(fn);
        return () => this.interruptListeners.delete(fn);
      },
    };
    setKernelRuntime(runtime);
    this.interruptListeners.add(resetSyncScope); // an interrupted tidy() never ran its finally
    const g = globalThis as Record<string, unknown>;
    Object.defineProperty(g, "display", { value: display, configurable: true, writable: true, enumerable: false });
    Object.defineProperty(g, "interruptSignal", { get: () => this.interruptController.signal, configurable: true, enumerable: false });

    captureProcessStreams(this.output);
    // Node prints warnings itself; route them to the cell's stderr like other output.
    process.removeAllListeners("warning");
    process.on("warning", (w) => {
      if (w.name === "ExperimentalWarning" && /require\(\)|ES Module/i.test(w.message)) return; // cells load ESM through require()
      process.stderr.write(`(node) ${w.name}: ${w.message}\n`);
    });
    // A failing callback must not end the kernel: show the error where output goes now.
    process.on("uncaughtException", (e) => this.reportUncaught("Uncaught exception", e));
    process.on("unhandledRejection", (e) => this.reportUncaught("Unhandled promise rejection", e));

    installRuntimeResolution();
    installTypeResolution(cwd);
    installProtection(() => this.interrupted("a resumed cell step was interrupted"));
    const t0 = performance.now();
    this.runner = new CellRunner(cwd);
    log(`TypeScript ready in ${Math.round(performance.now() - t0)} ms`);
  }

  private reportUncaught(what: string, e: unknown): void {
    const cells = this.runner?.cells;
    const text = cells ? runtimeError(e, cells, false).traceback.join("\n") : String((e as Error)?.stack ?? e);
    this.output.write("stderr", `${what}: ${text}\n`);
  }

  // ---- interrupts -------------------------------------------------------------

  /** A SIGINT reached the SIGINT thread: the main thread was not in a protected region. */
  onSigint(): void {
    this.interrupted("SIGINT");
    const run = this.running;
    if (run && !run.graceTimer) {
      // Let an engine forward end at its next module boundary with its own error first.
      run.graceTimer = setTimeout(() => {
        run.graceTimer = null;
        if (this.running === run) this.runner?.interrupt();
      }, this.options.interruptGraceMs ?? 250);
    }
  }

  /** Aborts the interrupt signal and tells listeners, once per interrupt (several paths may report the same one). */
  private interrupted(why: string): void {
    const reason = new Error("interrupted");
    reason.name = "InterruptError";
    this.stdin.cancel(reason);
    if (this.interruptController.signal.aborted) return;
    log(`interrupted: ${why}`);
    this.interruptController.abort(reason);
    for (const fn of this.interruptListeners) {
      try {
        fn();
      } catch (e) {
        log(`an interrupt listener failed: ${(e as Error).message}`);
      }
    }
  }

  // ---- message flow -----------------------------------------------------------

  onIoMessage(m: FromIoThread): void {
    if (m.op === "message") {
      const msg = m.message;
      if (msg.channel === "stdin") this.stdin.handle(msg);
      else if (msg.channel === "control") void this.handleControl(msg);
      else {
        this.queue.push({ kind: "message", message: msg });
        void this.pump();
      }
    } else if (m.op === "ping") {
      this.post({ op: "pong", id: m.id });
    } else if (m.op === "barrier") {
      this.queue.push({ kind: "barrier", id: m.id });
      void this.pump();
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping || !this.runner) return;
    this.pumping = true;
    try {
      while (this.queue.length && !this.shuttingDown) {
        const item = this.queue.shift()!;
        if (item.kind === "barrier") {
          if (item.id === this.abortBarrier) this.aborting = false;
          continue;
        }
        try {
          await this.handleShell(item.message);
        } catch (e) {
          log(`error handling ${item.message.header.msg_type}: ${(e as Error).stack ?? e}`);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Startup finished: handle what queued meanwhile. */
  ready(): void {
    this.post({ op: "main-ready" });
    void this.pump();
  }

  private reply(msg: IncomingMessage, msgType: string, content: JsonObject, metadata: JsonObject = {}): void {
    this.post({ op: "send", message: { channel: msg.channel, msg_type: msgType, parent_header: msg.header, content, metadata, identities: msg.identities } });
  }

  private status(msg: IncomingMessage, state: "busy" | "idle"): void {
    this.output.publish("status", { execution_state: state }, { parent: msg.header });
  }

  private async handleShell(msg: IncomingMessage): Promise<void> {
    const type = msg.header.msg_type;
    // Output (also from timers later) belongs to the last execute or comm message, as in ipykernel;
    // completion or history requests in between do not take it over.
    if (type === "execute_request" || type.startsWith("comm_")) this.output.setParent(msg.header);
    this.status(msg, "busy");
    try {
      switch (type) {
        case "execute_request":
          if (this.aborting) this.reply(msg, "execute_reply", { status: "aborted", execution_count: this.executionCount - 1, user_expressions: {}, payload: [] });
          else await this.execute(msg);
          break;
        case "kernel_info_request":
          this.reply(msg, "kernel_info_reply", this.info);
          break;
        case "complete_request":
          this.reply(msg, "complete_reply", this.complete(msg.content));
          break;
        case "inspect_request":
          this.reply(msg, "inspect_reply", this.inspect(msg.content));
          break;
        case "is_complete_request":
          this.reply(msg, "is_complete_reply", this.isComplete(msg.content));
          break;
        case "history_request":
          this.reply(msg, "history_reply", this.historyReply(msg.content));
          break;
        case "comm_info_request": {
          const target = typeof msg.content.target_name === "string" ? msg.content.target_name : undefined;
          this.reply(msg, "comm_info_reply", { status: "ok", comms: this.comms.info(target) });
          break;
        }
        case "comm_open":
        case "comm_msg":
        case "comm_close": {
          const handle = type === "comm_open" ? this.comms.handleOpen : type === "comm_msg" ? this.comms.handleMsg : this.comms.handleClose;
          try {
            const problem = await handle.call(this.comms, msg.content, msg.metadata, msg.buffers);
            if (problem) log(problem);
          } catch (e) {
            log(`${type} handler failed: ${(e as Error).stack ?? e}`);
            this.output.write("stderr", `${type}: ${(e as Error).message}\n`);
          }
          break;
        }
        case "shutdown_request":
          await this.shutdown(msg);
          return;
        default:
          this.unsupported(msg);
      }
    } finally {
      this.output.flush();
      if (!this.shuttingDown) this.status(msg, "idle");
    }
  }

  private async handleControl(msg: IncomingMessage): Promise<void> {
    if (msg.header.msg_type === "shutdown_request") {
      this.status(msg, "busy");
      await this.shutdown(msg);
      return;
    }
    this.status(msg, "busy");
    this.unsupported(msg);
    this.status(msg, "idle");
  }

  private unsupported(msg: IncomingMessage): void {
    const type = msg.header.msg_type;
    log(`unsupported message type ${type} on ${msg.channel}`);
    if (type.endsWith("_request")) {
      this.reply(msg, type.replace(/_request$/, "_reply"), { status: "error", ename: "UnsupportedRequest", evalue: `vramlab does not handle ${type}`, traceback: [] });
    }
  }

  // ---- execute ------------------------------------------------------------------

  private async execute(msg: IncomingMessage): Promise<void> {
    const runner = this.runner!;
    const c = msg.content;
    if (typeof c.code !== "string") {
      const error = { ename: "BadRequest", evalue: "execute_request content has no code string", traceback: [] as string[] };
      this.reply(msg, "execute_reply", { status: "error", execution_count: this.executionCount - 1, ...error });
      return;
    }
    const code = c.code;
    const silent = c.silent === true;
    const storeHistory = !silent && c.store_history !== false;
    const stopOnError = c.stop_on_error !== false;
    const count = storeHistory ? this.executionCount++ : this.executionCount - 1;
    if (!silent) this.output.publish("execute_input", { code, execution_count: storeHistory ? count : this.executionCount });

    if (this.interruptController.signal.aborted) this.interruptController = new AbortController();
    this.stdin.setRequest(msg, c.allow_stdin !== false);
    const run: RunningExecution = { id: ++this.executionSeq, message: msg, graceTimer: null };
    this.running = run;
    const label = storeHistory ? `In[${count}]` : "<cell>";
    const signal = this.interruptController.signal;
    let outcome;
    try {
      // The engine reads its AbortSignal from this context: a forward stops on interrupt without a signal argument.
      outcome = await withContext({ ...currentContext(), modulePath: "", signal }, () => runner.execute(code, label));
    } finally {
      if (run.graceTimer) clearTimeout(run.graceTimer);
      this.running = null;
    }
    if (outcome.interrupted) this.interrupted("the cell was interrupted");

    let error = outcome.error;
    let resultText: string | null = null;
    if (outcome.status === "ok" && outcome.hasValue && !silent) {
      try {
        const bundle = await mimeBundleOf(outcome.value);
        // a live value (LiveFigure) goes out as display_data under its display_id, so its updates replace it in place
        if (isLiveDisplayable(outcome.value)) display(outcome.value);
        else this.output.publish("execute_result", { execution_count: count, data: bundle.data, metadata: bundle.metadata });
        resultText = String(bundle.data["text/plain"] ?? "");
      } catch (e) {
        error = runtimeError(e, runner.cells, false);
      }
    }
    if (storeHistory) this.history.add(count, code, resultText);
    if (error) {
      this.output.publish("error", { ...error });
      this.reply(msg, "execute_reply", { status: "error", execution_count: count, ...error, user_expressions: {}, payload: [] });
      if (stopOnError) {
        // Abort the execute_requests queued behind this one (those that reached us before the barrier returns).
        this.aborting = true;
        this.abortBarrier = ++this.barrierSeq;
        this.post({ op: "barrier", id: this.abortBarrier });
      }
      return;
    }
    const userExpressions = await this.userExpressions(c.user_expressions);
    this.reply(msg, "execute_reply", { status: "ok", execution_count: count, user_expressions: userExpressions, payload: [] });
  }

  private async userExpressions(raw: unknown): Promise<JsonObject> {
    const out: JsonObject = {};
    if (typeof raw !== "object" || raw === null) return out;
    for (const [name, expr] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof expr !== "string") {
        out[name] = { status: "error", ename: "TypeError", evalue: "user expression is not a string", traceback: [] };
        continue;
      }
      const r = await this.runner!.execute(expr, `<user_expressions.${name}>`);
      if (r.status === "error") out[name] = { status: "error", ...r.error };
      else {
        let bundle: ResolvedBundle = { data: { "text/plain": "undefined" }, metadata: {} };
        if (r.hasValue) bundle = await mimeBundleOf(r.value);
        out[name] = { status: "ok", data: bundle.data, metadata: bundle.metadata };
      }
    }
    return out;
  }

  // ---- introspection --------------------------------------------------------------

  private complete(c: JsonObject): JsonObject {
    const code = typeof c.code === "string" ? c.code : "";
    const cursor = typeof c.cursor_pos === "number" ? c.cursor_pos : [...code].length;
    try {
      const r = this.runner!.complete(code, cursor);
      return { status: "ok", ...r, metadata: {} };
    } catch (e) {
      log(`complete failed: ${(e as Error).stack ?? e}`);
      return { status: "error", ename: "CompletionError", evalue: (e as Error).message, traceback: [], matches: [], cursor_start: cursor, cursor_end: cursor, metadata: {} };
    }
  }

  private inspect(c: JsonObject): JsonObject {
    const code = typeof c.code === "string" ? c.code : "";
    const cursor = typeof c.cursor_pos === "number" ? c.cursor_pos : [...code].length;
    try {
      const text = this.runner!.inspect(code, cursor);
      return text ? { status: "ok", found: true, data: { "text/plain": text, "text/markdown": "```typescript\n" + text + "\n```" }, metadata: {} } : { status: "ok", found: false, data: {}, metadata: {} };
    } catch (e) {
      log(`inspect failed: ${(e as Error).stack ?? e}`);
      return { status: "error", ename: "InspectError", evalue: (e as Error).message, traceback: [], found: false, data: {}, metadata: {} };
    }
  }

  private isComplete(c: JsonObject): JsonObject {
    if (typeof c.code !== "string") return { status: "unknown" };
    try {
      return { ...this.runner!.isComplete(c.code) };
    } catch (e) {
      log(`is_complete failed: ${(e as Error).message}`);
      return { status: "unknown" };
    }
  }

  private historyReply(c: JsonObject): JsonObject {
    try {
      return { status: "ok", history: this.history.query(c) };
    } catch (e) {
      return { status: "error", ename: "HistoryError", evalue: (e as Error).message, traceback: [], history: [] };
    }
  }

  // ---- shutdown -------------------------------------------------------------------

  private async shutdown(msg: IncomingMessage): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    const restart = msg.content.restart === true;
    log(`shutdown requested${restart ? " (restart)" : ""}`);
    this.output.flush();
    this.reply(msg, "shutdown_reply", { status: "ok", restart });
    this.status(msg, "idle");
    const closed = new Promise<void>((resolve) => {
      this.io.on("message", (m: FromIoThread) => m.op === "closed" && resolve());
      setTimeout(resolve, 2000).unref();
    });
    this.post({ op: "close" });
    await closed;
    try {
      this.runner?.close();
    } catch {
      // closing TypeScript's watchers is best effort
    }
    Atomics.store(this.sigint.stop, 0, 1);
    Atomics.notify(this.sigint.stop, 0);
    process.exit(0);
  }
}

function waitFor<T>(worker: Worker, accept: (m: T) => boolean, what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: T) => {
      if (!accept(m)) return;
      clearTimeout(timer);
      worker.off("message", onMessage);
      worker.off("error", onError);
      resolve(m);
    };
    const onError = (e: Error) => {
      clearTimeout(timer);
      reject(new Error(`${what} failed: ${e.message}`));
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
  });
}

/** Starts the kernel and serves until a shutdown_request ends the process. */
export async function runKernel(options: KernelOptions): Promise<void> {
  const connection = options.connection ?? readConnectionFile(options.connectionFile ?? "");
  const cwd = options.cwd ?? process.cwd();

  // The SIGINT thread first: from then on a SIGINT can never end the process.
  const stopBuffer = new SharedArrayBuffer(4);
  const sigintWorker = new Worker(new URL("./sigint-thread.js", import.meta.url), { workerData: { stop: stopBuffer } });
  sigintWorker.unref();
  await waitFor<FromSigintThread>(sigintWorker, (m) => m.op === "ready", "the SIGINT thread", 10_000);

  const info = kernelInfo();
  const ioData: IoThreadData = {
    connection,
    session: randomUUID(),
    username: username(),
    kernelInfo: info,
    stuckWarningSeconds: options.stuckWarningSeconds ?? (Number(process.env.VRAMLAB_STUCK_WARNING_SECONDS) || 5),
  };
  const io = new Worker(new URL("./io-thread.js", import.meta.url), { workerData: ioData });
  io.on("error", (e) => {
    log(`I/O thread failed: ${e.stack ?? e.message}`);
    process.exit(1);
  });
  const bound = await waitFor<FromIoThread>(io, (m) => m.op === "bound" || m.op === "bind-failed", "the I/O thread", 20_000);
  if (bound.op === "bind-failed") throw new Error(`cannot bind the kernel's sockets: ${bound.error}`);
  log(`listening (${connection.transport}://${connection.ip}, shell ${connection.shell_port}, hb ${connection.hb_port}); cwd ${cwd}`);

  const kernel = new Kernel(io, { worker: sigintWorker, stop: new Int32Array(stopBuffer) }, options);
  // Messages that arrive while TypeScript loads wait in the queue.
  io.on("message", (m: FromIoThread) => kernel.onIoMessage(m));
  sigintWorker.on("message", (m: FromSigintThread) => m.op === "sigint" && kernel.onSigint());
  kernel.start(cwd);
  kernel.ready();
}

