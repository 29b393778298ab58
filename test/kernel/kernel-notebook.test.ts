// nbclient (Debian's) executes a small TypeScript notebook end to end in a
// folder outside the package (test/kernel/client/notebook.py).
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { runScenario } from "./kernel-client.js";

describe("a notebook executed by nbclient", () => {
  let r: Record<string, any>;
  before(async () => {
    r = (await runScenario("notebook")).results;
  });

  it("records the language and numbers the code cells", () => {
    assert.equal(r.language_info.name, "typescript");
    assert.deepEqual(r.cells.map((c: any) => c.execution_count), [null, 1, 2, 3, 4, 5]);
    assert.ok(r.written > 0);
  });

  it("keeps every output type in the saved notebook", () => {
    const [, shape, printed, table, progress] = r.cells;
    assert.deepEqual(shape.outputs, [{ output_type: "execute_result", metadata: {}, data: { "text/plain": "[ 2, 2 ]" }, execution_count: 1 }]);
    assert.deepEqual(printed.outputs[0], { output_type: "stream", name: "stdout", text: "sum 10\n" });
    assert.deepEqual(printed.outputs[1].data, { "text/html": "<b>float32</b>", "text/plain": "float32" });
    assert.match(table.outputs[0].data["text/html"], /^<table>/);
    assert.equal(progress.outputs[0].output_type, "display_data", "the bar's updates were folded into one output");
    assert.match(progress.outputs[0].data["text/plain"], /100% 3\/3/);
    assert.equal(progress.outputs[1].data["text/plain"], "true");
  });

  it("shows an engine Report as its table", () => {
    const report = r.cells[5];
    assert.equal(report.outputs.length, 1, JSON.stringify(report.outputs).slice(0, 500));
    const out = report.outputs[0];
    assert.equal(out.output_type, "execute_result");
    assert.match(out.data["text/html"], /<div class="vramlab-report">.*<table>.*blocks\.1/s);
    assert.match(out.data["text/plain"], /blocks\.0/);
  });
});
