// The kernel driven by a real Jupyter client (Debian's jupyter_client):
// kernel_info, every output type, errors with TypeScript lines,
// introspection, history, stdin, comms and imports from a folder outside
// the package. One kernel serves all checks (test/kernel/client/protocol.py).
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { outputsOf, runScenario } from "./kernel-client.js";

describe("kernel protocol through jupyter_client", () => {
  let r: Record<string, any>;
  before(async () => {
    r = (await runScenario("protocol")).results;
  });

  it("answers kernel_info on shell and control", () => {
    for (const reply of [r.kernel_info_shell, r.kernel_info_control]) {
      assert.equal(reply.msg_type, "kernel_info_reply");
      assert.equal(reply.content.status, "ok");
      assert.equal(reply.content.protocol_version, "5.4");
      assert.equal(reply.content.implementation, "vramlab");
      assert.equal(reply.content.language_info.name, "typescript");
      assert.equal(reply.content.language_info.file_extension, ".ts");
    }
  });

  it("publishes execute_input and execute_result with the execution count", () => {
    assert.deepEqual(r.result.reply, { status: "ok", execution_count: 1, user_expressions: {}, payload: [] });
    assert.deepEqual(outputsOf(r.result, "execute_input"), [{ code: "1 + 1", execution_count: 1 }]);
    assert.deepEqual(outputsOf(r.result, "execute_result"), [{ execution_count: 1, data: { "text/plain": "2" }, metadata: {} }]);
  });

  it("sends stdout and stderr as streams in order, before the result", () => {
    const types = r.streams.outputs.map((o: any) => (o.msg_type === "stream" ? `${o.content.name}:${o.content.text}` : o.msg_type));
    assert.deepEqual(types, ["execute_input", "stdout:out 1\n", "stderr:err 2\n", "stdout:raw\n", "execute_result"]);
  });

  it("keeps declarations across cells and runs top-level await", () => {
    assert.equal(outputsOf(r.persist_2, "execute_result")[0].data["text/plain"], "42");
    assert.equal(outputsOf(r.tla, "execute_result")[0].data["text/plain"], "'LATE'");
    assert.equal(outputsOf(r.after_all, "execute_result")[0].data["text/plain"], "42");
  });

  it("displays MIME bundles from helpers and the Jupyter.display convention", () => {
    const shown = outputsOf(r.display, "display_data").map((d) => d.data);
    assert.deepEqual(shown[0], { "text/html": "<b>bold</b>", "text/plain": "bold" });
    assert.equal(shown[1]["text/markdown"], "# Title");
    assert.match(shown[2]["image/svg+xml"], /^<svg /);
    assert.deepEqual(shown[3]["application/json"], { a: [1, 2] });
    assert.match(shown[4]["text/html"], /<td style="text-align:left">b&lt;c<\/td><td style="text-align:right">7<\/td>/);
    assert.equal(shown[4]["text/plain"], "name  bytes\n----  -----\na      1024\nb<c       7");
    assert.deepEqual(shown[5], { "text/html": "<i>custom</i>", "text/plain": "custom" });
    assert.deepEqual(shown[6], { "text/plain": "'plain string'" });
    assert.deepEqual(outputsOf(r.display, "clear_output"), [{ wait: true }]);
    const png = outputsOf(r.png, "display_data")[0];
    assert.equal(Buffer.from(png.data["image/png"], "base64").subarray(1, 4).toString(), "PNG");
    assert.equal(png.data["text/plain"], "<PNG image 64x64>");
    assert.deepEqual(png.metadata, { "image/png": { width: 32 } });
  });

  it("updates a display in place through its display_id", () => {
    const [first] = outputsOf(r.update, "display_data");
    const [second] = outputsOf(r.update, "update_display_data");
    assert.ok(first.transient.display_id);
    assert.equal(second.transient.display_id, first.transient.display_id);
    assert.equal(second.data["text/html"], "<p>second</p>");
  });

  it("draws a progress bar as one display updated to its final state", () => {
    const first = outputsOf(r.progress, "display_data");
    const updates = outputsOf(r.progress, "update_display_data");
    assert.equal(first.length, 1);
    assert.equal(updates.length, 4, "0/4 shown first, then 1/4 .. 4/4 (done() adds nothing new)");
    assert.ok(updates.every((u) => u.transient.display_id === first[0].transient.display_id));
    assert.match(updates[3].data["text/plain"], /^steps \[#{30}\] 100% 4\/4 /);
    assert.match(updates[3].data["text/html"], /<progress value="4" max="4"/);
  });

  it("shows a displayable last expression as its bundle", () => {
    const [res] = outputsOf(r.displayable_result, "execute_result");
    assert.match(res.data["text/html"], /^<table>/);
    assert.equal(res.data["text/plain"], "x    y\n-  ---\n1  2.5\n3    4");
  });

  it("reports runtime errors with TypeScript line numbers, once, without stderr", () => {
    const e = r.runtime_error.reply;
    assert.equal(e.status, "error");
    assert.equal(e.ename, "RangeError");
    assert.equal(e.evalue, "bad n 3");
    const label = `In[${e.execution_count}]`;
    assert.equal(e.traceback[0], "RangeError: bad n 3");
    assert.equal(e.traceback[1], `    at explode (${label}:3:9)`, "the throw is on TS line 3 (line 1 is a comment)");
    assert.match(e.traceback[2], new RegExp(`^ {4}at In\\[${e.execution_count}\\]:5:\\d+$`), "called from TS line 5");
    assert.ok(e.traceback.includes("--> 3 |   throw new RangeError(`bad n ${n}`);"));
    assert.deepEqual(outputsOf(r.runtime_error, "error"), [{ ename: e.ename, evalue: e.evalue, traceback: e.traceback }]);
    assert.deepEqual(outputsOf(r.runtime_error, "stream"), [], "no duplicate of the error on stderr");
    const late = r.error_from_earlier_cell.reply;
    assert.equal(late.ename, "RangeError");
    const definedIn = `In[${r.define_explode.reply.execution_count}]`;
    assert.equal(late.traceback[1], `    at explode (${definedIn}:2:9)`, "frames of a function from an earlier cell map to that cell");
    assert.match(late.traceback[2], new RegExp(`^ {4}at In\\[${late.execution_count}\\]:2:\\d+$`));
  });

  it("reports type errors as TypeScriptError with the position", () => {
    const e = r.type_error.reply;
    assert.equal(e.ename, "TypeScriptError");
    assert.equal(e.evalue, `In[${e.execution_count}]:1:5 - Type 'string' is not assignable to type 'number'.`);
    assert.ok(e.traceback.includes("      |     ^"));
    const out = r.error_after_output;
    assert.deepEqual(outputsOf(out, "stream"), [{ name: "stdout", text: "before\n" }], "output before the error is kept");
    assert.equal(outputsOf(out, "error")[0].evalue, "after output");
  });

  it("handles silent and store_history=false executions", () => {
    assert.deepEqual(r.silent.outputs, [], "silent: no execute_input, no result");
    const before = r.silent.reply.execution_count;
    assert.equal(r.no_history.reply.execution_count, before, "store_history=false does not advance the count");
    assert.equal(r.after_silent.reply.execution_count, before + 1);
    assert.equal(outputsOf(r.no_history, "execute_result")[0].data["text/plain"], "20");
  });

  it("evaluates user_expressions", () => {
    const ue = r.user_expressions.reply.user_expressions;
    assert.deepEqual(ue.double, { status: "ok", data: { "text/plain": "10" }, metadata: {} });
    assert.equal(ue.bad.status, "error");
    assert.equal(ue.bad.ename, "TypeScriptError");
  });

  it("aborts queued executes after an error when stop_on_error is set", () => {
    const [failed, a, b] = r.stop_on_error;
    assert.equal(failed.status, "error");
    assert.equal(a.status, "aborted");
    assert.equal(b.status, "aborted");
    assert.equal(r.after_abort.reply.status, "ok", "requests sent after the error run again");
    assert.deepEqual(r.no_stop_on_error.map((x: any) => x.status), ["error", "ok"]);
  });

  it("answers is_complete, complete (code points) and inspect", () => {
    assert.deepEqual(r.is_complete.complete, { status: "complete" });
    assert.deepEqual(r.is_complete.incomplete, { status: "incomplete", indent: "  " });
    assert.deepEqual(r.is_complete.invalid, { status: "invalid" });
    assert.equal(r.complete.status, "ok");
    assert.ok(r.complete.matches.includes("toFixed"));
    // "toFix" starts after 21 code points; the emoji is one code point (two UTF-16 units).
    assert.equal(r.complete.cursor_start, 21);
    assert.equal(r.complete.cursor_end, r.complete_code_points);
    assert.equal(r.inspect.found, true);
    assert.equal(r.inspect.data["text/plain"], "const base: number");
    assert.deepEqual(r.inspect_missing, { status: "ok", found: false, data: {}, metadata: {} });
  });

  it("answers history requests (tail, range with output, search)", () => {
    const tail = r.history_tail.history;
    assert.equal(tail.length, 3);
    assert.deepEqual(tail[2].slice(2), ["4"]);
    const range = r.history_range.history;
    assert.deepEqual(range[0].slice(1), [1, ["1 + 1", "2"]]);
    assert.equal(range.length, 2);
    assert.deepEqual(r.history_search.history.map((h: any) => h[2]), ["inc(); inc(); base + counter"]);
  });

  it("asks for input over stdin", () => {
    assert.equal(r.input_request.msg_type, "input_request");
    assert.deepEqual(r.input_request.content, { prompt: "Name? ", password: false });
    assert.ok(r.input_request.parent, "the input_request's parent is the execute_request");
    assert.equal(outputsOf(r.input_result, "execute_result")[0].data["text/plain"], "'hello Ada'");
    assert.equal(r.input_not_allowed.reply.evalue, "input(): this frontend does not accept input (allow_stdin is false)");
  });

  it("round-trips comms and closes comms to unknown targets", () => {
    assert.deepEqual(r.comm_open.map((o: any) => [o.msg_type, o.content]), [["comm_msg", { comm_id: "c1", data: { opened: { hello: 1 } } }]]);
    assert.deepEqual(r.comm_msg.map((o: any) => o.content), [{ comm_id: "c1", data: { echo: { ping: 2 }, buffers: 1 } }]);
    assert.deepEqual(r.comm_info.comms, { c1: { target_name: "echo" } });
    assert.equal(outputsOf(r.comm_closed, "execute_result")[0].data["text/plain"], "[ 'c1' ]");
    assert.deepEqual(r.comm_info_after.comms, {});
    assert.deepEqual(r.comm_unknown.map((o: any) => [o.msg_type, o.content]), [["comm_close", { comm_id: "c2", data: {} }]]);
    const kinds = r.comm_from_kernel.outputs.map((o: any) => o.msg_type);
    assert.deepEqual(kinds, ["execute_input", "comm_open", "comm_msg", "comm_close", "execute_result"]);
    const open = outputsOf(r.comm_from_kernel, "comm_open")[0];
    assert.equal(open.target_name, "frontend.target");
    assert.deepEqual(open.data, { x: 1 });
  });

  it("imports vramlab and vramlab/widgets from a notebook folder outside the package, with types", () => {
    assert.match(r.cwd, /vramlab-nb-/);
    assert.equal(outputsOf(r.imports, "execute_result")[0].data["text/plain"], "[ 'function', '2.1.0', [ 1, 2, 3 ] ]");
    assert.equal(r.import_type_error.reply.ename, "TypeScriptError");
    assert.match(r.import_type_error.reply.evalue, /Type 'Tensor' is not assignable to type 'string'/);
    assert.match(r.import_missing.reply.evalue, /Cannot find module 'vramlab\/no-such-entry'/);
  });

  it("imports a package next to the notebook and keeps working after files there change", () => {
    assert.equal(outputsOf(r.local_package, "execute_result")[0].data["text/plain"], "42");
    // tslab alone fails every later cell with "Unexpected pending rebuildTimer" here.
    assert.equal(r.after_file_changes.reply.status, "ok", JSON.stringify(r.after_file_changes.reply));
    assert.equal(outputsOf(r.after_file_changes, "execute_result")[0].data["text/plain"], "43");
  });
});
