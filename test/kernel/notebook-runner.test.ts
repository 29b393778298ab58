// `vramlab run` end to end: the real CLI runs fixture notebooks
// (test/kernel/notebooks/) through the real kernel; the tests read the
// executed notebooks it wrote, its exit codes and messages, and the HTML
// page, which Debian's chromium opens to check that the widgets come alive.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot, PYTHON } from "./kernel-client.js";
import { runProcess, type ProcessResult } from "../run-process.js";
import { executeNotebook, runNotebookFile } from "../../kernel/notebook-runner.js";
import { parseNotebook, readNotebook, type CodeCell, type Notebook } from "../../kernel/notebook-format.js";
import { renderNotebookHtml, scriptSafe, widgetEmbedAssets } from "../../kernel/notebook-html.js";
import { plotlyJsSource } from "../../widgets/figures/figure.js";

const root = packageRoot();
const fixtures = join(root, "test", "kernel", "notebooks");
const CHROMIUM = "/usr/bin/chromium";

type CliResult = ProcessResult;

function vramlabRun(args: string[], timeoutMs = 90_000): Promise<CliResult> {
  return runProcess(process.execPath, [join(root, "bin", "vramlab.js"), "run", ...args], { cwd: root, timeoutMs, what: `vramlab run ${args.join(" ")}` });
}

const code = (nb: Notebook, i: number) => nb.cells[i] as CodeCell;
const texts = (cell: CodeCell, name: "stdout" | "stderr") => cell.outputs.filter((o) => o.output_type === "stream" && o.name === name).map((o) => (o as { text: string }).text);

describe("vramlab run: a notebook with parameters, displays, widgets and a figure", () => {
  let dir: string;
  let run: CliResult;
  let nb: Notebook;
  let html: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "vramlab-run-test-"));
    run = await vramlabRun([
      join(fixtures, "runner-features.ipynb"),
      "-p", "steps=7",
      "-p", "label", "tuned", // papermill's two-argument form
      "-p", 'flags={"fast": true}',
      "-o", join(dir, "out.ipynb"),
      "--html", join(dir, "out.html"),
      "--html-figures", "svg",
    ]);
    assert.equal(run.code, 0, `vramlab run failed:\n${run.stderr}`);
    nb = readNotebook(join(dir, "out.ipynb"));
    html = readFileSync(join(dir, "out.html"), "utf8");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("injects the parameters after the parameters cell, and they win over the defaults", () => {
    assert.deepEqual(nb.cells[1].metadata.tags, ["parameters"]);
    assert.deepEqual(nb.cells[2].metadata.tags, ["injected-parameters"]);
    assert.equal(nb.cells[2].source, '// Parameters\nconst steps = 7;\nconst label = "tuned";\nconst flags = {"fast":true};');
    const used = code(nb, 3);
    assert.deepEqual(texts(used, "stdout"), ["steps 7 number\nlabel tuned\n"], "two console.log calls are one merged stream output");
    assert.deepEqual(texts(used, "stderr"), ["scale 1.5 fast true\n"]);
    assert.deepEqual(used.outputs.at(-1), { output_type: "execute_result", data: { "text/plain": "70" }, metadata: {}, execution_count: 3 });
    assert.deepEqual(nb.metadata.papermill && (nb.metadata.papermill as any).parameters, { steps: 7, label: "tuned", flags: { fast: true } });
  });

  it("folds update_display_data into the displayed output, also from a later cell, and honours clear_output(wait)", () => {
    const shown = code(nb, 4).outputs;
    assert.equal(shown.length, 2);
    assert.equal(shown[0].output_type, "display_data");
    assert.deepEqual((shown[0] as any).data, { "text/plain": "'third, from a later cell'" });
    assert.equal((shown[0] as any).transient, undefined, "transient display ids are not saved");
    assert.deepEqual(code(nb, 5).outputs, [{ output_type: "stream", name: "stdout", text: "kept\n" }]);
    assert.deepEqual(code(nb, 6).outputs, [], "an update shows nothing in the cell that sends it");
  });

  it("saves the widget state in the notebook metadata, with the slider's value", () => {
    const saved = (nb.metadata.widgets as any)["application/vnd.jupyter.widget-state+json"];
    assert.equal(saved.version_major, 2);
    assert.equal(saved.version_minor, 0);
    const view = (code(nb, 7).outputs[0] as any).data["application/vnd.jupyter.widget-view+json"];
    const slider = saved.state[view.model_id];
    assert.ok(slider, "the displayed slider's model is in the saved state");
    assert.equal(slider.model_name, "IntSliderModel");
    assert.equal(slider.model_module, "@jupyter-widgets/controls");
    assert.equal(slider.model_module_version, "2.0.0");
    assert.equal(slider.state.value, 7, "the value set from the parameter after creation");
    assert.equal(slider.state.max, 50);
    assert.equal(slider.state.description, "steps");
    const layoutId = String(slider.state.layout).replace("IPY_MODEL_", "");
    assert.equal(saved.state[layoutId]?.model_name, "LayoutModel", "models the slider references are saved too");
  });

  it("routes output captured by an Output widget into the widget's state, not the cell", () => {
    const saved = (nb.metadata.widgets as any)["application/vnd.jupyter.widget-state+json"];
    const cell = code(nb, 8);
    const view = (cell.outputs.at(-1) as any).data["application/vnd.jupyter.widget-view+json"];
    const output = saved.state[view.model_id];
    assert.equal(output.model_name, "OutputModel");
    assert.deepEqual(output.state.outputs, [{ output_type: "stream", name: "stdout", text: "captured line\n" }]);
    assert.equal(output.state.msg_id, "", "capturing ended");
    assert.deepEqual(texts(cell, "stdout"), ["not captured\n"]);
  });

  it("runs cells by their tags: raises-exception may fail, skip-execution and empty cells are not run", () => {
    const raising = code(nb, 10);
    assert.equal(raising.outputs[0].output_type, "error");
    assert.equal((raising.outputs[0] as any).evalue, "allowed to fail");
    assert.equal(code(nb, 11).execution_count, null);
    assert.deepEqual(code(nb, 11).outputs, []);
    assert.equal(code(nb, 12).execution_count, null);
    assert.deepEqual(texts(code(nb, 13), "stdout"), ["\u001b[31mred\u001b[0m done\n"], "the run went on after the allowed error");
    assert.equal(code(nb, 13).execution_count, 11);
  });

  it("records the kernel, the run and per-cell timing", () => {
    assert.equal((nb.metadata.language_info as any).name, "typescript");
    const meta = nb.metadata.vramlab as any;
    assert.equal(meta.run.status, "ok");
    assert.equal(meta.run.kernel.implementation, "vramlab");
    const pm = nb.metadata.papermill as any;
    assert.equal(pm.exception, false);
    assert.ok(Date.parse(pm.end_time) >= Date.parse(pm.start_time));
    assert.ok(pm.duration > 0 && pm.duration < 120);
    const timing = code(nb, 3).metadata.execution as Record<string, string>;
    for (const key of ["iopub.status.busy", "iopub.execute_input", "shell.execute_reply", "iopub.status.idle"]) assert.ok(Date.parse(timing[key]) > 0, `${key} recorded`);
    assert.match(run.stderr, /cell 3 ok \(3\/11,/);
  });

  it("writes a notebook that nbformat validates", (t) => {
    const r = spawnSync(PYTHON, ["-c", "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print('valid')", join(dir, "out.ipynb")], { encoding: "utf8" });
    if (r.error || (r.status !== 0 && /No module named/.test(r.stderr))) {
      t.skip(`${PYTHON} with nbformat is not available: ${r.error?.message ?? r.stderr.trim()}`);
      return;
    }
    assert.equal(r.stdout.trim(), "valid", r.stderr);
  });

  it("exports a self-contained page: markdown, outputs, SVG figure, saved widget state and the inlined widget renderer", () => {
    assert.match(html, /<h1>Runner features<\/h1>/);
    assert.match(html, /<table>[\s\S]*<td>1<\/td>/);
    assert.match(html, /<script type="application\/vnd\.jupyter\.widget-state\+json">\{/);
    assert.equal((html.match(/<script type="application\/vnd\.jupyter\.widget-view\+json">/g) ?? []).length, 2, "the slider and the Output widget");
    const assets = widgetEmbedAssets();
    assert.ok(html.includes(scriptSafe(assets.js)), "dist/browser/embed.js is inlined");
    assert.ok(html.includes(assets.css.slice(0, 200)), "dist/browser/embed.css is inlined");
    assert.doesNotMatch(html, /<(script|img|iframe)[^>]+src=["']?https?:/i, "no remote scripts or images");
    assert.doesNotMatch(html, /<link[^>]+href=["']?https?:/i, "no remote stylesheets");
    assert.match(html, /<svg[^>]*>[\s\S]*runner figure[\s\S]*<\/svg>/, "the figure's SVG drawing");
    assert.ok(!html.includes('class="vl-plotly"'), "--html-figures svg: no plotly figure");
    assert.ok(html.length < 3_000_000, `no plotly.js inlined (${html.length} characters)`);
    assert.match(html, /<span style="color:#cd3131">red<\/span> done/, "ANSI colours become spans");
    assert.match(html, /allowed to fail/);
  });

  it("inlines plotly.js once, only for notebooks with plotly figures", () => {
    const withPlotly = renderNotebookHtml(nb, { figures: "plotly" });
    const lib = scriptSafe(plotlyJsSource()).slice(0, 300);
    assert.equal(withPlotly.split(lib).length - 1, 1, "plotly.js inlined exactly once");
    assert.match(withPlotly, /<div id="vl-plotly-1" class="vl-plotly"><svg/, "the SVG stays as the fallback inside the plot's div");
    assert.match(withPlotly, /window\.Plotly\.newPlot\(el,fig\.data/);
    const plain = parseNotebook(readFileSync(join(fixtures, "runner-failure.ipynb"), "utf8"));
    const page = renderNotebookHtml(plain);
    assert.ok(!page.includes(lib), "no plotly.js without plotly output");
    assert.ok(!page.includes("widget-state+json"), "no widget renderer without widgets");
    assert.ok(page.length < 20_000, `a plain page stays small (${page.length} characters)`);
  });

  it("renders the saved widgets in headless chromium, offline", async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is not installed (apt-get install chromium)`);
      return;
    }
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const remote: string[] = [];
      const errors: string[] = [];
      page.on("request", (r) => {
        if (!/^(file|data|blob):/.test(r.url())) remote.push(r.url());
      });
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${join(dir, "out.html")}`);
      await page.waitForFunction("document.documentElement.dataset.vramlabWidgets !== undefined", null, { timeout: 30_000 });
      assert.equal(await page.evaluate("document.documentElement.dataset.vramlabWidgets"), "rendered", errors.join("\n"));
      assert.equal(await page.locator(".widget-slider").count(), 1);
      assert.deepEqual(await page.locator(".widget-slider .widget-readout").allTextContents(), ["7"]);
      assert.match((await page.locator(".widget-output").allTextContents()).join(""), /captured line/);
      assert.deepEqual(remote, [], "the page loads nothing from the network");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});

describe("vramlab run: failures", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "vramlab-run-fail-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("exits 1 naming the failing cell and its error, and saves the outputs up to it", async () => {
    const out = join(dir, "failed.ipynb");
    const page = join(dir, "failed.html");
    const r = await vramlabRun([join(fixtures, "runner-failure.ipynb"), "-o", out, "--html", page, "-q"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cell 2 \(id c2, In \[2\]\) `console\.log\("partial", x\);` failed: RangeError: boom in the third cell/);
    assert.match(r.stderr, /with the outputs up to the failure, was written to .*failed\.ipynb \(page: .*failed\.html\)/);
    const html = readFileSync(page, "utf8");
    assert.equal(html.split('class="vl-cell vl-code-cell vl-failed"').length - 1, 1, "the page marks the failed cell");
    assert.match(html, /RangeError: boom in the third cell/);
    const nb = readNotebook(out);
    assert.deepEqual(code(nb, 0).outputs, [{ output_type: "stream", name: "stdout", text: "before\n" }]);
    const failed = code(nb, 2);
    assert.deepEqual(texts(failed, "stdout"), ["partial 1\n"]);
    const error = failed.outputs.at(-1) as any;
    assert.equal(error.output_type, "error");
    assert.equal(error.ename, "RangeError");
    assert.equal(code(nb, 3).execution_count, null, "cells after the failure are not run");
    assert.deepEqual(code(nb, 3).outputs, []);
    const meta = (nb.metadata.vramlab as any).run;
    assert.deepEqual(meta.failure, { kind: "error", cell_index: 2, cell_id: "c2", ename: "RangeError", evalue: "boom in the third cell" });
    assert.equal((nb.metadata.papermill as any).exception, true);
  });

  it("interrupts a cell that runs past --timeout and fails the run", async () => {
    const out = join(dir, "timeout.ipynb");
    const r = await vramlabRun([join(fixtures, "runner-timeout.ipynb"), "-o", out, "--timeout", "2", "-q"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cell 1 \(id c1, In \[2\]\) `console\.log\("sleeping"\);` timed out: CellTimeoutError: the cell ran longer than the timeout of 2 s and was interrupted/);
    assert.ok(r.seconds < 40, `the 60 s sleep was interrupted (${r.seconds.toFixed(1)} s)`);
    const nb = readNotebook(out);
    assert.deepEqual(texts(code(nb, 1), "stdout"), ["sleeping\n"]);
    assert.equal(code(nb, 1).outputs.at(-1)?.output_type, "error");
    assert.equal(code(nb, 2).execution_count, null);
  });

  it("reports a kernel that dies during a cell, with its log, after autosaving the progress", async () => {
    const input = join(dir, "dies.ipynb");
    const cells = [
      { cell_type: "code", metadata: {}, source: 'console.log("saved");', outputs: [], execution_count: null },
      { cell_type: "code", metadata: {}, source: 'console.log("bye");\nsetTimeout(() => process.kill(process.pid, "SIGKILL"), 50);\nawait new Promise((r) => setTimeout(r, 10_000));', outputs: [], execution_count: null },
      { cell_type: "code", metadata: {}, source: "1 + 1", outputs: [], execution_count: null },
    ];
    writeFileSync(input, JSON.stringify({ nbformat: 4, nbformat_minor: 4, metadata: {}, cells }));
    const onDisk: string[][] = [];
    const run = await runNotebookFile(input, {
      autosaveSeconds: 0,
      onCellDone: () => onDisk.push(readNotebook(join(dir, "dies.out.ipynb")).cells.flatMap((c) => texts(c as CodeCell, "stdout"))),
    });
    assert.deepEqual(onDisk[0], ["saved\n"], "the output file had the first cell's output while the run went on");
    assert.equal(run.failure?.kind, "kernel-died");
    assert.equal(run.failure?.cellIndex, 1);
    assert.match(run.failure!.message, /cell 1 \(In \[2\]\) `console\.log\("bye"\);` stopped: KernelDiedError: the kernel was killed by SIGKILL while running this cell; its log ends with:\n.*TypeScript ready/s);
    const nb = readNotebook(run.outputPath);
    assert.deepEqual(texts(code(nb, 1), "stdout"), ["bye\n"]);
    assert.equal(code(nb, 2).execution_count, null);
    assert.equal(JSON.parse(readFileSync(input, "utf8")).cells[1].outputs.length, 0, "the input notebook is not modified");
  });

  it("reports a kernel that cannot start, with its log", async () => {
    const nb = parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 4, metadata: {}, cells: [{ cell_type: "code", metadata: {}, source: "1", outputs: [], execution_count: null }] }));
    const run = await executeNotebook(nb, { cwd: dir, env: { ...process.env, NODE_OPTIONS: "--require=/nonexistent/vramlab-preload.js" } });
    assert.equal(run.failure?.kind, "kernel-startup");
    assert.equal(run.failure?.cellIndex, null);
    assert.match(run.failure!.message, /the vramlab kernel exited with code 1 before it was ready; its log:\n[\s\S]*Cannot find module '\/nonexistent\/vramlab-preload\.js'/);
    assert.equal(run.executedCells, 0);
    assert.equal((run.notebook.metadata.vramlab as any).run.status, "failed");
  });

  it("rejects bad arguments with exit code 2 and says what was wrong", async () => {
    const cases: [string[], RegExp][] = [
      [[], /which notebook\?/],
      [[join(fixtures, "runner-failure.ipynb"), "--bogus"], /unknown option "--bogus"/],
      [[join(dir, "missing.ipynb")], /notebook ".*missing\.ipynb" does not exist/],
      [[join(fixtures, "runner-failure.ipynb"), "-p", "1steps=3"], /parameter name "1steps" is not a TypeScript identifier/],
      [[join(fixtures, "runner-failure.ipynb"), "--timeout", "soon"], /--timeout needs a number of seconds greater than 0, got "soon"/],
      [[join(fixtures, "runner-failure.ipynb"), "--html", join(dir, "page.txt")], /--html names the page to write, ending in \.html/],
    ];
    for (const [args, message] of cases) {
      const r = await vramlabRun(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    const help = await vramlabRun(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: vramlab run NOTEBOOK/);
    assert.ok(!existsSync(join(dir, "missing.out.ipynb")));
  });
});
