// `vramlab run`: executes a notebook top to bottom through the real vramlab
// kernel (a child process spoken to over zeromq), with papermill's
// conventions for parameters and nbclient's for outputs and widget state,
// and saves the executed notebook even when a cell fails, so the error and
// everything before it can be read.
//
// What a run does, in order:
//  1. clears every code cell's outputs and execution count (stale outputs
//     would look like results of this run) and injects parameters
//     (notebook-parameters.ts);
//  2. starts the kernel in the notebook's folder;
//  3. runs each non-empty code cell not tagged `skip-execution`; a cell
//     that fails stops the run unless it is tagged `raises-exception`
//     (nbclient's tags); a cell running longer than the timeout is
//     interrupted and the run fails;
//  4. records kernel and language info, widget state, per-cell timing
//     (nbclient's metadata.execution) and the run (metadata.papermill:
//     parameters, paths, start/end time, duration, exception).
import { dirname, resolve } from "node:path";
import { OutputCollector, WIDGET_STATE_MIME } from "./notebook-outputs.js";
import { injectParameters, type Injection } from "./notebook-parameters.js";
import { RunnerKernel, KernelDiedError, KernelStartupError, type KernelMessage } from "./notebook-kernel.js";
import { cellTags, readNotebook, serializeNotebook, writeNotebook, type CodeCell, type JsonMap, type JsonValue, type Notebook } from "./notebook-format.js";

export const SKIP_TAG = "skip-execution";
export const RAISES_TAG = "raises-exception";

export type FailureKind = "error" | "timeout" | "kernel-died" | "kernel-startup";

/** Why a run stopped before its last cell. */
export interface RunFailure {
  kind: FailureKind;
  /** index of the cell in the executed notebook (after the injected parameters cell), or null for startup */
  cellIndex: number | null;
  cellId: string | null;
  /** the cell's first non-empty line, to find it in an editor */
  firstLine: string | null;
  ename: string;
  evalue: string;
  /** one paragraph for a person: which cell, what went wrong */
  message: string;
}

export interface RunOptions {
  /** papermill-style parameters, injected after the cell tagged `parameters` */
  parameters?: Record<string, JsonValue>;
  /** seconds one cell may run before it is interrupted and the run fails (default: no limit) */
  cellTimeoutSeconds?: number;
  /** seconds the kernel may take to start (default 60) */
  startupTimeoutSeconds?: number;
  /** seconds an interrupted cell gets to stop before the kernel is killed (default 10) */
  interruptGraceSeconds?: number;
  /** the kernel's working directory (default: the notebook's folder, else this process's) */
  cwd?: string;
  /** the kernel's environment (default: this process's) */
  env?: NodeJS.ProcessEnv;
  /** recorded in metadata.papermill */
  inputPath?: string;
  outputPath?: string;
  /** progress lines (one per cell) and warnings */
  log?: (line: string) => void;
  /** called with the notebook as it stands after each executed cell (runNotebookFile autosaves with it) */
  onCellDone?: (nb: Notebook) => void;
}

export interface NotebookRun {
  /** the executed notebook (a copy; the input is not modified) */
  notebook: Notebook;
  failure: RunFailure | null;
  warnings: string[];
  /** code cells sent to the kernel */
  executedCells: number;
  seconds: number;
  injection: Injection | null;
}

function firstLine(source: string): string | null {
  const line = source.split("\n").find((l) => l.trim() !== "");
  if (line === undefined) return null;
  const t = line.trim();
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
}

function describeCell(nb: Notebook, index: number): string {
  const cell = nb.cells[index];
  const parts = [`cell ${index}`];
  const extra: string[] = [];
  if (cell.id) extra.push(`id ${cell.id}`);
  if (cell.cell_type === "code" && cell.execution_count !== null) extra.push(`In [${cell.execution_count}]`);
  if (extra.length) parts.push(`(${extra.join(", ")})`);
  const line = firstLine(cell.source);
  if (line) parts.push(`\`${line}\``);
  return parts.join(" ");
}

function failureAt(nb: Notebook, index: number, kind: FailureKind, ename: string, evalue: string, what: string): RunFailure {
  const cell = nb.cells[index];
  return {
    kind,
    cellIndex: index,
    cellId: cell.id ?? null,
    firstLine: firstLine(cell.source),
    ename,
    evalue,
    message: `${describeCell(nb, index)} ${what}: ${ename}${evalue ? `: ${evalue}` : ""}`,
  };
}

function dateOf(m: KernelMessage): string {
  return typeof m.header.date === "string" ? m.header.date : new Date().toISOString();
}

type CellOutcome =
  | { status: "ok" }
  | { status: "error"; ename: string; evalue: string }
  | { status: "timeout"; interrupted: boolean }
  | { status: "died"; why: string };

/** Runs one cell: execute_request, then outputs until its idle status and its reply have both arrived. */
async function executeCell(kernel: RunnerKernel, collector: OutputCollector, cell: CodeCell, options: RunOptions): Promise<CellOutcome> {
  collector.beginCell(cell);
  const timing: JsonMap = {};
  cell.metadata.execution = timing;
  const header = kernel.send("shell", "execute_request", { code: cell.source, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true });
  const id = header.msg_id;
  let idle: () => void = () => {};
  const idleSeen = new Promise<void>((r) => (idle = r));
  const offIopub = kernel.onIopub((m) => {
    collector.handle(m, id);
    if (m.parent_header.msg_id !== id) return;
    const type = m.header.msg_type;
    if (type === "status" && m.content.execution_state === "busy") timing["iopub.status.busy"] = dateOf(m);
    else if (type === "execute_input") timing["iopub.execute_input"] = dateOf(m);
    else if (type === "status" && m.content.execution_state === "idle") {
      timing["iopub.status.idle"] = dateOf(m);
      idle();
    }
  });
  let died: (why: string) => void = () => {};
  const death = new Promise<string>((r) => (died = r));
  const offExit = kernel.onExit((why) => died(why));
  try {
    const timeoutMs = options.cellTimeoutSeconds !== undefined ? options.cellTimeoutSeconds * 1000 : 2 ** 31 - 1;
    const reply = kernel.waitReply(id, 2 ** 31 - 1);
    const first = await Promise.race([
      reply.then((m) => ({ kind: "reply" as const, m })),
      death.then((why) => ({ kind: "died" as const, why })),
      new Promise<{ kind: "timeout" }>((r) => setTimeout(() => r({ kind: "timeout" }), timeoutMs).unref()),
    ]);
    let replyMessage: KernelMessage | null = null;
    let timedOut = false;
    if (first.kind === "died") return { status: "died", why: first.why };
    if (first.kind === "reply") replyMessage = first.m;
    else {
      timedOut = true;
      kernel.interrupt();
      const graceMs = (options.interruptGraceSeconds ?? 10) * 1000;
      const after = await Promise.race([reply, death.then(() => null), new Promise<null>((r) => setTimeout(() => r(null), graceMs).unref())]);
      if (!after) return { status: "timeout", interrupted: false };
      replyMessage = after;
    }
    if (!replyMessage) return { status: "died", why: "closed" };
    timing["shell.execute_reply"] = dateOf(replyMessage);
    // iopub and shell are separate sockets: the last outputs may still be on their way.
    await Promise.race([idleSeen, death, new Promise((r) => setTimeout(r, 10_000).unref())]);
    if (timedOut) return { status: "timeout", interrupted: true };
    const c = replyMessage.content;
    if (c.status === "ok") return { status: "ok" };
    if (c.status === "aborted") return { status: "error", ename: "Aborted", evalue: "the kernel aborted the request" };
    return { status: "error", ename: String(c.ename ?? "Error"), evalue: String(c.evalue ?? "") };
  } finally {
    offIopub();
    offExit();
  }
}

/** Records the run in metadata.papermill (papermill's keys) and the kernel in metadata.vramlab. */
function recordRun(nb: Notebook, kernel: RunnerKernel | null, options: RunOptions, start: Date, failure: RunFailure | null): void {
  const end = new Date();
  nb.metadata.papermill = {
    parameters: (options.parameters ?? {}) as JsonMap,
    input_path: options.inputPath ?? null,
    output_path: options.outputPath ?? null,
    start_time: start.toISOString(),
    end_time: end.toISOString(),
    duration: (end.getTime() - start.getTime()) / 1000,
    exception: failure !== null,
  };
  const info = (kernel?.kernelInfo ?? {}) as JsonMap;
  const vramlab = (typeof nb.metadata.vramlab === "object" && nb.metadata.vramlab !== null && !Array.isArray(nb.metadata.vramlab) ? nb.metadata.vramlab : {}) as JsonMap;
  vramlab.run = {
    runner: "vramlab run",
    kernel: kernel ? { implementation: info.implementation ?? null, implementation_version: info.implementation_version ?? null, protocol_version: info.protocol_version ?? null, banner: info.banner ?? null } : null,
    node: process.version,
    status: failure ? "failed" : "ok",
    failure: failure ? { kind: failure.kind, cell_index: failure.cellIndex, cell_id: failure.cellId, ename: failure.ename, evalue: failure.evalue } : null,
  };
  nb.metadata.vramlab = vramlab;
  if (kernel && typeof info.language_info === "object" && info.language_info !== null) nb.metadata.language_info = info.language_info as JsonMap;
}

/** Executes a copy of the notebook; never throws for cell, timeout or kernel failures (they are in `failure`). */
export async function executeNotebook(input: Notebook, options: RunOptions = {}): Promise<NotebookRun> {
  const nb = JSON.parse(JSON.stringify(input)) as Notebook;
  const log = options.log ?? (() => {});
  const warnings: string[] = [];
  const warn = (w: string) => {
    warnings.push(w);
    log(`warning: ${w}`);
  };
  const t0 = performance.now();
  const start = new Date();
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    cell.outputs = [];
    cell.execution_count = null;
    delete cell.metadata.execution;
  }
  delete nb.metadata.widgets;

  let injection: Injection | null = null;
  if (options.parameters && Object.keys(options.parameters).length) {
    injection = injectParameters(nb, options.parameters);
    if (!injection.foundParametersCell) warn(`the notebook has no cell tagged "parameters"; the parameters were injected at the top`);
    else if (injection.unknown.length) warn(`the parameters cell does not declare ${injection.unknown.map((n) => `"${n}"`).join(", ")} (it declares ${injection.defaults.join(", ") || "nothing"}); injected anyway`);
  }
  const spec = nb.metadata.kernelspec as JsonMap | undefined;
  if (spec && typeof spec.language === "string" && spec.language.toLowerCase() !== "typescript") {
    warn(`the notebook's kernelspec is for ${spec.language} ("${String(spec.name)}"); vramlab run executes its cells as TypeScript`);
  }
  if (!spec) nb.metadata.kernelspec = { name: "vramlab", display_name: "TypeScript (vramlab)", language: "typescript" };

  const cwd = options.cwd ?? (options.inputPath ? dirname(resolve(options.inputPath)) : process.cwd());
  let kernel: RunnerKernel | null = null;
  let failure: RunFailure | null = null;
  let executed = 0;
  try {
    kernel = await RunnerKernel.start({ cwd, env: options.env, startupTimeoutMs: (options.startupTimeoutSeconds ?? 60) * 1000 });
  } catch (e) {
    const err = e as Error;
    failure = { kind: "kernel-startup", cellIndex: null, cellId: null, firstLine: null, ename: err.name, evalue: err.message, message: err.message };
  }
  if (kernel) {
    const k = kernel;
    const collector = new OutputCollector((msgType, content, parent) => k.send("shell", msgType, content, { parent }));
    const code = nb.cells.map((c, i) => [c, i] as const).filter(([c]) => c.cell_type === "code" && c.source.trim() !== "" && !cellTags(c).includes(SKIP_TAG));
    try {
      for (const [n, [cell, index]] of code.entries()) {
        const c0 = performance.now();
        executed++;
        const outcome = await executeCell(k, collector, cell as CodeCell, options);
        const took = `${((performance.now() - c0) / 1000).toFixed(2)} s`;
        options.onCellDone?.(nb);
        if (outcome.status === "ok") {
          log(`cell ${index} ok (${n + 1}/${code.length}, ${took})`);
          continue;
        }
        if (outcome.status === "error") {
          if (cellTags(cell).includes(RAISES_TAG)) {
            log(`cell ${index} raised ${outcome.ename} as its raises-exception tag allows (${n + 1}/${code.length}, ${took})`);
            continue;
          }
          failure = failureAt(nb, index, "error", outcome.ename, outcome.evalue, "failed");
        } else if (outcome.status === "timeout") {
          const limit = options.cellTimeoutSeconds;
          failure = failureAt(
            nb,
            index,
            "timeout",
            "CellTimeoutError",
            outcome.interrupted
              ? `the cell ran longer than the timeout of ${limit} s and was interrupted`
              : `the cell ran longer than the timeout of ${limit} s and did not stop within ${options.interruptGraceSeconds ?? 10} s of the interrupt; the kernel was stopped`,
            "timed out",
          );
        } else {
          const kernelLog = k.log;
          const tail = kernelLog ? `; its log ends with:\n${kernelLog.split("\n").slice(-15).join("\n")}` : "";
          failure = failureAt(nb, index, "kernel-died", KernelDiedError.name, `the kernel ${outcome.why} while running this cell${tail}`, "stopped");
        }
        break;
      }
      const widgets = collector.widgetState();
      if (widgets) nb.metadata.widgets = { [WIDGET_STATE_MIME]: widgets as unknown as JsonMap };
    } finally {
      await k.close(failure?.kind === "kernel-died" ? 0 : 5000);
    }
  }
  recordRun(nb, kernel, options, start, failure);
  return { notebook: nb, failure, warnings, executedCells: executed, seconds: (performance.now() - t0) / 1000, injection };
}

/** `notebooks/a.ipynb` -> `notebooks/a.out.ipynb` (papermill needs an output path; this is vramlab's default). */
export function defaultOutputPath(input: string): string {
  return input.endsWith(".ipynb") ? `${input.slice(0, -".ipynb".length)}.out.ipynb` : `${input}.out.ipynb`;
}

/** Seconds between saves of the output notebook during a run (default). */
export const AUTOSAVE_SECONDS = 10;

export interface RunFileOptions extends Omit<RunOptions, "inputPath" | "outputPath"> {
  /** where the executed notebook goes (default: defaultOutputPath(input)); "-" writes it to stdout */
  output?: string;
  /** also export a self-contained HTML page here */
  html?: string;
  /** figures in the HTML page: interactive plotly (plotly.js inlined) or the SVG drawings only */
  htmlFigures?: "plotly" | "svg";
  /** save the output notebook after a cell when this many seconds passed since the last save (default AUTOSAVE_SECONDS) */
  autosaveSeconds?: number;
}

export interface NotebookFileRun extends NotebookRun {
  outputPath: string;
  htmlPath: string | null;
}

/** Reads, executes and writes a notebook file (and its HTML page); the output is written on failure too. */
export async function runNotebookFile(input: string, options: RunFileOptions = {}): Promise<NotebookFileRun> {
  const nb = readNotebook(input);
  const outputPath = options.output ?? defaultOutputPath(input);
  // Like papermill, save now and then while running, so a run that is killed (a CI time limit) leaves its progress.
  let lastSave = performance.now();
  const every = (options.autosaveSeconds ?? AUTOSAVE_SECONDS) * 1000;
  const autosave = (current: Notebook) => {
    if (outputPath !== "-" && performance.now() - lastSave >= every) {
      writeNotebook(outputPath, current);
      lastSave = performance.now();
    }
    options.onCellDone?.(current);
  };
  const run = await executeNotebook(nb, { ...options, inputPath: input, outputPath, onCellDone: autosave });
  if (outputPath === "-") process.stdout.write(serializeNotebook(run.notebook));
  else writeNotebook(outputPath, run.notebook);
  let htmlPath: string | null = null;
  if (options.html) {
    const { writeNotebookHtml } = await import("./notebook-html.js");
    writeNotebookHtml(options.html, run.notebook, { figures: options.htmlFigures });
    htmlPath = options.html;
  }
  return { ...run, outputPath, htmlPath };
}

export { KernelStartupError, KernelDiedError };
