"""nbclient executes a small TypeScript notebook end to end in a folder
outside the package; prints the executed cells' outputs."""
import os
import sys
import tempfile

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

CELLS = [
    ("markdown", "# A vramlab notebook\nRun by nbclient in the kernel tests."),
    ("code", 'import * as vl from "vramlab";\nimport { table, html, progress } from "vramlab/kernel";\nconst t = vl.tensor([1, 2, 3, 4], { shape: [2, 2] });\nt.shape'),
    ("code", 'console.log("sum", Array.from(t.toFloat32Array()).reduce((a, b) => a + b, 0));\ndisplay(html`<b>${t.dtype}</b>`);'),
    ("code", 'table([{ layer: "a", ms: 1.5 }, { layer: "b", ms: 2 }])'),
    ("code", "const bar = progress(3, { minIntervalMs: 0 });\nfor (let i = 0; i < 3; i++) { await new Promise((r) => setTimeout(r, 5)); bar.increment(); }\nt.dispose();\nvl.memory(\"cpu\").allocated >= 0"),
    # An engine Report shows itself as a table (its Jupyter.display method).
    ("code", """class Two extends vl.Model<vl.Tensor, vl.Tensor> {
  constructor() {
    super();
    const f = { device: vl.getDevice("cpu"), dtype: "float32" as const, init: "random" as const, seed: 1 };
    const list = this.registerModule("blocks", new vl.nn.ModuleList<vl.nn.Linear>());
    for (let i = 0; i < 2; i++) list.append(new vl.nn.Linear(8, 8, true, f, `blocks.${i}`));
  }
  protected override async compute(x: vl.Tensor): Promise<vl.Tensor> {
    let h = x;
    for (const [, block] of this.child("blocks").namedChildren()) {
      const next = (await block.call(h)) as vl.Tensor;
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
  }
}
await vl.profile(new Two(), vl.randn([2, 8], { seed: 2 }))"""),
]


def scenario(r):
    folder = tempfile.mkdtemp(prefix="vramlab-nbclient-")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": harness.KERNEL_NAME, "display_name": "TypeScript (vramlab)", "language": "typescript"}
    for kind, src in CELLS:
        nb.cells.append(nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src))
    path = os.path.join(folder, "smoke.ipynb")
    client = NotebookClient(nb, timeout=60, startup_timeout=60, kernel_name=harness.KERNEL_NAME, resources={"metadata": {"path": folder}})
    client.execute()
    nbformat.write(nb, path)
    nbformat.validate(nbformat.read(path, as_version=4))
    r["language_info"] = nb.metadata.get("language_info", {})
    r["cells"] = [{"cell_type": c.cell_type, "execution_count": c.get("execution_count"), "outputs": c.get("outputs", [])} for c in nb.cells]
    r["written"] = os.path.getsize(path)


harness.run(scenario)
