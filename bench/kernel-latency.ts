// Kernel latency as a Jupyter client sees it: p50/p95 round trip of a
// trivial cell and of a display update, vramlab's kernel vs tslab's own
// kernel, driven by the same client (Debian's jupyter_client) in the same
// run, interleaved. Writes bench/results/kernel-latency-<date>.json.
//
//   npm run bench:kernel-latency   (LATENCY_RUNS=200 LATENCY_WARMUP=20 by default)
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describeCpu, gitCommit, isoDate, packageRoot, printTable, writeResults } from "./bench-util.js";
import { jupyterSandbox, PYTHON, requireJupyterClient } from "../test/kernel/kernel-client.js";

const root = packageRoot();

/** The q-quantile (0..1) with linear interpolation between order statistics. */
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

interface KernelTimes {
  startup_s: number;
  trivial_s: number[];
  update_s: number[];
  /** requests whose idle status never arrived (tslab 1.0.22 drops one around its 170th execution) */
  lost: string[];
}

async function main(): Promise<void> {
  requireJupyterClient();
  const runs = Number(process.env.LATENCY_RUNS ?? 200);
  const warmup = Number(process.env.LATENCY_WARMUP ?? 20);
  const box = jupyterSandbox();
  try {
    // tslab's own kernel, started the way `tslab install` registers it.
    const tslabName = `tslab-bench-${process.pid}`;
    const tslabDir = join(box.dir, "share", "jupyter", "kernels", tslabName);
    mkdirSync(tslabDir, { recursive: true });
    writeFileSync(
      join(tslabDir, "kernel.json"),
      JSON.stringify({ argv: [process.execPath, join(root, "node_modules", "tslab", "bin", "tslab"), "kernel", "--config-path", "{connection_file}"], display_name: "tslab", language: "typescript" }),
    );
    const cells = {
      [box.kernelName]: {
        setup: 'import { html } from "vramlab/kernel";\nconst h = display(html`<b>0</b>`, { displayId: true });\nlet n = 0;',
        trivial: "1",
        update: "h.update(html`<b>${++n}</b>`)",
      },
      [tslabName]: {
        setup: 'import * as tslab from "tslab";\nconst d = tslab.newDisplay();\nd.html("<b>0</b>");\nlet n = 0;',
        trivial: "1",
        // tslab shows a cell's value by printing it (a stream), not as execute_result
        trivial_output: "stream",
        update: "d.html(`<b>${++n}</b>`)",
      },
    };
    const script = join(root, "test", "kernel", "client", "latency.py");
    const env = { ...box.env, LATENCY_CELLS: JSON.stringify(cells), LATENCY_RUNS: String(runs), LATENCY_WARMUP: String(warmup) };
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
      const child = spawn(PYTHON, [script, box.kernelName, tslabName], { cwd: box.dir, env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("error", reject);
      child.on("close", (c) => resolve({ stdout: out, stderr: err, code: c }));
    });
    const result = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as { kernels?: Record<string, KernelTimes>; failure?: string; failure_traceback?: string };
    if (code !== 0 || !result.kernels) throw new Error(`latency client failed: ${result.failure ?? `exit ${code}`}\n${result.failure_traceback ?? ""}\n${stderr.slice(-3000)}`);

    const label = (name: string) => (name === box.kernelName ? "vramlab" : "tslab");
    const summary: Record<string, Record<string, number>> = {};
    for (const [name, t] of Object.entries(result.kernels)) {
      const ms = (xs: number[]) => xs.map((x) => x * 1000);
      summary[label(name)] = {
        startup_ms: t.startup_s * 1000,
        trivial_p50_ms: quantile(ms(t.trivial_s), 0.5),
        trivial_p95_ms: quantile(ms(t.trivial_s), 0.95),
        update_p50_ms: quantile(ms(t.update_s), 0.5),
        update_p95_ms: quantile(ms(t.update_s), 0.95),
        lost_messages: t.lost.length,
      };
    }
    const ratio = (k: string) => summary.vramlab[k] / summary.tslab[k];
    const path = writeResults("kernel-latency", {
      bench: "kernel-latency",
      date: isoDate(),
      commit: gitCommit(),
      device: { ...describeCpu(), node: process.version, client: "Debian jupyter_client via /usr/bin/python3" },
      runs,
      warmup,
      method: "interleaved rounds; round trip = execute_request sent until execute_reply and the idle status are both received; ms; a request whose idle never arrives within 5 s is counted as lost, not timed",
      summary,
      ratio_vramlab_over_tslab: {
        trivial_p50: ratio("trivial_p50_ms"),
        trivial_p95: ratio("trivial_p95_ms"),
        update_p50: ratio("update_p50_ms"),
        update_p95: ratio("update_p95_ms"),
      },
      lost: Object.fromEntries(Object.entries(result.kernels).map(([n, t]) => [label(n), t.lost])),
      samples_ms: Object.fromEntries(Object.entries(result.kernels).map(([n, t]) => [label(n), { trivial: t.trivial_s.map((x) => +(x * 1000).toFixed(3)), update: t.update_s.map((x) => +(x * 1000).toFixed(3)) }])),
    });
    console.log(`wrote ${path}`);
    const f = (x: number) => Number(x.toFixed(2));
    console.log(`vramlab/tslab: trivial p50 ${f(ratio("trivial_p50_ms"))}x, p95 ${f(ratio("trivial_p95_ms"))}x; update p50 ${f(ratio("update_p50_ms"))}x, p95 ${f(ratio("update_p95_ms"))}x (${runs} runs each, ${isoDate()})`);
    printTable(
      ["kernel", "startup ms", "trivial p50", "trivial p95", "update p50", "update p95", "lost"],
      ["vramlab", "tslab"].map((k) => [k, f(summary[k].startup_ms), f(summary[k].trivial_p50_ms), f(summary[k].trivial_p95_ms), f(summary[k].update_p50_ms), f(summary[k].update_p95_ms), summary[k].lost_messages]),
    );
  } finally {
    box.cleanup();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
