// Every CPU level (portable, AVX2, AVX-512) and one thread vs the full pool
// must write identical bytes for every dtype pair: child processes
// (casts-level-child.ts) run the same seeded casts under VRAMLAB_CPU /
// VRAMLAB_NUM_THREADS and report a digest per output. The reference tests run
// at the machine's best level, so equality here carries them to every level.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runProcess } from "../run-process.js";
import { fileURLToPath } from "node:url";
import { native } from "../../engine/native-binding.js";

interface ChildReport { level: string; threads: number; digests: Record<string, string> }

async function runChild(env: Record<string, string>): Promise<ChildReport> {
  const childEnv = { ...process.env };
  delete childEnv.VRAMLAB_CPU;
  delete childEnv.VRAMLAB_NUM_THREADS;
  Object.assign(childEnv, env);
  const script = fileURLToPath(new URL("./casts-level-child.js", import.meta.url));
  const r = await runProcess(process.execPath, [script], { env: childEnv, what: `child ${JSON.stringify(env)}` });
  if (r.code !== 0) throw new Error(`child ${JSON.stringify(env)} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ChildReport;
}

test("cast writes identical bytes at every CPU level and thread count", async (t) => {
  const cpu = native.cpuInfo();
  const runs: { name: string; env: Record<string, string>; level: string }[] = [
    { name: "portable", env: { VRAMLAB_CPU: "portable" }, level: "portable" },
  ];
  if (cpu.avx2Fma) runs.push({ name: "avx2", env: { VRAMLAB_CPU: "avx2" }, level: "avx2" });
  if (cpu.avx512) runs.push({ name: "avx512", env: {}, level: "avx512" });
  runs.push({ name: "one thread", env: { VRAMLAB_NUM_THREADS: "1" }, level: cpu.level });

  const reports = await Promise.all(runs.map((r) => runChild(r.env)));
  const baseline = reports[0]!;
  assert.equal(Object.keys(baseline.digests).length, 12 * 12 * 2, "every dtype pair, both saturate modes");
  reports.forEach((report, i) => {
    const run = runs[i]!;
    assert.equal(report.level, run.level, `${run.name} ran at the requested level`);
    if (run.name === "one thread") assert.equal(report.threads, 1);
    const differing = Object.keys(baseline.digests).filter((k) => report.digests[k] !== baseline.digests[k]);
    assert.deepEqual(differing, [], `${run.name} differs from portable`);
  });
  if (!cpu.avx512) t.diagnostic(`this CPU tops out at ${cpu.level}: higher levels were not compared`);
});
