// The kernel side of an ipywidgets model (message protocol 2.1). Each
// widget owns a comm on the "jupyter.widget" target, opened with its full
// state; kernel changes go out as `update`, frontend `update`s come in,
// reach the model and its observers, and are echoed back (`echo_update`,
// as ipywidgets 8 does) so other views of the same model agree. Binary
// values anywhere in the state travel as buffers (buffers.ts).
// Outside the kernel a widget is a plain model: no comm, observers still run.
import { randomUUID } from "node:crypto";
import { registerCommTarget, openComm, type Comm, type CommMessage } from "../kernel/comm.js";
import { getKernelRuntime } from "../kernel/runtime.js";
import { JUPYTER_DISPLAY, type MimeBundle } from "../kernel/display.js";
import type { JsonObject } from "../kernel/protocol.js";
import { bytesOf, isBinary, putBuffers, separateBuffers } from "./buffers.js";

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

/** Every widget whose comm is open (or, outside the kernel, that is not closed). */
export function liveWidgetList(): Widget[] {
  return [...liveWidgets.values()];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !isBinary(v) && !(v instanceof Widget);
}

/** State values as they travel: widgets become references, binary stays binary (split into buffers later), the rest is JSON. */
function serialize(value: unknown): unknown {
  if (value instanceof Widget) return MODEL_REF_PREFIX + value.modelId;
  if (Array.isArray(value)) return value.map(serialize);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, serialize(v)]));
  return value;
}

/** References back to widgets, at any depth (as ipywidgets' unpack_models). */
function deserialize(value: unknown): unknown {
  if (typeof value === "string" && value.startsWith(MODEL_REF_PREFIX)) return liveWidgets.get(value.slice(MODEL_REF_PREFIX.length)) ?? value;
  if (Array.isArray(value)) return value.map(deserialize);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deserialize(v)]));
  return value;
}

/** Equality of state values, binary ones compared byte by byte. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Widget || b instanceof Widget) return false;
  if (isBinary(a) || isBinary(b)) {
    if (!isBinary(a) || !isBinary(b)) return false;
    const x = bytesOf(a);
    const y = bytesOf(b);
    return x.byteLength === y.byteLength && Buffer.compare(x, y) === 0;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => sameValue(v, b[i]));
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

let controlTargetRegistered = false;

/**
 * After a page reload the frontend opens a `jupyter.widget.control` comm and
 * asks for every model's state (request_states); the reply is one
 * update_states message, as ipywidgets 8 sends it: states by model id with
 * the model's name/module/version, buffers at [model_id, "state", ...] paths.
 */
function ensureControlTarget(): void {
  if (controlTargetRegistered) return;
  controlTargetRegistered = true;
  registerCommTarget(WIDGET_CONTROL_TARGET, (comm) => {
    comm.onMsg((msg) => {
      if (msg.data.method !== "request_states") {
        console.error(`${WIDGET_CONTROL_TARGET}: unknown method ${JSON.stringify(msg.data.method)} (only request_states is defined)`);
        return;
      }
      const full: Record<string, unknown> = {};
      for (const w of liveWidgets.values()) {
        const st = w.serializedState();
        full[w.modelId] = { model_name: st._model_name, model_module: st._model_module, model_module_version: st._model_module_version, state: st };
      }
      const { state, bufferPaths, buffers } = separateBuffers(full);
      comm.send({ method: "update_states", states: state as JsonObject, buffer_paths: bufferPaths }, { buffers });
    });
  });
}

/** Runs widget callbacks with their output routed into an Output widget (widgets/output.ts implements it). */
export interface CallbackCapture {
  /** Runs fn with output captured; when fn returns a promise, capturing lasts until it settles. Errors fn throws are shown in the output, not rethrown. */
  runCaptured<T>(fn: () => T): T | undefined;
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
 * the frontend and runs observers. Custom models (an anywidget-style ESM
 * widget, an array viewer) can extend it directly.
 */
export class Widget {
  readonly modelId: string;
  private readonly state: Record<string, unknown>;
  private readonly observers = new Map<string, Set<Observer>>();
  private comm: Comm | undefined;
  /** keys a frontend update is applying, with the value it sent: setting the same value back is not sent again */
  private propertyLock: Map<string, unknown> | null = null;
  /** the model's defaults, so the text form shows only what was changed */
  private readonly defaultState: Record<string, unknown>;
  /** When set, observers and other callbacks of this widget run inside this Output's capture, so what they print shows there. */
  callbackOutput: CallbackCapture | null = null;

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
    // one at a time, in the order given: a value is checked against the bounds given before it
    for (const [k, v] of Object.entries(initial)) this.state[k] = this.validate(k, v);
    for (const key of Object.keys(this.state)) {
      if (key.startsWith("_") || Object.prototype.hasOwnProperty.call(this, key) || key in Widget.prototype) continue;
      // an accessor a subclass defines (e.g. Dropdown's value) wins over the raw state key
      if (key in Object.getPrototypeOf(this)) continue;
      Object.defineProperty(this, key, { get: () => this.state[key], set: (v: unknown) => this.set(key, v), enumerable: true, configurable: true });
    }
    if (getKernelRuntime()) {
      ensureControlTarget();
      const { state, bufferPaths, buffers } = separateBuffers(this.serializedState());
      // the comm id is the model id (what IPY_MODEL_ references and the widget-view MIME name)
      const comm = openComm(WIDGET_COMM_TARGET, { state: state as JsonObject, buffer_paths: bufferPaths }, { metadata: { version: PROTOCOL_VERSION }, buffers });
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

  /** True when the model has this state key. */
  has(key: string): boolean {
    return key in this.state;
  }

  /** Sets state keys at once: one update message, then the observers. A value that fails validation changes nothing and throws. */
  set(key: string, value: unknown): void;
  set(values: Record<string, unknown>): void;
  set(keyOrValues: string | Record<string, unknown>, value?: unknown): void {
    const values = typeof keyOrValues === "string" ? { [keyOrValues]: value } : keyOrValues;
    void this.apply(values);
  }

  /** Full state as sent to the frontend (widgets as IPY_MODEL_ references, binary values as they are). */
  serializedState(): Record<string, unknown> {
    return serialize(this.state) as Record<string, unknown>;
  }

  /** Calls fn when a key changes (from the kernel or the frontend); returns a function that removes it. */
  observe<T = unknown>(name: string | string[], fn: Observer<T>): () => void {
    const names = Array.isArray(name) ? name : [name];
    for (const n of names) {
      if (!(n in this.state) && !this.derivedKeys().includes(n)) {
        throw new TypeError(`${this.modelName}.observe(): no state key "${n}" (keys: ${[...this.derivedKeys(), ...Object.keys(this.state).filter((k) => !k.startsWith("_"))].join(", ")})`);
      }
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

  /** Checks/normalizes a value before it is stored; subclasses override for typed keys. Throw to reject. */
  protected validate(_key: string, value: unknown): unknown {
    return value;
  }

  /** Observable names that are not state keys (e.g. a selection's value, computed from its index). */
  protected derivedKeys(): readonly string[] {
    return [];
  }

  /** The changes of derived names that follow from these state changes; subclasses with derivedKeys() override. */
  protected derivedChanges(_changes: readonly Change[]): Change[] {
    return [];
  }

  /** A custom message from the frontend (e.g. a button click); subclasses override. */
  protected handleCustom(_content: JsonObject, _buffers: Uint8Array[]): void | Promise<void> {}

  /** Sends a custom message to the frontend views. */
  sendCustom(content: JsonObject, buffers: Uint8Array[] = []): void {
    this.comm?.send({ method: "custom", content }, { buffers });
  }

  /** Runs a callback of this widget (inside callbackOutput when set); errors are reported, never thrown. */
  protected runCallback(what: string, fn: () => unknown): Promise<void> {
    const report = (e: unknown) => {
      // a callback's error must not stop the others or the sync; show it in the output like ipywidgets does
      console.error(`${what} failed: ${(e as Error)?.stack ?? e}`);
    };
    const guarded = () => {
      try {
        const r = fn();
        return isPromise(r) ? r.then(() => undefined, report) : undefined;
      } catch (e) {
        report(e);
        return undefined;
      }
    };
    const r = this.callbackOutput ? this.callbackOutput.runCaptured(guarded) : guarded();
    return isPromise(r) ? r.then(() => undefined) : Promise.resolve();
  }

  /** Validates and stores values (all or none), sends them, then runs observers. */
  private apply(values: Record<string, unknown>): Promise<void> {
    const previous: [string, unknown][] = [];
    try {
      for (const [key, raw] of Object.entries(values)) {
        if (!(key in this.state)) throw new TypeError(`${this.modelName} has no state key "${key}"`);
        previous.push([key, this.state[key]]);
        // stored at once: validating a later key sees this one (e.g. a value against new bounds)
        this.state[key] = this.validate(key, raw);
      }
    } catch (e) {
      for (const [key, old] of previous.reverse()) this.state[key] = old;
      throw e;
    }
    const changes: Change[] = [];
    for (const [key, old] of previous) {
      const v = this.state[key];
      if (!sameValue(old, v)) changes.push({ name: key, old, new: v, owner: this, type: "change" });
    }
    this.sendState(Object.keys(values));
    return this.notify(changes);
  }

  /** Sends keys' current values as an update, except those the frontend just sent with the same value. */
  private sendState(keys: string[], force = false): void {
    if (!this.comm || this.comm.closed) return;
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const v = serialize(this.state[k]);
      if (!force && this.propertyLock?.has(k) && sameValue(this.propertyLock.get(k), v)) continue;
      out[k] = v;
    }
    if (Object.keys(out).length === 0) return;
    const { state, bufferPaths, buffers } = separateBuffers(out);
    this.comm.send({ method: "update", state: state as JsonObject, buffer_paths: bufferPaths }, { buffers });
  }

  /** Runs observers synchronously (so `w.value = x` has run them on return); async ones are awaited together. */
  private notify(changes: Change[]): Promise<void> {
    if (changes.length === 0) return Promise.resolve();
    const all = [...changes, ...this.derivedChanges(changes)];
    const pending: Promise<void>[] = [];
    for (const change of all) {
      for (const fn of [...(this.observers.get(change.name) ?? [])]) {
        pending.push(this.runCallback(`${this.modelName} observer of "${change.name}"`, () => fn(change)));
      }
    }
    return Promise.all(pending).then(() => undefined);
  }

  private async handleMessage(msg: CommMessage): Promise<void> {
    const data = msg.data;
    switch (data.method) {
      case "update": {
        const incoming = { ...((data.state ?? {}) as Record<string, unknown>) };
        try {
          putBuffers(incoming, data.buffer_paths, msg.buffers);
        } catch (e) {
          console.error(`${this.modelName}: ignored a frontend update: ${(e as Error).message}`);
          return;
        }
        const known = Object.fromEntries(Object.entries(incoming).filter(([k]) => k in this.state));
        if (Object.keys(known).length === 0) return;
        // ipywidgets 8: echo the accepted keys first, so every view (and the sender) agrees on the order of updates
        if (this.comm) {
          const { state, bufferPaths, buffers } = separateBuffers(known);
          this.comm.send({ method: "echo_update", state: state as JsonObject, buffer_paths: bufferPaths }, { buffers });
        }
        const previousLock = this.propertyLock;
        this.propertyLock = new Map(Object.entries(known));
        try {
          await this.apply(Object.fromEntries(Object.entries(known).map(([k, v]) => [k, deserialize(v)])));
        } catch (e) {
          // a value the model does not accept: say why, and put the frontend back on the kernel's value
          console.error(`${this.modelName}: rejected a frontend update: ${(e as Error).message}`);
          this.sendState(Object.keys(known), true);
        } finally {
          this.propertyLock = previousLock;
        }
        break;
      }
      case "request_state":
        this.sendState(Object.keys(this.state), true);
        break;
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
      .filter(([k, v]) => !k.startsWith("_") && (v === null || typeof v !== "object") && !sameValue(v, this.defaultState[k]))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
    return `${name}(${shown.join(", ")})`;
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    if (this.state._view_name === null) return { "text/plain": this.plainText() };
    return { [WIDGET_VIEW_MIME]: { model_id: this.modelId, version_major: VERSION_MAJOR, version_minor: VERSION_MINOR }, "text/plain": this.plainText() };
  }
}

export function isPromise(v: unknown): v is Promise<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as Promise<unknown>).then === "function";
}
