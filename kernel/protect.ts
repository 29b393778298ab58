// Interruptible cell code. A SIGINT stops synchronous JavaScript only
// inside a vm call made with breakOnSigint (Node then turns V8's
// termination into an ordinary exception; terminating anywhere else
// corrupts Node's async-hooks stack and aborts the process). tslab runs a
// cell's synchronous part that way. To cover what runs after an `await`
// too, the kernel rewrites the cell's async functions (and its top level)
// into generators driven by an awaiter that resumes them through such a
// vm call, so `await x; while (true) {}` stops on interrupt as well.
import vm from "node:vm";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The slice of the TypeScript API (tslab's fork, 5.0) used here. */
interface TsForProtect {
  transpileModule(input: string, opts: { compilerOptions: Record<string, unknown>; transformers?: { before?: unknown[] } }): { outputText: string };
  transformES2017: unknown;
  ScriptTarget: { ES2022: number };
  ModuleKind: { None: number };
}
let tsApi: TsForProtect | null = null;
function ts(): TsForProtect {
  return (tsApi ??= require("@tslab/typescript-for-tslab") as TsForProtect);
}

const INTERRUPTED = "ERR_SCRIPT_EXECUTION_INTERRUPTED";

export function isInterruption(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as { code?: unknown }).code === INTERRUPTED;
}

type Method = "next" | "throw";
interface Resume {
  gen: Generator<unknown, unknown, unknown>;
  method: Method;
  value: unknown;
}

/** The global the rewritten cell code reaches the awaiter through (like tslab's __tslab__). */
export const PROTECT_GLOBAL = "__vramlab__";

let pending: Resume | null = null;
let onInterruption: (e: unknown) => void = () => {};
const resumeScript = new vm.Script(`${PROTECT_GLOBAL}.resume()`, { filename: "vramlab-kernel-resume" });

function resumeProtected(gen: Generator<unknown, unknown, unknown>, method: Method, value: unknown): IteratorResult<unknown, unknown> {
  pending = { gen, method, value };
  return resumeScript.runInThisContext({ breakOnSigint: true }) as IteratorResult<unknown, unknown>;
}

/**
 * TypeScript's __awaiter with every resumption made through resumeProtected:
 * same semantics (it adopts thenables, rejects on throw), interruptible steps.
 */
function protectedAwaiter(thisArg: unknown, args: unknown, P: PromiseConstructor | undefined, generatorFn: (...a: unknown[]) => Generator<unknown, unknown, unknown>): Promise<unknown> {
  const Ctor = P ?? Promise;
  return new Ctor((resolve, reject) => {
    const gen = generatorFn.apply(thisArg, (args as unknown[]) ?? []);
    const adopt = (value: unknown) => (value instanceof Ctor ? value : new Ctor((r) => r(value)));
    const step = (result: IteratorResult<unknown, unknown>) => {
      if (result.done) resolve(result.value);
      else adopt(result.value).then(fulfilled, rejected);
    };
    function fulfilled(value: unknown) {
      try {
        step(resumeProtected(gen, "next", value));
      } catch (e) {
        if (isInterruption(e)) onInterruption(e);
        reject(e);
      }
    }
    function rejected(value: unknown) {
      try {
        step(resumeProtected(gen, "throw", value));
      } catch (e) {
        if (isInterruption(e)) onInterruption(e);
        reject(e);
      }
    }
    fulfilled(undefined);
  });
}

/** Defines the global the rewritten code uses; `interrupted` hears of every interruption seen in a resumed step. */
export function installProtection(interrupted: (e: unknown) => void): void {
  onInterruption = interrupted;
  const api = {
    awaiter: protectedAwaiter,
    resume(): unknown {
      const r = pending!;
      pending = null;
      return r.gen[r.method](r.value);
    },
  };
  Object.defineProperty(globalThis, PROTECT_GLOBAL, { value: api, configurable: true, enumerable: false, writable: false });
}

/**
 * Rewrites a converted cell (tslab's CommonJS output) so its async
 * functions, and with top-level await its whole body, run on the
 * protected awaiter. Returns the code unchanged when it has nothing to
 * rewrite or uses `for await` (which generators cannot express).
 */
export function protectAsync(output: string, hasTopLevelAwait: boolean): string {
  if (!/\basync\b|\bawait\b/.test(output) || /\bfor\s+await\b/.test(output)) return output;
  const t = ts();
  const source = hasTopLevelAwait ? `async function __vramlabCell() {\n${output}\n}` : output;
  let text: string;
  try {
    text = t.transpileModule(source, {
      compilerOptions: { target: t.ScriptTarget.ES2022, module: t.ModuleKind.None, noEmitHelpers: true, removeComments: false, newLine: 1 },
      transformers: { before: [t.transformES2017] },
    }).outputText;
  } catch {
    return output;
  }
  // The helper name TypeScript emits calls to; bound locally so nothing leaks into globalThis.
  const prologue = `var __awaiter = ${PROTECT_GLOBAL}.awaiter;`;
  return hasTopLevelAwait ? `${prologue} ${text}\nreturn __vramlabCell.call(this);` : `${prologue} ${text}`;
}
