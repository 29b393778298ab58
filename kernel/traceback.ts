// Jupyter error content (ename, evalue, traceback) for runtime errors and
// TypeScript diagnostics, with positions in the cells' TypeScript source.
import { fileURLToPath } from "node:url";
import { dirname, resolve, sep } from "node:path";
import { createRequire } from "node:module";
import { inspect } from "node:util";
import { PositionMap, type ScannerApi } from "./position-map.js";

const require = createRequire(import.meta.url);

export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** A cell as it ran: its name in stack traces and both texts for position mapping. */
export interface CellRecord {
  /** the vm filename the cell ran under */
  filename: string;
  /** how tracebacks name the cell: "In[3]" or "<cell>" */
  label: string;
  source: string;
  js: string;
  map?: PositionMap | null;
  /** 1-based JS lines that only hold the kernel's or tslab's wrapper code (their frames are hidden) */
  wrapperLines?: Set<number>;
}

/** Lines of a cell's JS that call the cell wrapper: tslab's `})(__tslab__.exports, ...)` and protect.ts's epilogue. */
function wrapperLinesOf(js: string): Set<number> {
  const out = new Set<number>();
  js.split("\n").forEach((l, i) => {
    if (l.includes("__tslab__.exports, __tslab__.require") || l.includes("__vramlabCell.call(this)")) out.add(i + 1);
  });
  return out;
}

export interface Diagnostic {
  /** 1-based line and column in the cell */
  line: number;
  col: number;
  message: string;
  /** set when the diagnostic is in another file (a local module) */
  file?: string;
}

const kernelDir = dirname(fileURLToPath(import.meta.url));
let tslabDir = "";
try {
  tslabDir = dirname(require.resolve("tslab/package.json"));
} catch {
  // tslab missing: the kernel cannot run anyway
}
const INTERNAL_FILES = ["vramlab-kernel-resume", "vramlab-sigint"];

let scanner: ScannerApi | null = null;
function scannerApi(): ScannerApi {
  return (scanner ??= require("@tslab/typescript-for-tslab") as ScannerApi);
}

/** Registry of cells by vm filename, so frames of functions defined in earlier cells map too. */
export class CellRegistry {
  private readonly cells = new Map<string, CellRecord>();
  private readonly order: string[] = [];
  constructor(private readonly limit = 500) {}

  add(cell: CellRecord): void {
    cell.wrapperLines ??= wrapperLinesOf(cell.js);
    this.cells.set(cell.filename, cell);
    this.order.push(cell.filename);
    while (this.order.length > this.limit) this.cells.delete(this.order.shift()!);
  }

  get(filename: string): CellRecord | undefined {
    return this.cells.get(filename);
  }

  /** TypeScript position of a cell frame, or null when unknown. */
  locate(filename: string, line: number, col: number): { cell: CellRecord; line: number; col: number; exact: boolean } | "wrapper" | null {
    const cell = this.cells.get(filename);
    if (!cell) return null;
    if (cell.wrapperLines?.has(line)) return "wrapper";
    if (cell.map === undefined) {
      try {
        cell.map = new PositionMap(scannerApi(), cell.source, cell.js);
      } catch {
        cell.map = null;
      }
    }
    const p = cell.map?.lookup(line, col);
    return p ? { cell, line: p.line + 1, col: p.col + 1, exact: p.exact } : null;
  }
}

interface Frame {
  text: string;
  fn: string;
  file: string;
  line: number;
  col: number;
}

const FRAME_RE = /^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?$/;

function parseFrame(line: string): Frame | null {
  const m = FRAME_RE.exec(line);
  if (!m) return null;
  // Functions from earlier cells are called through tslab's exports Proxy: "Proxy.f" is the user's "f".
  const fn = (m[1] ?? "").replace(/^Proxy\./, "");
  return { text: line.trim(), fn, file: m[2], line: Number(m[3]), col: Number(m[4]) };
}

function isInternal(file: string): boolean {
  if (file.startsWith("node:") || file.startsWith("internal/")) return true;
  if (INTERNAL_FILES.some((f) => file.includes(f))) return true;
  let path = file;
  if (path.startsWith("file://")) {
    try {
      path = fileURLToPath(path);
    } catch {
      return false;
    }
  }
  path = resolve(path);
  return path.startsWith(kernelDir + sep) || (tslabDir !== "" && path.startsWith(tslabDir + sep));
}

function sourceExcerpt(source: string, line: number, col?: number): string[] {
  const lines = source.split("\n");
  const out: string[] = [];
  const width = String(Math.min(lines.length, line + 1)).length;
  for (let i = Math.max(1, line - 2); i <= Math.min(lines.length, line + 1); i++) {
    const marker = i === line ? "-->" : "   ";
    out.push(`${marker} ${String(i).padStart(width)} | ${lines[i - 1]}`);
    if (i === line && col !== undefined) out.push(`    ${" ".repeat(width)} | ${" ".repeat(Math.max(0, col - 1))}^`);
  }
  return out;
}

function errorName(e: unknown): string {
  if (e instanceof Error) return e.name || e.constructor?.name || "Error";
  return "Error";
}

/** Jupyter error content for a thrown value, frames in cells mapped to their TypeScript lines. */
export function runtimeError(e: unknown, cells: CellRegistry, interrupted: boolean): ErrorContent {
  if (interrupted) return { ename: "Interrupted", evalue: "the cell was interrupted", traceback: ["Interrupted: the cell was interrupted (the kernel keeps its state)"] };
  if (!(e instanceof Error)) {
    const evalue = inspect(e, { depth: 2 });
    return { ename: "Error", evalue: `uncaught ${evalue}`, traceback: [`Uncaught ${evalue}`] };
  }
  const ename = errorName(e);
  const evalue = e.message;
  const stack = typeof e.stack === "string" ? e.stack.split("\n") : [];
  const frames = stack.map(parseFrame);
  const firstFrame = frames.findIndex((f) => f !== null);
  // The message lines, without the "file:line / source / ^" decoration Node adds to errors thrown in vm code.
  const before = firstFrame >= 0 ? stack.slice(0, firstFrame) : stack;
  const start = before.findIndex((l) => l.startsWith(`${ename}:`) || l === ename || l.startsWith(`${e.constructor?.name}:`));
  const head = start >= 0 ? before.slice(start) : [`${ename}: ${evalue}`];
  const lines = [...head];
  let excerpt: string[] = [];
  for (const f of frames) {
    if (!f) continue;
    const hit = cells.locate(f.file, f.line, f.col);
    // withContext is the engine context the kernel runs each cell in: not the user's code.
    if (hit === "wrapper" || (f.fn === "withContext" && /[\\/]engine[\\/]context\.js$/.test(f.file))) continue;
    if (hit) {
      lines.push(`    at ${f.fn ? `${f.fn} (` : ""}${hit.cell.label}:${hit.line}:${hit.col}${f.fn ? ")" : ""}`);
      if (!excerpt.length) excerpt = [``, `${hit.cell.label}, line ${hit.line}:`, ...sourceExcerpt(hit.cell.source, hit.line, hit.exact ? hit.col : undefined)];
    } else if (!isInternal(f.file) && !f.file.startsWith("evalmachine")) {
      lines.push(`    ${f.text}`);
    }
  }
  const cause = (e as { cause?: unknown }).cause;
  if (cause !== undefined) lines.push(`Caused by: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : inspect(cause, { depth: 1 })}`);
  return { ename, evalue, traceback: [...lines, ...excerpt] };
}

/** Jupyter error content for TypeScript diagnostics of a cell. */
export function compileError(diags: Diagnostic[], source: string, label: string): ErrorContent {
  const first = diags[0];
  const where = (d: Diagnostic) => `${d.file ? d.file : label}:${d.line}:${d.col}`;
  const traceback: string[] = [`TypeScript: ${diags.length} error${diags.length === 1 ? "" : "s"} in ${label}`];
  for (const d of diags) {
    traceback.push("", `${where(d)} - ${d.message}`);
    if (!d.file) traceback.push(...sourceExcerpt(source, d.line, d.col));
  }
  return { ename: "TypeScriptError", evalue: first ? `${where(first)} - ${first.message}` : "compilation failed", traceback };
}
