// Turns a kernel's iopub messages into notebook outputs the way nbclient
// does (nbclient/client.py, output_widget.py): execute_result and
// display_data appended, clear_output (now, or with wait=true before the
// next output), update_display_data rewriting every earlier output with
// that display_id in any cell, execution counts, and ipywidgets state
// gathered from comm messages. An Output widget whose msg_id is set to a
// request's id captures that request's outputs into its own state, as a
// front end would. One difference from nbclient: consecutive stream
// outputs of the same name are merged into one, as front ends show them.
import type { KernelMessage } from "./notebook-kernel.js";
import type { CodeCell, JsonMap, JsonValue, MimeBundleData, Output } from "./notebook-format.js";

export const WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json";
export const WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json";
const WIDGET_TARGET = "jupyter.widget";

/** One model in the saved widget state (@jupyter-widgets/schema v2 state). */
export interface SavedWidgetModel {
  model_name: string;
  model_module: string;
  model_module_version: string;
  state: JsonMap;
  buffers?: { data: string; encoding: "base64"; path: (string | number)[] }[];
}

export interface SavedWidgetState {
  version_major: 2;
  version_minor: 0;
  state: Record<string, SavedWidgetModel>;
}

/** Sends a message to the kernel on shell (the Output widget mirror syncs its outputs back, as nbclient does). */
export type ShellSender = (msgType: string, content: JsonMap, parent: Record<string, unknown>) => void;

function isMap(v: unknown): v is JsonMap {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An output from an iopub message, or null for messages that are not outputs. */
export function outputFromMessage(m: KernelMessage): Output | null {
  const c = m.content;
  switch (m.header.msg_type) {
    case "stream":
      return { output_type: "stream", name: c.name === "stderr" ? "stderr" : "stdout", text: String(c.text ?? "") };
    case "display_data":
      return { output_type: "display_data", data: (isMap(c.data) ? c.data : {}) as MimeBundleData, metadata: isMap(c.metadata) ? c.metadata : {} };
    case "execute_result":
      return {
        output_type: "execute_result",
        data: (isMap(c.data) ? c.data : {}) as MimeBundleData,
        metadata: isMap(c.metadata) ? c.metadata : {},
        execution_count: typeof c.execution_count === "number" ? c.execution_count : null,
      };
    case "error":
      return { output_type: "error", ename: String(c.ename ?? ""), evalue: String(c.evalue ?? ""), traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [] };
    default:
      return null;
  }
}

/** Appends an output, merging a stream into the previous output when it is the same stream. */
function appendOutput(outputs: Output[], out: Output): void {
  const last = outputs[outputs.length - 1];
  if (out.output_type === "stream" && last?.output_type === "stream" && last.name === out.name) last.text += out.text;
  else outputs.push(out);
}

/** The front end's view of an Output widget: captures outputs while its msg_id is set. */
class OutputWidgetMirror {
  outputs: Output[] = [];
  msgId = "";
  private clearBeforeNext = false;

  constructor(
    readonly commId: string,
    private readonly state: JsonMap,
    private readonly sendShell: ShellSender,
  ) {
    if (Array.isArray(state.outputs)) this.outputs = state.outputs as unknown as Output[];
  }

  output(m: KernelMessage): void {
    const out = outputFromMessage(m);
    if (!out) return;
    if (this.clearBeforeNext) {
      this.outputs = [];
      this.clearBeforeNext = false;
    }
    appendOutput(this.outputs, out);
    this.sync(m.parent_header);
  }

  clear(m: KernelMessage): void {
    if (m.content.wait === true) {
      this.clearBeforeNext = true;
      return;
    }
    this.outputs = [];
    this.sync(m.parent_header);
  }

  /** Saves the outputs in the widget state and tells the kernel-side model, as a front end does. */
  private sync(parent: Record<string, unknown>): void {
    this.state.outputs = this.outputs as unknown as JsonValue;
    this.sendShell("comm_msg", { comm_id: this.commId, data: { method: "update", state: { outputs: this.outputs as unknown as JsonValue }, buffer_paths: [] } }, parent);
  }
}

export class OutputCollector {
  private readonly widgetStates = new Map<string, JsonMap>();
  private readonly widgetBuffers = new Map<string, Map<string, { data: string; encoding: "base64"; path: (string | number)[] }>>();
  private readonly widgetComms = new Set<string>();
  private readonly outputWidgets = new Map<string, OutputWidgetMirror>();
  /** request msg_id -> Output widgets capturing it (the last one wins, like nbclient's hook stack) */
  private readonly outputHooks = new Map<string, OutputWidgetMirror[]>();
  /** display_id -> cell -> indices of its outputs there */
  private readonly displayIds = new Map<string, Map<CodeCell, number[]>>();
  private cell: CodeCell | null = null;
  private clearBeforeNext = false;
  /** the error output of the current cell, if it raised one */
  lastError: Output | null = null;

  constructor(private readonly sendShell: ShellSender) {}

  /** Outputs from now on belong to this cell (its outputs start empty). */
  beginCell(cell: CodeCell): void {
    this.cell = cell;
    cell.outputs = [];
    this.clearBeforeNext = false;
    this.lastError = null;
  }

  /**
   * Handles one iopub message. requestId is the msg_id of the running
   * cell's execute_request: outputs of other requests are ignored (as
   * nbclient does), while widget state is kept from every comm message.
   */
  handle(m: KernelMessage, requestId: string): void {
    const type = m.header.msg_type;
    if (type === "comm_open" || type === "comm_msg" || type === "comm_close") {
      this.handleComm(m);
      return;
    }
    const parentId = typeof m.parent_header.msg_id === "string" ? m.parent_header.msg_id : "";
    const hook = this.outputHooks.get(parentId)?.at(-1);
    if (parentId !== requestId && !hook) return;
    const cell = this.cell;
    if (!cell) return;
    const c = m.content;
    if (typeof c.execution_count === "number" && (type === "execute_input" || type === "execute_result")) cell.execution_count = c.execution_count;

    const displayId = isMap(c.transient) && typeof c.transient.display_id === "string" ? c.transient.display_id : null;
    if (displayId && (type === "display_data" || type === "execute_result" || type === "update_display_data")) this.updateDisplay(displayId, m);

    switch (type) {
      case "clear_output":
        if (hook) hook.clear(m);
        else if (c.wait === true) this.clearBeforeNext = true;
        else this.clearCell(cell);
        return;
      case "stream":
      case "display_data":
      case "execute_result":
      case "error": {
        if (hook) {
          hook.output(m);
          return;
        }
        const out = outputFromMessage(m)!;
        if (this.clearBeforeNext) {
          this.clearCell(cell);
          this.clearBeforeNext = false;
        }
        if (displayId && out.output_type !== "stream" && out.output_type !== "error") {
          const perCell = this.displayIds.get(displayId) ?? new Map<CodeCell, number[]>();
          this.displayIds.set(displayId, perCell);
          const list = perCell.get(cell) ?? [];
          perCell.set(cell, list);
          list.push(cell.outputs.length);
        }
        if (out.output_type === "error") this.lastError = out;
        appendOutput(cell.outputs, out);
        return;
      }
      default:
        return; // status, execute_input, update_display_data (done above), anything unknown
    }
  }

  private clearCell(cell: CodeCell): void {
    cell.outputs = [];
    for (const perCell of this.displayIds.values()) perCell.delete(cell);
  }

  private updateDisplay(displayId: string, m: KernelMessage): void {
    const perCell = this.displayIds.get(displayId);
    if (!perCell) return;
    const data = (isMap(m.content.data) ? m.content.data : {}) as MimeBundleData;
    const metadata = isMap(m.content.metadata) ? m.content.metadata : {};
    for (const [cell, indices] of perCell) {
      for (const i of indices) {
        const out = cell.outputs[i];
        if (out && (out.output_type === "display_data" || out.output_type === "execute_result")) {
          out.data = data;
          out.metadata = metadata;
        }
      }
    }
  }

  private handleComm(m: KernelMessage): void {
    const c = m.content;
    const commId = typeof c.comm_id === "string" ? c.comm_id : "";
    if (!commId) return;
    const type = m.header.msg_type;
    if (type === "comm_open") {
      if (c.target_name !== WIDGET_TARGET) return;
      this.widgetComms.add(commId);
    }
    if (!this.widgetComms.has(commId)) return;
    if (type === "comm_close") {
      // A closed widget is gone from the kernel and from a live front end's saved state.
      this.widgetComms.delete(commId);
      this.widgetStates.delete(commId);
      this.widgetBuffers.delete(commId);
      const mirror = this.outputWidgets.get(commId);
      if (mirror) this.removeHook(mirror);
      this.outputWidgets.delete(commId);
      return;
    }
    const data = isMap(c.data) ? c.data : {};
    if (!isMap(data.state)) return; // custom messages carry no state
    const state = this.widgetStates.get(commId) ?? {};
    this.widgetStates.set(commId, state);
    Object.assign(state, data.state);
    const paths = Array.isArray(data.buffer_paths) ? data.buffer_paths : [];
    if (paths.length) {
      const buffers = this.widgetBuffers.get(commId) ?? new Map();
      this.widgetBuffers.set(commId, buffers);
      paths.forEach((path, i) => {
        const buffer = m.buffers[i];
        if (!Array.isArray(path) || !buffer) return;
        buffers.set(JSON.stringify(path), { data: buffer.toString("base64"), encoding: "base64", path: path as (string | number)[] });
      });
    }
    if (type === "comm_open" && state._model_module === "@jupyter-widgets/output" && state._model_name === "OutputModel") {
      this.outputWidgets.set(commId, new OutputWidgetMirror(commId, state, this.sendShell));
    }
    const mirror = this.outputWidgets.get(commId);
    if (mirror && "msg_id" in data.state) {
      this.removeHook(mirror);
      const msgId = typeof data.state.msg_id === "string" ? data.state.msg_id : "";
      mirror.msgId = msgId;
      if (msgId) {
        const stack = this.outputHooks.get(msgId) ?? [];
        stack.push(mirror);
        this.outputHooks.set(msgId, stack);
      }
    }
  }

  private removeHook(mirror: OutputWidgetMirror): void {
    if (!mirror.msgId) return;
    const stack = this.outputHooks.get(mirror.msgId);
    if (!stack) return;
    const i = stack.lastIndexOf(mirror);
    if (i >= 0) stack.splice(i, 1);
    if (!stack.length) this.outputHooks.delete(mirror.msgId);
    mirror.msgId = "";
  }

  /** The widget state to save in metadata.widgets, or null when no widget was created. */
  widgetState(): SavedWidgetState | null {
    const state: Record<string, SavedWidgetModel> = {};
    for (const [commId, s] of this.widgetStates) {
      if (typeof s._model_name !== "string") continue;
      const model: SavedWidgetModel = {
        model_name: s._model_name,
        model_module: String(s._model_module ?? ""),
        model_module_version: String(s._model_module_version ?? ""),
        state: { ...s },
      };
      const buffers = this.widgetBuffers.get(commId);
      if (buffers?.size) model.buffers = [...buffers.values()];
      state[commId] = model;
    }
    return Object.keys(state).length ? { version_major: 2, version_minor: 0, state } : null;
  }
}
