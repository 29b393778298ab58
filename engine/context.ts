// The execution context that follows a forward through its awaits: the
// module path (for memory attribution and error messages), the current
// tensor scope, and the run's AbortSignal. One AsyncLocalStorage carries all
// of it: every AsyncLocalStorage adds work to every promise the process makes.
import { AsyncLocalStorage } from "node:async_hooks";

export interface ExecContext {
  /** dotted module path, "" at the root */
  modulePath: string;
  /** the module's class name, for messages */
  moduleClass?: string;
  signal?: AbortSignal;
  /** the module whose call() is running (forward runs inside it) */
  module?: object;
  /** the innermost async tensor scope (engine/scope.ts; opaque here) */
  scope?: object;
}

const storage = new AsyncLocalStorage<ExecContext>();
const rootContext: ExecContext = { modulePath: "" };

export function currentContext(): ExecContext {
  return storage.getStore() ?? rootContext;
}

export function withContext<T>(ctx: ExecContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** "in module transformer_blocks.0.attn (Attention)" or "" outside modules. */
export function moduleLocation(): string {
  const c = currentContext();
  if (!c.modulePath && !c.moduleClass) return "";
  return ` in module ${c.modulePath || "<root>"}${c.moduleClass ? ` (${c.moduleClass})` : ""}`;
}

export class AbortedError extends Error {
  constructor(where: string, reason?: unknown) {
    const why = reason instanceof Error ? reason.message : reason !== undefined ? String(reason) : "aborted";
    super(`forward stopped before ${where || "the next module"}: ${why}. The model is unchanged and can run again.`);
    this.name = "AbortError";
  }
}

export function throwIfAborted(where: string): void {
  const s = currentContext().signal;
  if (s?.aborted) throw new AbortedError(where, s.reason);
}

const YIELD_INTERVAL_MS = 4;
let lastYield = performance.now();
/** Whether maybeYield would give the event loop a turn now (callers on hot paths skip the await otherwise). */
export function yieldDue(intervalMs = YIELD_INTERVAL_MS): boolean {
  return performance.now() - lastYield >= intervalMs;
}
/** Lets the event loop run (heartbeats, interrupts, timers) at most every few ms. */
export async function maybeYield(intervalMs = YIELD_INTERVAL_MS): Promise<void> {
  if (!yieldDue(intervalMs)) return;
  await new Promise<void>((resolve) => setImmediate(resolve));
  lastYield = performance.now();
}
