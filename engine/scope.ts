// Scopes free intermediate tensors deterministically: every tensor made
// inside scope()/tidy() is disposed when it ends, except what the function
// returns (handed to the enclosing scope) and what keep() marks.
// The async scope rides in the execution context (engine/context.ts).
import { currentContext, withContext, type ExecContext } from "./context.js";
import type { Tensor } from "./tensor.js";

class Scope {
  readonly tensors = new Set<Tensor>();
  constructor(readonly parent: Scope | null) {}
}

let syncScope: Scope | null = null; // tidy() is synchronous and may run outside any async scope

function activeScope(): Scope | null {
  return syncScope ?? (currentContext().scope as Scope | undefined) ?? null;
}

export function registerInScope(t: Tensor): void {
  const s = activeScope();
  if (s && s !== detached) s.tensors.add(t);
}

/** Exempts a tensor from every enclosing scope: the caller disposes it. */
export function keep<T extends Tensor>(t: T): T {
  for (let s = activeScope(); s; s = s.parent) s.tensors.delete(t);
  return t;
}

/** Tensors reachable from a returned value (a tensor, arrays, plain objects, Maps). */
export function collectTensors(value: unknown, out = new Set<Tensor>(), seen = new Set<unknown>()): Set<Tensor> {
  if (value === null || typeof value !== "object" || seen.has(value)) return out;
  seen.add(value);
  if (isTensor(value)) {
    out.add(value);
    return out;
  }
  if (Array.isArray(value)) for (const v of value) collectTensors(v, out, seen);
  else if (value instanceof Map) for (const v of value.values()) collectTensors(v, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collectTensors(v, out, seen);
  return out;
}

function isTensor(v: object): v is Tensor {
  return typeof (v as Tensor).dispose === "function" && Array.isArray((v as Tensor).shape) && typeof (v as Tensor).dtype === "string";
}

function finish(scope: Scope, result: unknown): void {
  const survivors = collectTensors(result);
  for (const t of scope.tensors) {
    if (survivors.has(t)) scope.parent?.tensors.add(t);
    else t.dispose();
  }
  scope.tensors.clear();
}

/** Runs a synchronous fn; disposes the tensors it made except those it returns. */
export function tidy<T>(fn: () => T): T {
  const scope = new Scope(activeScope());
  const prev = syncScope;
  syncScope = scope;
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new TypeError("tidy() takes a synchronous function; use `await vl.scope(async () => ...)` for async code");
  } catch (e) {
    syncScope = prev;
    finish(scope, undefined);
    throw e;
  }
  syncScope = prev;
  finish(scope, result);
  return result;
}

/** Async scope: follows the function through its awaits. */
export function scope<T>(fn: () => Promise<T> | T): Promise<T> {
  return scopeIn(currentContext(), fn);
}

/**
 * scope(fn) run in the execution context `ctx` (plus the new scope): Module.call enters its
 * module's context and the forward's scope in one step.
 */
export async function scopeIn<T>(ctx: ExecContext, fn: () => Promise<T> | T): Promise<T> {
  const s = new Scope(activeScope());
  let result: T;
  try {
    result = await withContext({ ...ctx, scope: s }, fn);
  } catch (e) {
    finish(s, undefined);
    throw e;
  }
  finish(s, result);
  return result;
}

const detached = new Scope(null);
/** Runs fn with no active scope: tensors it makes belong to the caller (hooks use this). */
export function untracked<T>(fn: () => T): T {
  const prev = syncScope;
  syncScope = null;
  try {
    return withContext({ ...currentContext(), scope: detached }, fn);
  } finally {
    syncScope = prev;
  }
}

/**
 * Forgets a synchronous scope left open by code that was stopped mid-tidy (V8 skips `finally`
 * blocks when an interrupt terminates synchronous code). The kernel calls this after an interrupt.
 */
export function resetSyncScope(): void {
  syncScope = null;
}
