// The kernel side of an ipywidgets model (message protocol 2.1). Each
// widget owns a comm on the "jupyter.widget" target, opened with its full
// state; kernel changes go out as `update`, frontend `update`s come in,
// reach the model and its observers, and are echoed back (`echo_update`,
// as ipywidgets 8 does) so other views of the same model agree.
// Outside the kernel a widget is a plain model: no comm, observers still run.
import { randomUUID } from "node:crypto";
import { registerCommTarget, openComm, type Comm, type CommMessage } from "../kernel/comm.js";
import { getKernelRuntime } from "../kernel/runtime.js";
import { JUPYTER_DISPLAY, type MimeBundle } from "../kernel/display.js";
import type { JsonObject } from "../kernel/protocol.js";

export const WIDGET_COMM_TARGET = "jupyter.widget";
export const WIDGET_CONTROL_TARGET = "jupyter.widget.control";
export const WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json";
const PROTOCOL_VERSION = "2.1.0";
const [VERSION_MAJOR, VERSION_MINOR] = PROTOCOL_VERSION.split(".").map(Number);
/** Widget references in state are "IPY_MODEL_<model id>" strings. */
const MODEL_REF_PREFIX = "IPY_MODEL_";

/** What an observer receives, named as in traitlets: change.new, change.old, change.name. */
export interface Change<T = unknown> {
  name: string;
  old: T;
  new: T;
  owner: Widget;
  type: "change";
}
export type Observer<T = unknown> = (change: Change<T>) => void | Promise<void>;

/** Every live widget by model id: resolves IPY_MODEL_ references and answers request_states. */
const liveWidgets = new Map<string, Widget>();

export function widgetById(modelId: string): Widget | undefined {
  return liveWidgets.get(modelId);
}

/** State values as they travel: widgets become references, everything else must be JSON. */
function serialize(value: unknown): unknown {
  if (value instanceof Widget) return MODEL_REF_PREFIX + value.modelId;
  if (Array.isArray(value)) return value.map(serialize);
  if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, serialize(v)]));
  }
  return value;
}

function deserialize(value: unknown): unknown {
  if (typeof value === "string" && value.startsWith(MODEL_REF_PREFIX)) return liveWidgets.get(value.slice(MODEL_REF_PREFIX.length)) ?? value;
  if (Array.isArray(value)) return value.map(deserialize);
  return value;
}

/** Puts binary buffers back at their buffer_paths (the frontend sends e.g. array data this way). */
function restoreBuffers(state: Record<string, unknown>, paths: unknown, buffers: Uint8Array[]): void {
  if (!Array.isArray(paths)) return;
  paths.forEach((path, i) => {
    if (!Array.isArray(path) || path.length === 0 || i >= buffers.length) return;
    let obj = state as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) obj = obj[key as string] as Record<string | number, unknown>;
    obj[path[path.length - 1] as string] = buffers[i];
  });
}

/** Takes binary values out of a state (top level), returning them with their buffer_paths. */
function splitBuffers(state: Record<string, unknown>): { state: JsonObject; bufferPaths: string[][]; buffers: Uint8Array[] } {
  const out: JsonObject = {};
  const bufferPaths: string[][] = [];
  const buffers: Uint8Array[] = [];
  for (const [k, v] of Object.entries(state)) {
    if (ArrayBuffer.isView(v)) {
      bufferPaths.push([k]);
      buffers.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    } else out[k] = v;
  }
  return { state: out, bufferPaths, buffers };
}

let controlTargetRegistered = false;

/** After a page reload the frontend asks `jupyter.widget.control` for every model's state. */
function ensureControlTarget(): void {
  if (controlTargetRegistered) return;
  controlTargetRegistered = true;
  registerCommTarget(WIDGET_CONTROL_TARGET, (comm) => {
    comm.onMsg((msg) => {
      if (msg.data.method !== "request_states") return;
      const states: JsonObject = {};
      const bufferPaths: JsonObject = {};
      const buffers: Uint8Array[] = [];
      for (const w of liveWidgets.values()) {
        const split = splitBuffers(w.serializedState());
        states[w.modelId] = split.state;
        bufferPaths[w.modelId] = split.bufferPaths.map((p) => {
          buffers.push(split.buffers.shift()!);
          return p;
        });
      }
      comm.send({ method: "update_states", states, buffer_paths: bufferPaths }, { buffers });
    });
  });
}

export interface ModelSpec {
  modelName: string;
  modelModule: string;
  modelModuleVersion: string;
  viewName: string | null;
  viewModule: string;
  viewModuleVersion: string;
}

/**
 * A widget model. Subclasses give the model/view names and default state;
 * each state key becomes a property (`w.value`), whose assignment syncs to
 * the frontend and runs observers.
 */
export class Widget {
  readonly modelId: string;
  private readonly state: Record<string, unknown>;
  private readonly observers = new Map<string, Set<Observer>>();
  private comm: Comm | undefined;
  /** keys a frontend update is applying, with the JSON it sent: setting the same value back is not sent again */
  private propertyLock: Map<string, string> | null = null;
  /** the model's defaults, so the text form shows only what was changed */
  private readonly defaultState: Record<string, unknown>;

  constructor(spec: ModelSpec, defaults: Record<string, unknown>, initial: Record<string, unknown> = {}) {
    for (const k of Object.keys(initial)) {
      if (!(k in defaults)) throw new TypeError(`${spec.modelName}: unknown option "${k}" (known: ${Object.keys(defaults).filter((d) => !d.startsWith("_")).join(", ")})`);
    }
    this.state = {
      _model_name: spec.modelName,
      _model_module: spec.modelModule,
      _model_module_version: spec.modelModuleVersion,
      _view_name: spec.viewName,
      _view_module: spec.viewModule,
      _view_module_version: spec.viewModuleVersion,
      _view_count: null,
      ...defaults,
    };
    this.defaultState = { ...defaults };
    for (const [k, v] of Object.entries(initial)) this.state[k] = this.validate(k, v);
    for (const key of Object.keys(this.state)) {
      if (key.startsWith("_") || Object.prototype.hasOwnProperty.call(this, key) || key in Widget.prototype) continue;
      // an accessor a subclass defines (e.g. Dropdown's value) wins over the raw state key
      if (key in Object.getPrototypeOf(this)) continue;
      Object.defineProperty(this, key, { get: () => this.state[key], set: (v: unknown) => this.set(key, v), enumerable: true, configurable: true });
    }
    if (getKernelRuntime()) {
      ensureControlTarget();
      const { state, bufferPaths, buffers } = splitBuffers(this.serializedState());
      // the comm id is the model id (what IPY_MODEL_ references and the widget-view MIME name)
      const comm = openComm(WIDGET_COMM_TARGET, { state, buffer_paths: bufferPaths }, { metadata: { version: PROTOCOL_VERSION }, buffers });
      this.comm = comm;
      this.modelId = comm.id;
      comm.onMsg((m) => this.handleMessage(m));
      comm.onClose(() => {
        this.comm = undefined;
        liveWidgets.delete(this.modelId);
      });
    } else {
      this.modelId = randomUUID().replace(/-/g, "");
    }
    liveWidgets.set(this.modelId, this);
  }

  /** The model's name (e.g. "IntSliderModel"). */
  get modelName(): string {
    return String(this.state._model_name);
  }

  /** Reads a state key. */
  get<T = unknown>(key: string): T {
    if (!(key in this.state)) throw new TypeError(`${this.modelName} has no state key "${key}"`);
    return this.state[key] as T;
  }

  /** Sets state keys at once: one update message, then the observers. */
  set(key: string, value: unknown): void;
  set(values: Record<string, unknown>): void;
  set(keyOrValues: string | Record<string, unknown>, value?: unknown): void {
    const values = typeof keyOrValues === "string" ? { [keyOrValues]: value } : keyOrValues;
    void this.apply(values);
  }

  /** Full state as sent to the frontend (widgets as IPY_MODEL_ references). */
  serializedState(): Record<string, unknown> {
    return serialize(this.state) as Record<string, unknown>;
  }

  /** Calls fn when a key changes (from the kernel or the frontend); returns a function that removes it. */
  observe<T = unknown>(name: string | string[], fn: Observer<T>): () => void {
    const names = Array.isArray(name) ? name : [name];
    for (const n of names) {
      if (!(n in this.state)) throw new TypeError(`${this.modelName}.observe(): no state key "${n}"`);
      if (!this.observers.has(n)) this.observers.set(n, new Set());
      this.observers.get(n)!.add(fn as Observer);
    }
    return () => this.unobserve(names, fn as Observer);
  }

  unobserve(name: string | string[], fn: Observer): void {
    for (const n of Array.isArray(name) ? name : [name]) this.observers.get(n)?.delete(fn);
  }

  /** Closes the comm: the frontend drops the model and its views. */
  close(): void {
    this.comm?.close();
    this.comm = undefined;
    liveWidgets.delete(this.modelId);
  }

  get closed(): boolean {
    return !liveWidgets.has(this.modelId);
  }

  /** Checks/normalizes a value before it is stored; subclasses override for typed keys. */
  protected validate(_key: string, value: unknown): unknown {
    return value;
  }

  /** A custom message from the frontend (e.g. a button click); subclasses override. */
  protected handleCustom(_content: JsonObject, _buffers: Uint8Array[]): void | Promise<void> {}

  /** Sends a custom message to the frontend views. */
  sendCustom(content: JsonObject, buffers: Uint8Array[] = []): void {
    this.comm?.send({ method: "custom", content }, { buffers });
  }

  /** Stores values, sends those that differ from what the frontend just sent, then runs observers. */
  private apply(values: Record<string, unknown>): Promise<void> {
    const changes: Change[] = [];
    for (const [key, raw] of Object.entries(values)) {
      if (!(key in this.state)) throw new TypeError(`${this.modelName} has no state key "${key}"`);
      const v = this.validate(key, raw);
      const old = this.state[key];
      this.state[key] = v;
      if (!sameValue(old, v)) changes.push({ name: key, old, new: v, owner: this, type: "change" });
    }
    this.sendChanged(Object.keys(values));
    return this.notify(changes);
  }

  private sendChanged(keys: string[]): void {
    if (!this.comm || this.comm.closed) return;
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const json = serialize(this.state[k]);
      if (this.propertyLock?.has(k) && this.propertyLock.get(k) === JSON.stringify(json)) continue;
      out[k] = json;
    }
    if (Object.keys(out).length === 0) return;
    const { state, bufferPaths, buffers } = splitBuffers(out);
    this.comm.send({ method: "update", state, buffer_paths: bufferPaths }, { buffers });
  }

  /** Runs observers synchronously (so `w.value = x` has run them on return); async ones are awaited together. */
  private notify(changes: Change[]): Promise<void> {
    const pending: Promise<unknown>[] = [];
    const report = (name: string) => (e: unknown) => {
      // an observer's error must not stop the others or the sync; show it in the output like ipywidgets does
      console.error(`${this.modelName} observer of "${name}" failed: ${(e as Error)?.stack ?? e}`);
    };
    for (const change of changes) {
      for (const fn of [...(this.observers.get(change.name) ?? [])]) {
        try {
          const r = fn(change);
          if (r && typeof (r as Promise<void>).then === "function") pending.push((r as Promise<void>).catch(report(change.name)));
        } catch (e) {
          report(change.name)(e);
        }
      }
    }
    return Promise.all(pending).then(() => undefined);
  }

  private async handleMessage(msg: CommMessage): Promise<void> {
    const data = msg.data;
    switch (data.method) {
      case "update": {
        const incoming = { ...((data.state ?? {}) as Record<string, unknown>) };
        restoreBuffers(incoming, data.buffer_paths, msg.buffers);
        const known = Object.fromEntries(Object.entries(incoming).filter(([k]) => k in this.state));
        // ipywidgets 8: echo the accepted keys first, so every view (and the sender) agrees on the order of updates
        if (this.comm && Object.keys(known).length > 0) {
          const { state, bufferPaths, buffers } = splitBuffers(known);
          this.comm.send({ method: "echo_update", state, buffer_paths: bufferPaths }, { buffers });
        }
        const previousLock = this.propertyLock;
        this.propertyLock = new Map(Object.entries(known).map(([k, v]) => [k, JSON.stringify(serialize(v))]));
        try {
          const values = Object.fromEntries(Object.entries(known).map(([k, v]) => [k, deserialize(v)]));
          await this.apply(values);
        } finally {
          this.propertyLock = previousLock;
        }
        break;
      }
      case "request_state": {
        const { state, bufferPaths, buffers } = splitBuffers(this.serializedState());
        this.comm?.send({ method: "update", state, buffer_paths: bufferPaths }, { buffers });
        break;
      }
      case "custom":
        await this.handleCustom((data.content ?? {}) as JsonObject, msg.buffers);
        break;
      default:
        console.error(`${this.modelName}: unknown widget message method ${JSON.stringify(data.method)}`);
    }
  }

  /** Text shown where widgets cannot render, e.g. `IntSlider(value=3, min=0, max=10)`. */
  protected plainText(): string {
    const name = this.modelName.replace(/Model$/, "");
    const shown = Object.entries(this.state)
      .filter(([k, v]) => !k.startsWith("_") && typeof v !== "object" && !sameValue(v, this.defaultState[k]))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    return `${name}(${shown.join(", ")})`;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    if (this.state._view_name === null) return { "text/plain": this.plainText() };
    return { [WIDGET_VIEW_MIME]: { model_id: this.modelId, version_major: VERSION_MAJOR, version_minor: VERSION_MINOR }, "text/plain": this.plainText() };
  }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(serialize(a)) === JSON.stringify(serialize(b));
  } catch {
    return false;
  }
}
