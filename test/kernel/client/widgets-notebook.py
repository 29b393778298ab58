"""nbclient runs a notebook whose cells capture output into an Output
widget. nbclient plays the frontend's part of the Output widget: while the
model's msg_id names a request, outputs with that parent go into the widget
(and back to the kernel as its `outputs` state) instead of the cell. Prints
the cells' outputs and the saved widget state."""
import os
import sys
import tempfile

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

CELLS = [
    'import { Output } from "vramlab/widgets";\nimport { html } from "vramlab/kernel";\nconst out = new Output();\nout',
    'console.log("cell line 1");\nawait out.capture(async () => { console.log("captured line"); await new Promise((res) => setTimeout(res, 10)); display(html`<b>shown in the widget</b>`); });\nconsole.log("cell line 2");',
    "JSON.stringify(out.outputs)",
    'out.clear_output();\nJSON.stringify(out.outputs)',
]


def scenario(r):
    folder = tempfile.mkdtemp(prefix="vramlab-widgets-nb-")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": harness.KERNEL_NAME, "display_name": "TypeScript (vramlab)", "language": "typescript"}
    for src in CELLS:
        nb.cells.append(nbformat.v4.new_code_cell(src))
    client = NotebookClient(nb, timeout=60, startup_timeout=60, kernel_name=harness.KERNEL_NAME, resources={"metadata": {"path": folder}})
    client.execute()
    path = os.path.join(folder, "capture.ipynb")
    nbformat.write(nb, path)
    nbformat.validate(nbformat.read(path, as_version=4))
    r["cells"] = [{"outputs": c.get("outputs", [])} for c in nb.cells]
    r["widget_state"] = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})


harness.run(scenario)
