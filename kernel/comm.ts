// Comms: bidirectional channels between kernel objects and frontend
// objects (the base of ipywidgets). Either side opens one against a named
// target; messages flow both ways until one side closes it. A frontend
// comm_open for a target nobody registered is answered with comm_close.
import { randomUUID } from "node:crypto";
import { requireKernelRuntime, type CommEndpoint } from "./runtime.js";
import type { JsonObject } from "./protocol.js";

export interface CommMessage {
  data: JsonObject;
  metadata: JsonObject;
  buffers: Uint8Array[];
}

export type CommOpenHandler = (comm: Comm, open: CommMessage) => void | Promise<void>;

type Listener<T> = (value: T) => void | Promise<void>;

export class Comm {
  private msgListeners: Listener<CommMessage>[] = [];
  private closeListeners: Listener<CommMessage>[] = [];
  private isClosed = false;

  constructor(
    readonly id: string,
    readonly targetName: string,
    private readonly endpoint: CommEndpoint,
    private readonly registry: CommRegistry,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** Sends data (any JSON) to the frontend side; binary buffers travel as extra frames. */
  send(data: JsonObject = {}, opts: { metadata?: JsonObject; buffers?: Uint8Array[] } = {}): void {
    if (this.isClosed) throw new Error(`comm ${this.id} (${this.targetName}) is closed`);
    this.endpoint.publish("comm_msg", { comm_id: this.id, data }, opts.metadata ?? {}, opts.buffers ?? []);
  }

  /** Closes the comm on both sides. */
  close(data: JsonObject = {}, opts: { metadata?: JsonObject } = {}): void {
    if (this.isClosed) return;
    this.endpoint.publish("comm_close", { comm_id: this.id, data }, opts.metadata ?? {}, []);
    this.finish({ data, metadata: opts.metadata ?? {}, buffers: [] });
  }

  /** Calls fn for each message from the frontend; returns a function that removes it. */
  onMsg(fn: Listener<CommMessage>): () => void {
    this.msgListeners.push(fn);
    return () => (this.msgListeners = this.msgListeners.filter((f) => f !== fn));
  }

  onClose(fn: Listener<CommMessage>): () => void {
    this.closeListeners.push(fn);
    return () => (this.closeListeners = this.closeListeners.filter((f) => f !== fn));
  }

  /** @internal a message from the frontend */
  async deliver(msg: CommMessage): Promise<void> {
    for (const fn of [...this.msgListeners]) await fn(msg);
  }

  /** @internal closed by the frontend (or by close()) */
  async finish(msg: CommMessage): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.registry.forget(this.id);
    for (const fn of [...this.closeListeners]) await fn(msg);
  }
}

/** The kernel's comms and targets. */
export class CommRegistry {
  private readonly targets = new Map<string, CommOpenHandler>();
  private readonly comms = new Map<string, Comm>();

  constructor(private readonly endpoint: CommEndpoint) {}

  registerTarget(name: string, handler: CommOpenHandler): () => void {
    if (!name) throw new TypeError("registerCommTarget(): the target name is empty");
    if (typeof handler !== "function") throw new TypeError("registerCommTarget(): the handler must be a function (comm, openMessage) => void");
    this.targets.set(name, handler);
    return () => {
      if (this.targets.get(name) === handler) this.targets.delete(name);
    };
  }

  /** Opens a comm from the kernel side. */
  open(targetName: string, data: JsonObject = {}, opts: { metadata?: JsonObject; buffers?: Uint8Array[]; commId?: string; targetModule?: string } = {}): Comm {
    if (!targetName) throw new TypeError("openComm(): the target name is empty");
    const id = opts.commId ?? randomUUID().replace(/-/g, "");
    if (this.comms.has(id)) throw new Error(`openComm(): a comm with id ${id} is already open`);
    const comm = new Comm(id, targetName, this.endpoint, this);
    this.comms.set(id, comm);
    const content: JsonObject = { comm_id: id, target_name: targetName, data };
    if (opts.targetModule) content.target_module = opts.targetModule;
    this.endpoint.publish("comm_open", content, opts.metadata ?? {}, opts.buffers ?? []);
    return comm;
  }

  get(id: string): Comm | undefined {
    return this.comms.get(id);
  }

  /** comm_info_reply content: open comms, optionally of one target. */
  info(targetName?: string): Record<string, { target_name: string }> {
    const out: Record<string, { target_name: string }> = {};
    for (const [id, c] of this.comms) if (!targetName || c.targetName === targetName) out[id] = { target_name: c.targetName };
    return out;
  }

  /** @internal */
  forget(id: string): void {
    this.comms.delete(id);
  }

  /** A frontend comm_open: runs the target's handler, or closes the comm when the target is unknown. Returns an error text or null. */
  async handleOpen(content: JsonObject, metadata: JsonObject, buffers: Uint8Array[]): Promise<string | null> {
    const id = String(content.comm_id ?? "");
    const target = String(content.target_name ?? "");
    const data = (content.data ?? {}) as JsonObject;
    if (!id) return "comm_open without comm_id";
    const handler = this.targets.get(target);
    if (!handler) {
      this.endpoint.publish("comm_close", { comm_id: id, data: {} }, {}, []);
      return `no comm target "${target}" is registered; closed comm ${id}`;
    }
    const comm = new Comm(id, target, this.endpoint, this);
    this.comms.set(id, comm);
    try {
      await handler(comm, { data, metadata, buffers });
    } catch (e) {
      comm.close();
      return `comm target "${target}" failed to open comm ${id}: ${(e as Error).message}`;
    }
    return null;
  }

  async handleMsg(content: JsonObject, metadata: JsonObject, buffers: Uint8Array[]): Promise<string | null> {
    const comm = this.comms.get(String(content.comm_id ?? ""));
    if (!comm) return `comm_msg for unknown comm ${String(content.comm_id)}`;
    await comm.deliver({ data: (content.data ?? {}) as JsonObject, metadata, buffers });
    return null;
  }

  async handleClose(content: JsonObject, metadata: JsonObject, buffers: Uint8Array[]): Promise<string | null> {
    const comm = this.comms.get(String(content.comm_id ?? ""));
    if (!comm) return null; // closing an unknown comm is not an error (it may have closed on our side)
    await comm.finish({ data: (content.data ?? {}) as JsonObject, metadata, buffers });
    return null;
  }
}

function registry(what: string): CommRegistry {
  return requireKernelRuntime(what).commRegistry as CommRegistry;
}

/** Handles comms the frontend opens against `target`. Returns a function that unregisters it. */
export function registerCommTarget(target: string, handler: CommOpenHandler): () => void {
  return registry("registerCommTarget()").registerTarget(target, handler);
}

/** Opens a comm to a frontend target. */
export function openComm(target: string, data: JsonObject = {}, opts: { metadata?: JsonObject; buffers?: Uint8Array[]; targetModule?: string } = {}): Comm {
  return registry("openComm()").open(target, data, opts);
}
