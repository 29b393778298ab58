// Recorded experiments in the kernel: the display fallback that draws a
// bundle's plotly JSON as SVG (image/svg+xml, and inside its text/html where
// the bundle asks for it), then the real kernel through jupyter_client:
// experiments recorded from cells land in vramlab-experiments.jsonl in the
// kernel's working folder, a failing one is stored and shown as an error,
// and compare displays text, HTML with the figure, plotly JSON and SVG.
import { before, describe, it, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { normalizeBundle } from "../../kernel/display.js";
import { Figure, PLOTLY_MIME, type PlotlyFigureJSON } from "../../widgets/figures/figure.js";
import { FIGURE_SVG_SLOT } from "../../engine/experiments/display-bundle.js";
import { outputsOf, runScenario } from "./kernel-client.js";

const FIG: PlotlyFigureJSON = {
  data: [{ type: "bar", name: "timeMs", x: ["a", "b"], y: [1, 2] }, { type: "bar", name: "peak", x: ["a", "b"], y: [3, 4], xaxis: "x2", yaxis: "y2" }],
  layout: { title: { text: "two panels" }, xaxis: { domain: [0, 0.45] }, xaxis2: { domain: [0.55, 1], anchor: "y2" }, yaxis2: { anchor: "x2" } },
};

test("a bundle with plotly JSON and no SVG gets the SVG drawing, also in its HTML slot", () => {
  const expected = new Figure(FIG.data, FIG.layout).toSVG();
  const b = normalizeBundle({ [PLOTLY_MIME]: FIG, "text/html": `<table></table>${FIGURE_SVG_SLOT}`, "text/plain": "t" });
  assert.equal(b.data["image/svg+xml"], expected);
  assert.equal(b.data["text/html"], `<table></table>${expected}`);
  assert.match(expected, /<svg[^>]*>[\s\S]*two panels[\s\S]*class="vl-bar"/);

  // an SVG already there is kept (and used for the slot)
  const own = normalizeBundle({ [PLOTLY_MIME]: FIG, "image/svg+xml": "<svg>mine</svg>", "text/html": FIGURE_SVG_SLOT });
  assert.equal(own.data["image/svg+xml"], "<svg>mine</svg>");
  assert.equal(own.data["text/html"], "<svg>mine</svg>");

  // traces the renderer does not draw, or no figure at all: no SVG, the slot goes away, the rest is intact
  const heat = normalizeBundle({ [PLOTLY_MIME]: { data: [{ type: "heatmap", z: [[1]] }], layout: {} }, "text/html": `x${FIGURE_SVG_SLOT}` });
  assert.equal(heat.data["image/svg+xml"], undefined);
  assert.equal(heat.data["text/html"], "x");
  assert.equal(normalizeBundle({ [PLOTLY_MIME]: "not a figure" }).data["image/svg+xml"], undefined);
  assert.equal(normalizeBundle({ "text/html": "<b>no plotly</b>" }).data["image/svg+xml"], undefined);
});

describe("experiments through jupyter_client", () => {
  let r: Record<string, any>;
  before(async () => {
    r = (await runScenario("experiments")).results;
  });

  const result = (run: any) => outputsOf(run, "execute_result")[0]?.data as Record<string, any>;

  it("stores beside the notebook: vramlab-experiments.jsonl in the kernel's working folder", () => {
    assert.equal(r.setup.reply.status, "ok", JSON.stringify(r.setup));
    assert.equal(result(r.setup)["text/plain"], `'${join(r.cwd, "vramlab-experiments.jsonl")}'`, "a string result shows quoted");
  });

  it("shows a recorded experiment with its config, metrics and environment", () => {
    assert.equal(r.first.reply.status, "ok", JSON.stringify(r.first.reply));
    const shown = result(r.first);
    assert.match(shown["text/plain"], /^experiment "cell runs" \d{8}-\d{6}-[0-9a-f]{6} .* ok\n/);
    assert.match(shown["text/html"], /<code>scheme<\/code><\/td><td[^>]*>int8wo</);
    assert.match(shown["text/html"], /<code>inferenceMemory<\/code>/);
    assert.match(shown["text/html"], /sim:h100-sxm · vramlab /);
  });

  it("records a failing run and reports its error in the cell", () => {
    assert.equal(r.failing.reply.status, "error");
    assert.match(r.failing.reply.evalue, /numBlocksPerGroup/);
    const lines = r.store_lines as any[];
    assert.equal(lines.length, 3);
    const ids = JSON.parse(result(r.ids)["text/plain"].slice(1, -1)) as string[];
    assert.deepEqual(lines.map((l) => [l.id, l.status]), [[ids[0], "ok"], [ids[1], "ok"], [lines[2].id, "error"]]);
    assert.equal(lines[2].error.message, r.failing.reply.evalue);
    assert.deepEqual(lines[1].config, { scheme: "fp8wo", numBlocksPerGroup: 2 });
    assert.equal(lines[0].environment.device, "sim:h100-sxm");
    assert.equal(lines[0].environment.workdir, r.cwd);
  });

  it("displays compare as text, an HTML table with the figure drawn in, plotly JSON and SVG", () => {
    assert.equal(r.compare.reply.status, "ok", JSON.stringify(r.compare.reply));
    const d = result(r.compare);
    const lines = r.store_lines as any[];
    assert.match(d["text/plain"], /scheme\s+numBlocksPerGroup\s+modelMemory\s+inferenceMemory/);
    assert.match(d["text/plain"], new RegExp(`${lines[1].id}\\s+cell runs\\s+ok\\s+fp8wo\\s+2\\s`));
    assert.doesNotMatch(d["text/plain"], /error/, "the filter took the successful runs only");
    const fig = d[PLOTLY_MIME];
    assert.deepEqual(fig.data[0].x, ["int8wo · numBlocksPerGroup=1", "fp8wo · numBlocksPerGroup=2"]);
    const inference = fig.data.find((t: any) => t.name === "inferenceMemory");
    const scale = { B: 1, KiB: 1024, MiB: 1024 ** 2 }[/\((\w+)\)/.exec(fig.layout.yaxis.title.text)![1]!]!;
    assert.deepEqual(inference.y.map((v: number) => Math.round(v * scale)), [lines[0].metrics.inferenceMemory, lines[1].metrics.inferenceMemory]);
    const svg = d["image/svg+xml"];
    assert.equal(svg, new Figure(fig.data, fig.layout).toSVG(), "the kernel drew the plotly figure");
    assert.match(svg, /class="vl-bar"/);
    assert.ok(d["text/html"].startsWith('<div class="vramlab-experiments-comparison"><table>'));
    assert.ok(d["text/html"].includes(svg), "the HTML carries the same SVG under its table");
    assert.ok(!d["text/html"].includes(FIGURE_SVG_SLOT));
  });
});
