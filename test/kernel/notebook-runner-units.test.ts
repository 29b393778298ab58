// The notebook runner's pure parts: papermill-style parameter values and
// injection, the nbformat writer, terminal text to HTML, and the output
// collector's handling of widget buffers and display ids (messages built
// in the shapes the kernel sends; the kernel itself is exercised in
// notebook-runner.test.ts).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./kernel-client.js";
import { injectParameters, parseParameterArgument, parseParameterValue, ParameterError } from "../../kernel/notebook-parameters.js";
import { parseNotebook, serializeNotebook, type CodeCell, type Notebook } from "../../kernel/notebook-format.js";
import { ansiToHtml, stripAnsi } from "../../kernel/notebook-ansi.js";
import { OutputCollector } from "../../kernel/notebook-outputs.js";
import { parseRunArguments } from "../../kernel/cli.js";
import { defaultOutputPath } from "../../kernel/notebook-runner.js";
import type { KernelMessage } from "../../kernel/notebook-kernel.js";

const fixtures = join(packageRoot(), "test", "kernel", "notebooks");

function notebook(cells: { type?: "code" | "markdown"; source: string; tags?: string[] }[], minor = 5): Notebook {
  return parseNotebook(
    JSON.stringify({
      nbformat: 4,
      nbformat_minor: minor,
      metadata: {},
      cells: cells.map((c, i) =>
        c.type === "markdown"
          ? { cell_type: "markdown", id: `m${i}`, metadata: {}, source: c.source }
          : { cell_type: "code", id: `c${i}`, metadata: c.tags ? { tags: c.tags } : {}, source: c.source, outputs: [], execution_count: null },
      ),
    }),
  );
}

describe("parameter values, as papermill's -p reads them", () => {
  it("turns numbers, booleans, null and JSON into values and keeps everything else a string", () => {
    assert.equal(parseParameterValue("7"), 7);
    assert.equal(parseParameterValue("-1.5e3"), -1500);
    assert.equal(parseParameterValue(".5"), 0.5);
    assert.equal(parseParameterValue("true"), true);
    assert.equal(parseParameterValue("False"), false);
    assert.equal(parseParameterValue("None"), null);
    assert.deepEqual(parseParameterValue('{"a": [1, 2]}'), { a: [1, 2] });
    assert.deepEqual(parseParameterValue("[1, 2]"), [1, 2]);
    assert.equal(parseParameterValue('"7"'), "7", "a quoted number stays a string");
    assert.equal(parseParameterValue("flux-dev"), "flux-dev");
    assert.equal(parseParameterValue("{not json"), "{not json");
    assert.equal(parseParameterValue("0x10"), "0x10");
    assert.equal(parseParameterValue(""), "");
  });

  it("splits name=value at the first '=', and -r keeps the text", () => {
    assert.deepEqual(parseParameterArgument("expr=a=b"), ["expr", "a=b"]);
    assert.deepEqual(parseParameterArgument("steps=8", true), ["steps", "8"]);
    assert.throws(() => parseParameterArgument("=3"), ParameterError);
    assert.throws(() => parseParameterArgument("steps"), /not name=value/);
    assert.throws(() => parseParameterArgument("class=1"), /not a TypeScript identifier/);
    assert.throws(() => parseParameterArgument("a-b=1"), /not a TypeScript identifier/);
  });
});

describe("parameter injection", () => {
  it("puts const declarations right after the parameters cell and replaces an earlier injection", () => {
    const nb = notebook([{ type: "markdown", source: "# t" }, { source: "let steps = 2;\nconst name = 'a';", tags: ["parameters"] }, { source: "// old", tags: ["injected-parameters"] }, { source: "steps" }]);
    const r = injectParameters(nb, { steps: 8, model: "tiny" });
    assert.equal(r.index, 2);
    assert.deepEqual(r.unknown, ["model"]);
    assert.deepEqual(r.defaults, ["steps", "name"]);
    assert.equal(nb.cells.length, 4, "the old injected cell was replaced, not kept");
    assert.equal(nb.cells[2].source, '// Parameters\nconst steps = 8;\nconst model = "tiny";');
    assert.deepEqual(nb.cells[2].metadata.tags, ["injected-parameters"]);
    assert.match(nb.cells[2].id ?? "", /^[0-9a-f]{8}$/, "nbformat 4.5 cells get an id");
    assert.equal(nb.cells[3].source, "steps");
  });

  it("injects at the top when no cell is tagged parameters", () => {
    const nb = notebook([{ source: "1" }], 4);
    const r = injectParameters(nb, { x: [1, "two"] });
    assert.equal(r.index, 0);
    assert.equal(r.foundParametersCell, false);
    assert.equal(nb.cells[0].source, '// Parameters\nconst x = [1,"two"];');
    assert.equal(nb.cells[0].id, undefined, "no ids before nbformat 4.5");
  });
});

describe("the notebook writer", () => {
  it("writes what nbformat writes: line lists, sorted keys, one-space indent, JSON MIME types as values", () => {
    const nb = notebook([{ source: "a\nb" }]);
    (nb.cells[0] as CodeCell).outputs = [
      { output_type: "stream", name: "stdout", text: "x\ny\n" },
      { output_type: "display_data", data: { "text/plain": "p\nq", "application/vnd.plotly.v1+json": { data: [] } }, metadata: {}, transient: { display_id: "d" } },
    ];
    const text = serializeNotebook(nb);
    assert.ok(text.endsWith("}\n"));
    const raw = JSON.parse(text);
    assert.deepEqual(Object.keys(raw), ["cells", "metadata", "nbformat", "nbformat_minor"]);
    assert.deepEqual(raw.cells[0].source, ["a\n", "b"]);
    assert.deepEqual(raw.cells[0].outputs[0].text, ["x\n", "y\n"]);
    assert.deepEqual(raw.cells[0].outputs[1].data["text/plain"], ["p\n", "q"]);
    assert.deepEqual(raw.cells[0].outputs[1].data["application/vnd.plotly.v1+json"], { data: [] });
    assert.equal(raw.cells[0].outputs[1].transient, undefined);
    assert.match(text, /^\{\n "cells": \[\n  \{\n   "cell_type": "code",/);
  });

  it("reads back what it wrote", () => {
    const text = readFileSync(join(fixtures, "runner-features.ipynb"), "utf8");
    const nb = parseNotebook(text);
    assert.deepEqual(parseNotebook(serializeNotebook(nb)), nb);
    assert.equal(serializeNotebook(nb), text, "the fixture was written by Python's nbformat conventions and comes back byte for byte");
  });

  it("says what is wrong with a file that is not a version 4 notebook", () => {
    assert.throws(() => parseNotebook("{", "x.ipynb"), /x\.ipynb is not valid JSON/);
    assert.throws(() => parseNotebook('{"nbformat": 3, "worksheets": []}', "old.ipynb"), /nbformat 3 is not supported; convert it to version 4/);
    assert.throws(() => parseNotebook('{"nbformat": 4, "cells": [{"cell_type": "heading"}]}', "h.ipynb"), /cell 0 has an unknown cell_type "heading"/);
  });

  it("puts the executed notebook beside the input by default", () => {
    assert.equal(defaultOutputPath("notebooks/01-quickstart.ipynb"), "notebooks/01-quickstart.out.ipynb");
  });
});

describe("terminal text in HTML", () => {
  it("turns SGR colours into spans, drops other escapes and escapes HTML", () => {
    assert.equal(ansiToHtml("\x1b[1;31merr\x1b[0m <b>"), '<span style="color:#cd3131;font-weight:bold">err</span> &lt;b&gt;');
    assert.equal(ansiToHtml("\x1b[38;5;196mx\x1b[39m"), '<span style="color:rgb(255,0,0)">x</span>');
    assert.equal(ansiToHtml("a\x1b[2Kb\x1b]0;title\x07c"), "abc");
  });

  it("overwrites on carriage return and erases on backspace, per line", () => {
    assert.equal(stripAnsi("10%\r50%\r100%\ndone"), "100%\ndone");
    assert.equal(stripAnsi("abc\b\bX"), "aXc");
  });
});

function message(type: string, content: Record<string, unknown>, parent: string, buffers: Buffer[] = []): KernelMessage {
  return {
    channel: "iopub",
    header: { msg_id: `${type}-${Math.random()}`, msg_type: type, session: "s", username: "u", date: new Date().toISOString(), version: "5.4" },
    parent_header: { msg_id: parent },
    metadata: {},
    content,
    buffers,
  };
}

describe("the output collector", () => {
  it("saves widget buffers base64-encoded by path, and forgets closed widgets", () => {
    const c = new OutputCollector(() => {});
    const cell = notebook([{ source: "x" }]).cells[0] as CodeCell;
    c.beginCell(cell);
    const state = { _model_name: "ImageModel", _model_module: "@jupyter-widgets/controls", _model_module_version: "2.0.0", value: {} };
    c.handle(message("comm_open", { comm_id: "img", target_name: "jupyter.widget", data: { state, buffer_paths: [["value"]] } }, "r"), "r", );
    c.handle(message("comm_open", { comm_id: "gone", target_name: "jupyter.widget", data: { state: { ...state, _model_name: "LabelModel" }, buffer_paths: [] } }, "r"), "r");
    c.handle(message("comm_open", { comm_id: "other", target_name: "not.a.widget", data: { state } }, "r"), "r");
    c.handle(message("comm_msg", { comm_id: "img", data: { method: "update", state: { value: {} }, buffer_paths: [["value"]] } }, "r", [Buffer.from([1, 2, 3])]), "r");
    c.handle(message("comm_close", { comm_id: "gone", data: {} }, "r"), "r");
    const saved = c.widgetState()!;
    assert.deepEqual(Object.keys(saved.state), ["img"]);
    assert.deepEqual(saved.state.img.buffers, [{ data: "AQID", encoding: "base64", path: ["value"] }]);
  });

  it("forgets display ids of outputs that clear_output removed", () => {
    const c = new OutputCollector(() => {});
    const cells = notebook([{ source: "a" }, { source: "b" }]).cells as CodeCell[];
    c.beginCell(cells[0]);
    c.handle(message("display_data", { data: { "text/plain": "1" }, metadata: {}, transient: { display_id: "d" } }, "r0"), "r0");
    c.handle(message("clear_output", { wait: false }, "r0"), "r0");
    c.handle(message("stream", { name: "stdout", text: "after\n" }, "r0"), "r0");
    c.beginCell(cells[1]);
    c.handle(message("update_display_data", { data: { "text/plain": "2" }, metadata: {}, transient: { display_id: "d" } }, "r1"), "r1");
    c.handle(message("stream", { name: "stdout", text: "late output of another request\n" }, "r0"), "r1");
    assert.deepEqual(cells[0].outputs, [{ output_type: "stream", name: "stdout", text: "after\n" }], "the update did not overwrite the stream now at index 0");
    assert.deepEqual(cells[1].outputs, []);
  });
});

describe("vramlab run arguments", () => {
  const nb = join(fixtures, "runner-failure.ipynb");
  it("reads repeated -p, both -p forms, raw -r and the options", () => {
    const a = parseRunArguments([nb, "-p", "steps=8", "-p", "model", "flux-dev", "-r", "seed=42", "--timeout=30", "-o", "out.ipynb", "--html", "p.html", "--html-figures", "svg", "-q"]);
    assert.deepEqual(a.parameters, { steps: 8, model: "flux-dev", seed: "42" });
    assert.equal(a.timeoutSeconds, 30);
    assert.equal(a.output, "out.ipynb");
    assert.equal(a.html, "p.html");
    assert.equal(a.htmlFigures, "svg");
    assert.equal(a.quiet, true);
  });

  it("names the problem in bad arguments", () => {
    assert.throws(() => parseRunArguments([nb, nb]), /one notebook at a time/);
    assert.throws(() => parseRunArguments([nb, "-o"]), /-o needs a value/);
    assert.throws(() => parseRunArguments([nb, "--html-figures", "png"]), /--html-figures is "plotly" or "svg", got "png"/);
    assert.throws(() => parseRunArguments([nb, "--timeout", "0"]), /greater than 0/);
  });
});
