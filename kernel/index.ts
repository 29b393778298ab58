// vramlab/kernel: the Jupyter kernel (protocol 5.4 over zeromq, TypeScript
// cells through tslab) and what cells use from it: rich display, progress
// bars, comms, input and the interrupt signal. This entry point stays
// light: the server (zeromq, TypeScript) loads only when a kernel starts.
import { getKernelRuntime, requireKernelRuntime } from "./runtime.js";

export {
  JUPYTER_DISPLAY,
  isDisplayable,
  display,
  clearOutput,
  DisplayHandle,
  mimeBundle,
  mimeBundleOf,
  withMimeBundle,
  normalizeBundle,
  html,
  markdown,
  md,
  svg,
  png,
  pngSize,
  json,
  table,
  escapeHtml,
  plainText,
  type MimeBundle,
  type Displayable,
  type DisplayOptions,
  type ResolvedBundle,
  type TableOptions,
  type TableCell,
} from "./display.js";
export { progress, trackProgress, ProgressBar, type ProgressOptions } from "./progress.js";
export { Comm, registerCommTarget, openComm, type CommMessage, type CommOpenHandler } from "./comm.js";
export { installKernelSpec, kernelSpec, jupyterUserDataDir, type InstallOptions, type KernelSpec } from "./install.js";
export { getKernelRuntime, type KernelRuntime } from "./runtime.js";
export { PROTOCOL_VERSION } from "./protocol.js";

/** True inside the vramlab kernel. */
export function inKernel(): boolean {
  return getKernelRuntime() !== undefined;
}

/** Asks the notebook user for a line of text (the frontend shows an input box). */
export function input(prompt = "", opts: { password?: boolean } = {}): Promise<string> {
  try {
    return requireKernelRuntime("input()").input(prompt, opts.password === true);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * The AbortSignal the next interrupt aborts (a fresh one after each
 * interrupt). Engine forwards stop at the next module boundary on
 * interrupt without it; pass it to your own long-running async work.
 * Outside the kernel: a signal that never aborts.
 */
export function interruptSignal(): AbortSignal {
  return getKernelRuntime()?.signal ?? new AbortController().signal;
}

/** Runs fn after each interrupt, e.g. to reset state a stopped synchronous call left behind. Returns an unsubscribe function. */
export function onInterrupt(fn: () => void): () => void {
  return getKernelRuntime()?.onInterrupt(fn) ?? (() => {});
}

/** Starts the kernel on a connection file (what `vramlab kernel --connection-file F` runs). */
export async function runKernel(connectionFile: string): Promise<void> {
  const server = await import("./server.js");
  await server.runKernel({ connectionFile });
}
