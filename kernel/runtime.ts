// The link between the public helpers (display, comms, input, the
// interrupt signal) and the running kernel. The kernel registers itself
// on a global symbol, so the helpers work whichever copy of this module a
// cell loaded, and fall back to plain output outside a kernel.
import type { JsonObject } from "./protocol.js";

export type MimeData = Record<string, unknown>;

export interface DisplayPublication {
  data: MimeData;
  metadata: JsonObject;
  /** display_id for later update_display_data */
  displayId?: string;
  /** publish update_display_data instead of display_data */
  update?: boolean;
}

export interface CommEndpoint {
  /** publishes comm_open / comm_msg / comm_close on iopub */
  publish(msgType: "comm_open" | "comm_msg" | "comm_close", content: JsonObject, metadata: JsonObject, buffers: Uint8Array[]): void;
}

export interface KernelRuntime {
  display(p: DisplayPublication): void;
  clearOutput(wait: boolean): void;
  /** asks the frontend for a line of input (input_request on stdin) */
  input(prompt: string, password: boolean): Promise<string>;
  /** the AbortSignal the next interrupt aborts (engine forwards pick it up by themselves) */
  readonly signal: AbortSignal;
  readonly comms: CommEndpoint;
  /** comm targets and open comms live in the kernel; the public API reaches them here */
  readonly commRegistry: unknown;
  /** runs fn after every interrupt (e.g. to reset state a terminated synchronous call left behind) */
  onInterrupt(fn: () => void): () => void;
}

const RUNTIME_KEY = Symbol.for("vramlab.kernel.runtime");

export function getKernelRuntime(): KernelRuntime | undefined {
  return (globalThis as Record<symbol, unknown>)[RUNTIME_KEY] as KernelRuntime | undefined;
}

export function setKernelRuntime(rt: KernelRuntime | undefined): void {
  const g = globalThis as Record<symbol, unknown>;
  if (rt) Object.defineProperty(g, RUNTIME_KEY, { value: rt, configurable: true, enumerable: false, writable: true });
  else delete g[RUNTIME_KEY];
}

export function requireKernelRuntime(what: string): KernelRuntime {
  const rt = getKernelRuntime();
  if (!rt) throw new Error(`${what} needs the vramlab Jupyter kernel; this code is not running inside it`);
  return rt;
}

const PARENT_SOURCE_KEY = Symbol.for("vramlab.kernel.parentHeaderSource");

/**
 * The header of the request whose outputs are being published now (the
 * execute_request or comm_msg being handled, or the last one), or
 * undefined outside the kernel. Output widgets route by its msg_id.
 */
export function currentParentHeader(): JsonObject | undefined {
  const source = (globalThis as Record<symbol, unknown>)[PARENT_SOURCE_KEY] as (() => JsonObject) | undefined;
  return source?.();
}

/** @internal the kernel's output router registers where the current parent header is read */
export function setParentHeaderSource(source: (() => JsonObject) | undefined): void {
  const g = globalThis as Record<symbol, unknown>;
  if (source) Object.defineProperty(g, PARENT_SOURCE_KEY, { value: source, configurable: true, enumerable: false, writable: true });
  else delete g[PARENT_SOURCE_KEY];
}
