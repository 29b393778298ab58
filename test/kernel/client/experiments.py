"""Recorded experiments in cells: two runs of the tiny Flux model on a
simulated H100 recorded with vl.experiment, a failing one, and
vl.experiments.compare displayed as text, HTML, plotly JSON and SVG. The
store file lands in the kernel's working folder (beside the notebook)."""
import json
import os

import harness

SETUP = """
import * as vl from "vramlab";
type Config = { scheme: "int8wo" | "fp8wo"; numBlocksPerGroup: number };
async function runTiny(c: Config) {
  const model = await vl.models.flux("tiny", { seed: 2 });
  vl.quantize(model, { scheme: c.scheme, minElements: 0 });
  model.enableGroupOffload({ onloadDevice: "sim:h100-sxm", offloadDevice: "cpu", offloadType: "block_level", numBlocksPerGroup: c.numBlocksPerGroup, useStream: true });
  const inputs = vl.models.fluxInputs(model, { grid: [4, 4], textLength: 4, seed: 1, device: "sim:h100-sxm" });
  try {
    return await vl.profile(model, inputs);
  } finally {
    vl.models.disposeInputs(inputs);
    model.dispose();
  }
}
vl.experiments.current().path
"""


def scenario(r):
    km, kc = harness.start_kernel()
    try:
        ex = lambda code, timeout=60: harness.execute(kc, code, timeout=timeout)
        r["cwd"] = os.getcwd()
        r["setup"] = ex(SETUP)
        r["first"] = ex('const first = await vl.experiment("cell runs", { scheme: "int8wo", numBlocksPerGroup: 1 } as Config, runTiny);\nfirst')
        r["second"] = ex('const second = await vl.experiment("cell runs", { scheme: "fp8wo", numBlocksPerGroup: 2 } as Config, runTiny);\nsecond.id')
        r["failing"] = ex('await vl.experiment("cell runs", { scheme: "int8wo", numBlocksPerGroup: 0 } as Config, runTiny)')
        r["compare"] = ex('vl.experiments.compare({ name: "cell runs", status: "ok" })')
        r["ids"] = ex("JSON.stringify([first.id, second.id])")
        path = os.path.join(os.getcwd(), "vramlab-experiments.jsonl")
        with open(path, encoding="utf8") as f:
            r["store_lines"] = [json.loads(line) for line in f.read().splitlines()]
    finally:
        harness.stop_kernel(km, kc)


if __name__ == "__main__":
    harness.run(scenario)
