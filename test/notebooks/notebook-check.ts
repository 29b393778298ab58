// Executes a tutorial notebook from notebooks/ through `vramlab run` (the
// real kernel, in a temporary copy of the folder so nothing is written
// beside the committed notebooks), and checks that every cell ran without an
// error, that figures carry their SVG fallback, and that the committed copy
// holds the same outputs (same cells, same MIME types), so what GitHub shows
// is what the notebook does today.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

interface Output {
  output_type: string;
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  text?: string | string[];
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
  metadata?: { tags?: string[] };
}
interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const text = (s: string | string[] | undefined) => (Array.isArray(s) ? s.join("") : (s ?? ""));

/** Per code cell: the output kinds and MIME types, e.g. "display_data:application/vnd.plotly.v1+json,image/svg+xml,...". */
function outputShape(nb: Notebook): string[][] {
  return nb.cells
    .filter((c) => c.cell_type === "code" && !(c.metadata?.tags ?? []).includes("injected-parameters"))
    .map((c) => (c.outputs ?? []).map((o) => (o.data ? `${o.output_type}:${Object.keys(o.data).sort().join(",")}` : o.output_type)));
}

export function checkNotebook(name: string, options: { minSvgFigures?: number; timeoutS?: number } = {}): void {
  test(`notebooks/${name}.ipynb runs through vramlab run and matches its committed outputs`, { timeout: (options.timeoutS ?? 900) * 1000 }, () => {
    const work = mkdtempSync(join(tmpdir(), `vramlab-nb-${name}-`));
    try {
      cpSync(join(root, "notebooks", `${name}.ipynb`), join(work, `${name}.ipynb`));
      const out = join(work, `${name}.out.ipynb`);
      const r = spawnSync(process.execPath, [join(root, "bin", "vramlab.js"), "run", join(work, `${name}.ipynb`), "-o", out, "--timeout", String(options.timeoutS ?? 600), "-q"], {
        encoding: "utf8",
        env: { ...process.env, VRAMLAB_EXPERIMENTS_FILE: join(work, "experiments.jsonl") },
        cwd: work,
      });
      assert.equal(r.status, 0, `vramlab run failed (exit ${r.status}):\n${r.stderr}\n${r.stdout}`);
      const executed = JSON.parse(readFileSync(out, "utf8")) as Notebook;
      const errors = executed.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.output_type === "error").map((o) => `${o.ename}: ${o.evalue}`));
      assert.deepEqual(errors, [], "no cell shows an error");
      const stderr = executed.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.output_type === "stream" && (o as { name?: string }).name === "stderr").map((o) => text(o.text)));
      assert.deepEqual(stderr, [], "nothing was written to stderr");
      const figures = executed.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.data && "application/vnd.plotly.v1+json" in o.data));
      assert.ok(figures.length >= (options.minSvgFigures ?? 1), `at least ${options.minSvgFigures ?? 1} figure(s), got ${figures.length}`);
      for (const f of figures) assert.match(String(f.data!["image/svg+xml"] ?? ""), /^<svg[\s\S]*<\/svg>\s*$/, "each figure carries its SVG (GitHub shows it)");

      const committed = JSON.parse(readFileSync(join(root, "notebooks", `${name}.ipynb`), "utf8")) as Notebook;
      assert.ok(committed.cells.some((c) => (c.outputs ?? []).length > 0), `the committed notebooks/${name}.ipynb has its outputs (run: vramlab run notebooks/${name}.ipynb -o notebooks/${name}.ipynb)`);
      assert.deepEqual(outputShape(committed), outputShape(executed), `the committed notebooks/${name}.ipynb is stale: re-run vramlab run notebooks/${name}.ipynb -o notebooks/${name}.ipynb`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
}
