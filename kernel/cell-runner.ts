// Runs TypeScript cells with tslab's converter and executor (used as a
// dependency): declarations persist across cells, type errors come back as
// diagnostics, top-level await works. The kernel adds, around tslab:
//  - a hook on the converter's output that makes async code interruptible
//    (protect.ts);
//  - a per-cell vm filename and a record of the code that ran, so stack
//    frames map back to the right cell's TypeScript lines;
//  - a console sink that captures the last expression's value, runtime
//    errors and diagnostics as data instead of printed text;
//  - type declarations for the kernel's globals (display, interruptSignal).
import vm from "node:vm";
import { createRequire } from "node:module";
import type { Converter, ConvertResult } from "tslab/dist/converter.js";
import type { ConverterSet, Executor } from "tslab/dist/executor.js";
import { isInterruption, protectAsync } from "./protect.js";
import { expandShorthandProperties, lineAndCharacter, originalOffset } from "./shorthand-expansion.js";
import { CellRegistry, compileError, runtimeError, type Diagnostic, type ErrorContent } from "./traceback.js";

const require = createRequire(import.meta.url);

interface TslabConverterModule {
  createConverter(options?: { isJS?: boolean; isBrowser?: boolean }): Converter;
  isCompleteCode(content: string): { completed: boolean; indent?: string };
}
interface TslabExecutorModule {
  createExecutor(rootDir: string, convs: ConverterSet, console: { log(...a: unknown[]): void; error(...a: unknown[]): void }): Executor;
}
interface QuickInfoModule {
  printQuickInfo(info: unknown): string;
}
interface TsParseApi {
  createSourceFile(name: string, text: string, target: number, setParents?: boolean, kind?: number): { parseDiagnostics?: { start: number; length: number; messageText: unknown }[] };
  ScriptTarget: { Latest: number };
  ScriptKind: { TS: number };
}

/** Declarations of the globals the kernel defines, added to every cell's type checking. */
export const GLOBALS_DECLARATIONS = `
declare global {
  /** A displayed output that can be replaced in place. */
  interface VramlabDisplayHandle {
    readonly displayId: string;
    update(value: unknown): void;
  }
  interface VramlabDisplayOptions {
    /** give the output an id (true: a new random one) so it can be updated later */
    displayId?: string | boolean;
    /** replace the output with this id (update_display_data) */
    update?: boolean;
    metadata?: Record<string, unknown>;
  }
  /**
   * Shows a value in the notebook: the MIME bundle of an object with a
   * [Symbol.for("Jupyter.display")]() method, otherwise its text.
   */
  function display(value: unknown, options: VramlabDisplayOptions & { displayId: string | true }): VramlabDisplayHandle;
  function display(value: unknown, options?: VramlabDisplayOptions): VramlabDisplayHandle | undefined;
  /** Aborted by the next interrupt. Engine forwards stop at the next module boundary without it being passed. */
  const interruptSignal: AbortSignal;
}
`;

export interface ExecutionOutcome {
  status: "ok" | "error";
  /** set when the cell ended with an expression whose value is not null/undefined */
  hasValue: boolean;
  value?: unknown;
  error?: ErrorContent;
  /** the failure was an interrupt */
  interrupted: boolean;
}

interface Capture {
  diagnostics: Diagnostic[];
  errors: unknown[];
  hasValue: boolean;
  value: unknown;
}

/** tslab prints diagnostics with console.error("%s%d:%d - %s", file, line, col, message). */
const DIAGNOSTIC_FORMAT = "%s%d:%d - %s";
/** The error tslab's executor rejects with when interrupt() is called. */
const TSLAB_INTERRUPTED = "Interrupted asynchronously";

function toUtf16Offset(text: string, codePoints: number): number {
  let i = 0;
  for (let cp = 0; cp < codePoints && i < text.length; cp++) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
  }
  return i;
}

function toCodePoints(text: string, utf16: number): number {
  let cp = 0;
  for (let i = 0; i < utf16 && i < text.length; cp++) {
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
  }
  return cp;
}

export class CellRunner {
  readonly cells = new CellRegistry();
  private readonly executor: Executor;
  private readonly converter: Converter;
  private browserConverter: Converter | null = null;
  private readonly tslabConverter: TslabConverterModule;
  private capture: Capture | null = null;
  private seq = 0;

  constructor(rootDir: string) {
    this.tslabConverter = require("tslab/dist/converter") as TslabConverterModule;
    const { createExecutor } = require("tslab/dist/executor") as TslabExecutorModule;
    const converter = this.tslabConverter.createConverter({ isJS: false, isBrowser: false });
    this.converter = converter;
    const globalsDiagnostics = converter.addModule("__vramlab_globals", GLOBALS_DECLARATIONS);
    if (globalsDiagnostics.length) throw new Error(`kernel globals do not type-check: ${globalsDiagnostics.map((d) => d.messageText).join("; ")}`);
    const hooked: Converter = {
      ...converter,
      convert: (prevDecl: string, src: string): ConvertResult => {
        const expansion = expandShorthandProperties(src);
        const r = converter.convert(prevDecl, expansion.text);
        if (expansion.insertions.length) {
          const mapped = new Set<object>(); // chained diagnostics share position objects
          for (const d of r.diagnostics) {
            if (d.fileName !== undefined) continue; // another file's position
            for (const pos of [d.start, d.end]) {
              if (mapped.has(pos)) continue;
              mapped.add(pos);
              pos.offset = originalOffset(expansion, pos.offset);
              Object.assign(pos, lineAndCharacter(src, pos.offset));
            }
          }
        }
        if (r.output) r.output = protectAsync(r.output, r.hasToplevelAwait === true);
        return r;
      },
    };
    const self = this;
    const convs: ConverterSet = {
      node: hooked,
      get browser(): Converter {
        return (self.browserConverter ??= self.tslabConverter.createConverter({ isJS: false, isBrowser: true }));
      },
      close: () => {
        converter.close();
        this.browserConverter?.close();
      },
    };
    this.executor = createExecutor(rootDir, convs, {
      log: (value: unknown) => {
        if (!this.capture) return;
        this.capture.hasValue = true;
        this.capture.value = value;
      },
      error: (...args: unknown[]) => {
        if (!this.capture) return;
        if (args[0] === DIAGNOSTIC_FORMAT && args.length >= 5) {
          const file = String(args[1]).trim();
          this.capture.diagnostics.push({ file: file || undefined, line: Number(args[2]), col: Number(args[3]), message: String(args[4]) });
        } else {
          this.capture.errors.push(args[0]);
        }
      },
    });
  }

  /**
   * Runs one cell. `label` names it in tracebacks ("In[3]"). Never throws:
   * failures come back as an error outcome.
   */
  async execute(source: string, label: string): Promise<ExecutionOutcome> {
    const filename = `vramlab-cell-${++this.seq}`;
    const capture: Capture = { diagnostics: [], errors: [], hasValue: false, value: undefined };
    this.capture = capture;
    const original = vm.runInThisContext;
    let recorded = false;
    // tslab runs the converted cell with vm.runInThisContext during execute()'s synchronous part.
    vm.runInThisContext = ((code: string, options?: vm.RunningCodeOptions | string) => {
      if (!recorded) {
        recorded = true;
        this.cells.add({ filename, label, source, js: code });
        const opts = typeof options === "object" && options ? options : {};
        return original.call(vm, code, { ...opts, filename, breakOnSigint: true, displayErrors: false });
      }
      return original.call(vm, code, options);
    }) as typeof vm.runInThisContext;
    let ok: boolean;
    try {
      let pending: Promise<boolean>;
      try {
        pending = this.executor.execute(source);
      } finally {
        vm.runInThisContext = original;
      }
      ok = await pending;
    } catch (e) {
      // tslab itself failed (not the cell): report it as the cell's error
      ok = false;
      capture.errors.push(e);
    } finally {
      if (this.capture === capture) this.capture = null;
    }
    if (capture.diagnostics.length) {
      return { status: "error", hasValue: false, interrupted: false, error: compileError(capture.diagnostics, source, label) };
    }
    if (!ok || capture.errors.length) {
      const e = capture.errors[0] ?? new Error("the cell failed");
      const interrupted = isInterruption(e) || (e instanceof Error && e.message === TSLAB_INTERRUPTED);
      return { status: "error", hasValue: false, interrupted, error: runtimeError(e, this.cells, interrupted) };
    }
    return { status: "ok", hasValue: capture.hasValue, value: capture.value, interrupted: false };
  }

  /** Rejects the running cell's await (tslab's asynchronous interrupt). */
  interrupt(): void {
    this.executor.interrupt();
  }

  /** Completion at a cursor given in code points (protocol 5.2+). */
  complete(code: string, cursorCodePoints: number): { matches: string[]; cursor_start: number; cursor_end: number } {
    const pos = toUtf16Offset(code, cursorCodePoints);
    const info = this.executor.complete(code, pos);
    return { matches: info.candidates, cursor_start: toCodePoints(code, info.start), cursor_end: toCodePoints(code, info.end) };
  }

  /** Quick info (type and docs) at a cursor in code points, or null. */
  inspect(code: string, cursorCodePoints: number): string | null {
    const info = this.executor.inspect(code, toUtf16Offset(code, cursorCodePoints));
    if (!info) return null;
    const text = (require("tslab/dist/inspect") as QuickInfoModule).printQuickInfo(info);
    return text || null;
  }

  /** is_complete: "complete", "incomplete" (with an indent), or "invalid". */
  isComplete(code: string): { status: "complete" | "incomplete" | "invalid"; indent?: string } {
    const r = this.tslabConverter.isCompleteCode(code);
    if (!r.completed) return { status: "incomplete", indent: r.indent ?? "" };
    const ts = require("@tslab/typescript-for-tslab") as TsParseApi;
    const sf = ts.createSourceFile("cell.ts", code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const errors = sf.parseDiagnostics ?? [];
    return errors.length ? { status: "invalid" } : { status: "complete" };
  }

  close(): void {
    this.executor.close();
  }
}
