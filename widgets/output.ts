// The Output widget (@jupyter-widgets/output 1.0.0 OutputModel) and its
// capture, the ipywidgets way: while code runs captured, the model's
// `msg_id` is the id of the request being handled (the execute_request of
// the cell, or the comm_msg whose callback runs), and the frontend routes
// every output whose parent_header.msg_id matches into the widget instead
// of the cell. When capturing ends msg_id goes back to "". Frontends that
// keep the captured outputs (JupyterLab, nbclient) send them back as the
// `outputs` state, so `out.outputs` reads what the widget shows.
import { currentParentHeader, getKernelRuntime } from "../kernel/runtime.js";
import { mimeBundleOf, type ResolvedBundle } from "../kernel/display.js";
import { isPromise, type CallbackCapture } from "./widget.js";
import { SchemaWidget, type DOMWidgetOptions } from "./schema-widget.js";

/** One output in nbformat's form, as the Output widget stores it. */
export type OutputItem =
  | { output_type: "stream"; name: "stdout" | "stderr"; text: string }
  | { output_type: "display_data"; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: "execute_result"; data: Record<string, unknown>; metadata: Record<string, unknown>; execution_count: number | null }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

export interface OutputOptions extends Omit<DOMWidgetOptions, "style"> {
  outputs?: OutputItem[];
}

export class Output extends SchemaWidget implements CallbackCapture {
  declare outputs: OutputItem[];
  declare msg_id: string;
  /** nested/concurrent captures: msg_id is reset when the last one ends */
  private depth = 0;

  constructor(opts: OutputOptions = {}) {
    super("OutputModel", opts as Record<string, unknown>);
  }

  /**
   * Runs fn with what it prints and displays shown in this widget. Like
   * ipywidgets' `with out:`, an error fn throws is shown in the widget and
   * not rethrown (the promise then resolves to undefined).
   */
  async capture<T>(fn: () => T | Promise<T>): Promise<T | undefined> {
    return (await this.runCaptured(fn)) as T | undefined;
  }

  /** capture() for synchronous code: synchronous fns run and finish before it returns. */
  runCaptured<T>(fn: () => T): T | undefined {
    const msgId = currentParentHeader()?.msg_id;
    // outside the kernel (or before any request) there is nothing to route by: run fn as is
    const routing = typeof msgId === "string" && msgId !== "" && getKernelRuntime() !== undefined;
    if (routing && this.depth++ === 0) this.msg_id = msgId;
    let ended = false;
    const end = () => {
      if (ended || !routing) return;
      ended = true;
      if (--this.depth === 0) this.msg_id = "";
    };
    const fail = (e: unknown): undefined => {
      // shown while still capturing, so it lands in the widget
      console.error((e as Error)?.stack ?? String(e));
      return undefined;
    };
    let r: T;
    try {
      r = fn();
    } catch (e) {
      fail(e);
      end();
      return undefined;
    }
    if (isPromise(r)) {
      return (r as Promise<unknown>).then(
        (v) => {
          end();
          return v;
        },
        (e) => {
          fail(e);
          end();
          return undefined;
        },
      ) as T;
    }
    end();
    return r;
  }

  /** A function that runs fn captured (for callbacks: `button.onClick(out.wrap(() => ...))`). */
  wrap<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R | undefined {
    return (...args: A) => this.runCaptured(() => fn(...args));
  }

  /** Adds text to the widget directly (no capture needed), as ipywidgets' append_stdout. */
  append_stdout(text: string): void {
    this.appendStream("stdout", text);
  }

  append_stderr(text: string): void {
    this.appendStream("stderr", text);
  }

  /** Adds a value's display (its MIME bundle) to the widget directly. */
  async append_display_data(value: unknown): Promise<void> {
    const bundle: ResolvedBundle = await mimeBundleOf(value);
    this.outputs = [...this.outputs, { output_type: "display_data", data: bundle.data, metadata: bundle.metadata }];
  }

  /**
   * Clears the widget. With wait, the clearing happens when the next output
   * arrives (no flicker between runs). The clear goes to the frontend as a
   * captured clear_output and, without wait, also as `outputs: []`, so
   * frontends that only render the state (html-manager) clear too.
   */
  clear_output(opts: { wait?: boolean } = {}): void {
    const wait = opts.wait === true;
    const rt = getKernelRuntime();
    if (rt) this.runCaptured(() => rt.clearOutput(wait));
    if (!wait) this.outputs = [];
  }

  private appendStream(name: "stdout" | "stderr", text: string): void {
    if (typeof text !== "string") throw new TypeError(`Output.append_${name}() takes a string, got ${typeof text}`);
    const last = this.outputs[this.outputs.length - 1];
    // consecutive text of one stream is one output, as frontends merge it
    if (last && last.output_type === "stream" && last.name === name) {
      this.outputs = [...this.outputs.slice(0, -1), { ...last, text: last.text + text }];
    } else this.outputs = [...this.outputs, { output_type: "stream", name, text }];
  }
}
