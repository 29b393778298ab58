// The vramlab live page: cells of TypeScript run on a vramlab kernel through
// the websocket bridge (kernel/ws-bridge.ts), with ipywidgets views,
// anywidget ESM widgets and plotly figures. window.vramlabLive is its API,
// used by the browser test and handy from the devtools console.
import "@jupyter-widgets/controls/css/widgets-base.css";
import "@jupyter-widgets/controls/css/labvariables.css";
import "./live.css";
import { KernelConnection, ServerConnection, type Kernel, type KernelMessage } from "@jupyterlab/services";
import { LiveWidgetManager } from "./widget-manager.js";
import { CellOutputs, DisplayRegistry } from "./cell-outputs.js";

interface PageConfig {
  kernelId: string;
  kernelName: string;
}

export interface RunResult {
  status: "ok" | "error" | "abort" | "aborted";
  executionCount: number | null;
  /** text/plain of the execute_result, "" when there is none */
  text: string;
  stdout: string;
  stderr: string;
  error: { ename: string; evalue: string } | null;
  cellIndex: number;
}

export interface LiveApi {
  ready: Promise<void>;
  kernel: Kernel.IKernelConnection;
  manager: LiveWidgetManager;
  /** appends a cell with this code and runs it; resolves when the kernel is idle again */
  run(code: string): Promise<RunResult>;
  /** the output element of a cell */
  cellOutput(index: number): HTMLElement;
}

declare global {
  interface Window {
    vramlabLive: LiveApi;
  }
}

function readConfig(): PageConfig {
  const el = document.getElementById("vramlab-live-config");
  if (!el?.textContent) throw new Error("the page has no #vramlab-live-config: open it through the vramlab bridge (vramlab serve)");
  return JSON.parse(el.textContent) as PageConfig;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text = ""): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = cls;
  if (text) el.textContent = text;
  return el;
}

function main(): LiveApi {
  const config = readConfig();
  const root = document.getElementById("vramlab-live")!;
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: `${location.origin}/`,
    wsUrl: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`,
    token,
    appendToken: true,
  });
  const kernel = new KernelConnection({ model: { id: config.kernelId, name: config.kernelName }, serverSettings, username: "vramlab-live" });
  const manager = new LiveWidgetManager(kernel);
  const displays = new DisplayRegistry();

  const header = h("header", "vl-header");
  header.append(h("span", "vl-title", "vramlab live"));
  const status = h("span", "vl-status", "connecting");
  header.append(status);
  const cellsNode = h("main", "vl-cells");
  root.append(header, cellsNode);
  kernel.statusChanged.connect((_, s) => {
    status.textContent = s;
    status.dataset.status = s;
  });

  // update_display_data may come from any request (a widget callback redrawing a figure)
  kernel.iopubMessage.connect((_, msg) => {
    if (msg.header.msg_type !== "update_display_data") return;
    const c = msg.content as KernelMessage.IUpdateDisplayDataMsg["content"];
    const id = c.transient?.display_id;
    if (id) void displays.update(id, c.data as Record<string, unknown>, (c.metadata ?? {}) as Record<string, unknown>, manager.renderMime);
  });

  const cells: CellOutputs[] = [];

  const execute = (code: string, outputs: CellOutputs, index: number, counter: HTMLElement): Promise<RunResult> => {
    outputs.clear();
    const result: RunResult = { status: "ok", executionCount: null, text: "", stdout: "", stderr: "", error: null, cellIndex: index };
    const future = kernel.requestExecute({ code, stop_on_error: true });
    let rendering = Promise.resolve();
    future.onIOPub = (msg) => {
      const type = msg.header.msg_type;
      if (type === "stream") {
        const c = msg.content as KernelMessage.IStreamMsg["content"];
        if (c.name === "stdout") result.stdout += c.text;
        else result.stderr += c.text;
      } else if (type === "execute_result") {
        result.text = String((msg.content as KernelMessage.IExecuteResultMsg["content"]).data["text/plain"] ?? "");
      } else if (type === "error") {
        const c = msg.content as KernelMessage.IErrorMsg["content"];
        result.error = { ename: c.ename, evalue: c.evalue };
      }
      if (type !== "update_display_data") rendering = rendering.then(() => outputs.add(msg)).catch((e) => console.error(e));
    };
    return future.done.then(async (reply) => {
      const content = reply.content as KernelMessage.IExecuteReplyMsg["content"];
      result.status = content.status;
      result.executionCount = content.status === "ok" || content.status === "error" ? content.execution_count : null;
      counter.textContent = `[${result.executionCount ?? " "}]`;
      await rendering;
      return result;
    });
  };

  const addCell = (code: string): { run: () => Promise<RunResult>; index: number } => {
    const index = cells.length;
    const cell = h("section", "vl-cell");
    cell.dataset.index = String(index);
    const input = h("div", "vl-input");
    const counter = h("span", "vl-counter", "[ ]");
    const editor = h("textarea", "vl-code");
    editor.value = code;
    editor.rows = Math.max(2, code.split("\n").length);
    editor.spellcheck = false;
    const button = h("button", "vl-run", "Run");
    input.append(counter, editor, button);
    const outputNode = h("div", "vl-outputs");
    cell.append(input, outputNode);
    cellsNode.append(cell);
    const fit = () => {
      editor.style.height = "auto";
      editor.style.height = `${editor.scrollHeight + 2}px`;
    };
    editor.addEventListener("input", fit);
    fit();
    const outputs = new CellOutputs(outputNode, manager.renderMime, displays);
    cells.push(outputs);
    const run = () => execute(editor.value, outputs, index, counter);
    button.addEventListener("click", () => void run());
    editor.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.shiftKey) {
        e.preventDefault();
        void run();
      }
    });
    return { run, index };
  };

  const ready = kernel.info.then(async () => {
    await manager.restoreFromKernel(); // widgets a previous page made are still live in the kernel
    addCell("");
    document.body.dataset.ready = "true";
  });

  return {
    ready,
    kernel,
    manager,
    run(code: string) {
      // reuse a trailing empty cell (the one the page starts with)
      const last = cellsNode.lastElementChild?.querySelector("textarea");
      if (last && last.value === "" && cells[cells.length - 1].node.childElementCount === 0) {
        last.value = code;
        last.dispatchEvent(new Event("input"));
        const index = cells.length - 1;
        return execute(code, cells[index], index, cellsNode.lastElementChild!.querySelector(".vl-counter")!);
      }
      return addCell(code).run();
    },
    cellOutput: (index) => cells[index].node,
  };
}

window.vramlabLive = main();
