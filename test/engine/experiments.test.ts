// Recorded experiments: vl.experiment stores one JSON line per run (config,
// metrics, per-layer rows, environment, outputs, failures), the store reads
// back what any process appended, skips torn lines without losing records,
// takes concurrent appends from two processes without interleaving, compares
// records as a table and a plotly figure, and reruns a stored config with the
// same result. Byte counts compare exactly; modelled times compare exactly
// across processes and to 1e-9 relative within one process (see the rerun
// test for why).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as vl from "../../engine/index.js";
import { ExperimentStore } from "../../engine/experiments/store.js";
import { runProcess } from "../run-process.js";

const ENGINE_URL = new URL("../../engine/index.js", import.meta.url).href;
const STORE_URL = new URL("../../engine/experiments/store.js", import.meta.url).href;
const DEV = "sim:h100-sxm";
const REL = 1e-9;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "vramlab-experiments-"));
}

/** Console warnings printed while fn runs (the store warns about skipped lines). */
async function capturingWarnings<T>(fn: () => T | Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  try {
    return { value: await fn(), warnings };
  } finally {
    console.warn = original;
  }
}

/**
 * The experiment both this process and child processes run: a config that builds the tiny Flux
 * model, quantizes it, casts or offloads it, and profiles it on a simulated H100.
 */
const RUNNER_SOURCE = `
import * as vl from ${JSON.stringify(ENGINE_URL)};
export async function runTiny(c) {
  const model = await vl.models.flux(c.preset, { seed: c.seed });
  if (c.scheme !== "none") vl.quantize(model, { scheme: c.scheme, minElements: 0 });
  if (c.storageDtype) model.enableLayerwiseCasting({ storageDtype: c.storageDtype, computeDtype: "float32" });
  if (c.offload.offloadType === "none") await model.to(c.device);
  else model.enableGroupOffload({ onloadDevice: c.device, offloadDevice: "cpu", ...c.offload });
  const inputs = vl.models.fluxInputs(model, { grid: c.grid, textLength: 4, seed: 5, device: c.device });
  try {
    return await vl.profile(model, inputs, { steps: c.steps, warmup: 1 });
  } finally {
    vl.models.disposeInputs(inputs);
    model.dispose();
  }
}
`;
type TinyConfig = { preset: string; seed: number; scheme: string; storageDtype: string | null; device: string; grid: number[]; steps: number; offload: Record<string, unknown> };
const TINY_CONFIG: TinyConfig = {
  preset: "tiny", seed: 3, scheme: "int8wo", storageDtype: null, device: DEV, grid: [4, 4], steps: 2,
  offload: { offloadType: "block_level", numBlocksPerGroup: 1, useStream: true },
};

let runnerPath: string | null = null;
async function runner(): Promise<{ runTiny: (c: TinyConfig) => Promise<vl.Report> }> {
  if (!runnerPath) {
    runnerPath = join(tempDir(), "runner.mjs");
    writeFileSync(runnerPath, RUNNER_SOURCE);
  }
  return import(pathToFileURL(runnerPath).href);
}

/** Runs an ES module script in a fresh node process; resolves with its stdout. */
async function runNode(source: string, args: string[] = []): Promise<string> {
  const r = await runProcess(process.execPath, ["--input-type=module", "-e", source, "--", ...args], { what: "child node" });
  if (r.code !== 0) throw new Error(`child exited ${r.code}: ${r.stderr.slice(-3000)}`);
  return r.stdout;
}

test("a metrics run is stored as one line; list, get (by id and prefix) and filters read it back, also from a new store object", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "exp.jsonl");
    const store = vl.experiments.open(path);
    assert.equal(store.path, path);
    const seen: unknown[] = [];
    const a = await vl.experiment("matmul", { size: 64, dtype: "float32" }, async (config) => {
      seen.push(config);
      return { gflops: 12.5, timeMs: 0.25 };
    });
    const b = await vl.experiment("matmul", { size: 128, dtype: "float32" }, () => ({ gflops: 20, timeMs: 1.5 }), { tags: ["big"] });
    const c = await vl.experiment("other", { size: 64 }, () => ({ gflops: 1 }));
    assert.deepEqual(seen, [{ size: 64, dtype: "float32" }], "the function gets the config");
    assert.equal(a.status, "ok");
    assert.equal(a.error, null);
    assert.deepEqual(a.metrics, { gflops: 12.5, timeMs: 0.25 });
    assert.match(a.id, /^\d{8}-\d{6}-[0-9a-f]{6}$/);
    assert.ok(Math.abs(Date.parse(a.time) - Date.now()) < 60_000);
    assert.ok(a.durationMs >= 0);

    const lines = readFileSync(path, "utf8").split("\n");
    assert.equal(lines.length, 4, "three lines and the final newline");
    assert.equal(lines[3], "");
    assert.deepEqual(lines.slice(0, 3).map((l) => JSON.parse(l).id), [a.id, b.id, c.id]);

    const fresh = new ExperimentStore(path);
    assert.deepEqual(fresh.list().map((r) => r.toJSON()), [a, b, c].map((r) => r.toJSON()), "a new reader sees the same records");
    assert.deepEqual(vl.experiments.list("matmul").map((r) => r.id), [a.id, b.id]);
    assert.deepEqual(vl.experiments.list(/^oth/).map((r) => r.id), [c.id]);
    assert.deepEqual(vl.experiments.list({ config: { size: 64 } }).map((r) => r.id), [a.id, c.id]);
    assert.deepEqual(vl.experiments.list({ name: "matmul", config: { size: 64 } }).map((r) => r.id), [a.id]);
    assert.deepEqual(vl.experiments.list({ tags: ["big"] }).map((r) => r.id), [b.id]);
    assert.deepEqual(vl.experiments.list({ last: 2 }).map((r) => r.id), [b.id, c.id]);
    assert.deepEqual(vl.experiments.list((r) => (r.metrics.gflops ?? 0) > 10).map((r) => r.id), [a.id, b.id]);
    assert.throws(() => vl.experiments.list({ size: 64 } as never), /unknown filter field size.*config: \{\.\.\.\}/);

    assert.equal(vl.experiments.get(b.id).name, "matmul");
    assert.deepEqual(vl.experiments.get(b.id).config, { size: 128, dtype: "float32" });
    assert.equal(fresh.get(c.id.slice(0, -2)).id, c.id, "a unique prefix finds the record");
    assert.throws(() => vl.experiments.get("nope"), /no experiment "nope" in .*exp\.jsonl \(3 records; latest: /);

    // another process's append is read without reopening
    fresh.append({ ...c.toJSON(), id: "20990101-000000-abcdef", name: "appended" });
    assert.equal(store.list().length, 4);
    assert.equal(store.get("20990101").name, "appended");

    const shown = (a as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]();
    assert.match(shown["text/plain"]!, /experiment "matmul" .* ok\n/);
    assert.match(shown["text/html"]!, /<code>size<\/code><\/td><td[^>]*>64</);
    assert.match(shown["text/html"]!, /<code>timeMs<\/code><\/td><td[^>]*>0\.25 ms</);

    // a folder means the default file inside it
    assert.equal(vl.experiments.open(dir).path, join(dir, vl.experiments.DEFAULT_STORE_FILE));
    assert.equal(vl.experiments.DEFAULT_STORE_FILE, "vramlab-experiments.jsonl");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a profiled run records the report's summary, last-step layer rows, profile info and the environment", async () => {
  const dir = tempDir();
  try {
    const store = vl.experiments.open(join(dir, "exp.jsonl"));
    const { runTiny } = await runner();
    let report: vl.Report | null = null;
    const r = await vl.experiment("tiny offload", TINY_CONFIG, async (c) => (report = await runTiny(c)));
    assert.ok(report);
    const rep = report as vl.Report;
    assert.deepEqual(r.metrics, {
      modelMemory: rep.summary.modelMemory, inferenceMemory: rep.summary.inferenceMemory, inferenceReserved: rep.info.inferenceReserved,
      timeMs: rep.summary.timeMs, computeMs: rep.info.computeMs, h2dBytes: rep.summary.h2dBytes, h2dSeconds: rep.summary.h2dSeconds, overlapMs: rep.info.overlapMs,
    });
    assert.ok(r.metrics.h2dBytes! > 0, "block offloading copies weights every step");
    assert.deepEqual(r.layers, rep.stepLayers(), "the rows of the last measured step");
    assert.ok(r.layers.length > 0 && r.layers.every((l) => l.step === 1));
    assert.equal(r.profile?.device, DEV);
    assert.equal(r.profile?.timeSource, "modelled");

    const env = r.environment;
    assert.equal(env.device, DEV);
    assert.ok(env.devices.includes(DEV));
    const sim = env.simDevices[DEV]!;
    assert.equal(sim.profile.name, "h100-sxm");
    assert.deepEqual(sim.profile, JSON.parse(JSON.stringify(vl.getSimProfile("h100-sxm"))));
    assert.equal(sim.memoryLimit, (vl.getDevice(DEV) as vl.SimDevice).memoryLimit);
    assert.equal(env.versions.node, process.version);
    const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "package.json"), "utf8"));
    assert.equal(env.versions.vramlab, pkg.version);
    assert.ok(env.versions.addon, "the loaded addon file is identified");
    assert.match(env.versions.addon.path, /vramlab_native\.node$/);
    assert.equal(env.versions.addon.sha256, createHash("sha256").update(readFileSync(env.versions.addon.path)).digest("hex"));
    assert.equal(env.cpu.level, vl.cpuInfo().level);
    assert.equal(env.cpu.threads, vl.getNumThreads());
    assert.equal(env.host.platform, process.platform);
    assert.equal(env.cuda.available, vl.cudaInfo().available);
    assert.equal(env.workdir, process.cwd());

    // the stored line holds the same record
    assert.deepEqual(new ExperimentStore(store.path).get(r.id).toJSON(), JSON.parse(JSON.stringify(r.toJSON())));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the git commit of the working folder: loose ref, packed ref, detached HEAD, modified tree; null outside a repository", async (t) => {
  if (spawnSync("git", ["--version"]).status !== 0) {
    t.skip("git is not installed");
    return;
  }
  const dir = tempDir();
  const git = (...args: string[]) => {
    const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main", ...args], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  try {
    const store = join(dir, "exp.jsonl");
    const outside = await vl.experiment("no repo", {}, () => ({ x: 1 }), { store, workdir: dir });
    assert.equal(outside.environment.git, null);

    git("init", "-q");
    writeFileSync(join(dir, "a.txt"), "one\n");
    git("add", "a.txt");
    git("commit", "-q", "-m", "first");
    const head = git("rev-parse", "HEAD");
    const rec = await vl.experiment("repo", {}, () => ({ x: 1 }), { store, workdir: dir });
    assert.deepEqual({ ...rec.environment.git }, { root: dir, commit: head, branch: "main", dirty: false });

    git("pack-refs", "--all");
    writeFileSync(join(dir, "a.txt"), "two\n");
    const packed = vl.experiments.gitState(join(dir));
    assert.deepEqual({ ...packed }, { root: dir, commit: head, branch: "main", dirty: true }, "packed ref read, tracked change seen");

    git("commit", "-q", "-am", "second");
    const second = git("rev-parse", "HEAD");
    git("checkout", "-q", head);
    const detached = vl.experiments.gitState(dir);
    assert.equal(detached?.commit, head);
    assert.equal(detached?.branch, null);
    assert.notEqual(second, head);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a throwing function is recorded as failed with its error, and the same error is thrown", async () => {
  const dir = tempDir();
  try {
    const store = vl.experiments.open(join(dir, "exp.jsonl"));
    const boom = new RangeError("budget exceeded at block 3");
    await assert.rejects(vl.experiment("fails", { budget: 1 }, async () => {
      throw boom;
    }), (e) => e === boom);
    const [r] = store.list();
    assert.equal(r!.status, "error");
    assert.equal(r!.ok, false);
    assert.equal(r!.error?.name, "RangeError");
    assert.equal(r!.error?.message, "budget exceeded at block 3");
    assert.match(r!.error?.stack ?? "", /experiments\.test\.js/);
    assert.deepEqual(r!.config, { budget: 1 });
    assert.deepEqual(r!.metrics, {});
    assert.equal(store.list({ status: "error" }).length, 1);

    // a return value that is not a result is a failure too, said clearly
    await assert.rejects(vl.experiment("bad return", {}, () => 42), /returned a number; return a Report \(vl\.profile\), metrics/);
    assert.equal(store.list({ status: "error" }).length, 2);

    // a config that is not JSON is refused before the function runs, and nothing is stored
    let ran = false;
    const t = vl.zeros([2]);
    await assert.rejects(vl.experiment("bad config", { model: { weights: t } }, () => void (ran = true)), /config\.model\.weights is a Tensor, not plain data/);
    await assert.rejects(vl.experiment("bad config", { lr: NaN }, () => void (ran = true)), /config\.lr is NaN/);
    t.dispose();
    assert.equal(ran, false);
    assert.equal(store.list().length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("outputs: displayables, bundles with binary parts and text are stored as MIME bundles; Infinity metrics survive", async () => {
  const dir = tempDir();
  try {
    const store = vl.experiments.open(join(dir, "exp.jsonl"));
    const figureLike = { [Symbol.for("Jupyter.display")]: async () => ({ "image/svg+xml": "<svg></svg>", "text/plain": "a figure" }) };
    const r = await vl.experiment("outputs", { k: 1 }, () => ({
      metrics: { sqnrDb: Infinity, err: 0.5 },
      outputs: [figureLike, "a line of text", { data: { "image/png": new Uint8Array([1, 2, 3]) }, metadata: {} }],
      notes: "reference run",
    }));
    const back = new ExperimentStore(store.path).get(r.id);
    assert.deepEqual(back.outputs, [{ "image/svg+xml": "<svg></svg>", "text/plain": "a figure" }, { "text/plain": "a line of text" }, { "image/png": "AQID" }]);
    assert.equal(back.metrics.sqnrDb, Infinity);
    assert.equal(back.metrics.err, 0.5);
    assert.equal(back.notes, "reference run");
    await assert.rejects(vl.experiment("bad output", {}, () => ({ outputs: [Symbol("x")] })), /outputs are text, displayable objects/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a torn last line (a crash mid-write) is skipped with a warning; later appends start on a new line and no record is lost", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "exp.jsonl");
    const store = vl.experiments.open(path);
    const a = await vl.experiment("one", { i: 1 }, () => ({ v: 1 }));
    const b = await vl.experiment("two", { i: 2 }, () => ({ v: 2 }));
    const whole = readFileSync(path, "utf8");
    const torn = whole.split("\n")[1]!.slice(0, 100);
    appendFileSync(path, torn); // what a crash halfway through a write leaves

    const reader = new ExperimentStore(path);
    const first = await capturingWarnings(() => reader.list());
    assert.deepEqual(first.value.map((r) => r.id), [a.id, b.id]);
    assert.equal(first.warnings.length, 1);
    assert.match(first.warnings[0]!, /exp\.jsonl line 3: incomplete last line .*; skipped \(the other records are kept\)/);
    assert.deepEqual(reader.skipped.map((s) => s.line), [3]);

    const c = await vl.experiment("three", { i: 3 }, () => ({ v: 3 }));
    const text = readFileSync(path, "utf8");
    assert.ok(text.includes(`${torn}\n{`), "the new record starts on its own line");
    const after = await capturingWarnings(() => reader.list());
    assert.deepEqual(after.value.map((r) => r.id), [a.id, b.id, c.id]);
    assert.deepEqual(after.warnings, [], "the torn line is warned about once");
    assert.equal(reader.skipped.length, 1);
    assert.match(reader.skipped[0]!.reason, /not valid JSON/);

    // a line edited by hand into something else is skipped too, and reading still goes on
    appendFileSync(path, '{"format":"something else"}\n');
    const d = await vl.experiment("four", { i: 4 }, () => ({ v: 4 }));
    const again = new ExperimentStore(path);
    const all = await capturingWarnings(() => again.list());
    assert.deepEqual(all.value.map((r) => r.id), [a.id, b.id, c.id, d.id]);
    assert.deepEqual(again.skipped.map((s) => [s.line, /JSON|not an experiment record/.test(s.reason)]), [[3, true], [5, true]]);
    assert.equal(all.warnings.length, 2);
    assert.equal((await capturingWarnings(() => store.list())).value.length, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("two processes appending at once: every record arrives whole, none interleaved", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "exp.jsonl");
    const perWriter = 120;
    const writer = `
      import { existsSync, writeFileSync } from "node:fs";
      import { ExperimentStore } from ${JSON.stringify(STORE_URL)};
      const [path, writer, count] = process.argv.slice(-3);
      const store = new ExperimentStore(path);
      // start together: each says it is ready and waits for the other
      writeFileSync(path + ".ready" + writer, "");
      const pause = new Int32Array(new SharedArrayBuffer(4));
      while (!existsSync(path + ".ready0") || !existsSync(path + ".ready1")) Atomics.wait(pause, 0, 0, 2);
      for (let i = 0; i < Number(count); i++) {
        // lines of 8 to 100 KB, far beyond a single page
        const payload = String.fromCharCode(97 + Number(writer)).repeat(8_000 + ((i * 7919) % 92_000));
        store.append({ format: "vramlab.experiment", version: 1, id: writer + "-" + i, name: "writer " + writer, time: new Date().toISOString(), durationMs: 0,
          status: "ok", error: null, config: { writer: Number(writer), i }, metrics: { i, length: payload.length }, profile: null, layers: [], environment: {},
          outputs: [{ "text/plain": payload }], rerunOf: null, tags: [], notes: null });
      }
    `;
    await Promise.all([0, 1].map((w) => runNode(writer, [path, String(w), String(perWriter)])));
    const { value: records, warnings } = await capturingWarnings(() => new ExperimentStore(path).list());
    assert.deepEqual(warnings, []);
    assert.equal(records.length, 2 * perWriter);
    for (const w of [0, 1]) {
      const mine = records.filter((r) => r.config.writer === w);
      assert.deepEqual(mine.map((r) => r.config.i), [...Array(perWriter).keys()], `writer ${w}: every record, in its own order`);
      const letter = String.fromCharCode(97 + w);
      for (const r of mine) {
        const text = r.outputs[0]!["text/plain"] as string;
        assert.equal(text.length, r.metrics.length);
        assert.ok(text === letter.repeat(text.length), "no bytes of the other writer inside");
      }
    }
    // the writers really overlapped: their records alternate somewhere in the file
    const order = records.map((r) => r.config.writer);
    const switches = order.filter((w, i) => i > 0 && w !== order[i - 1]).length;
    assert.ok(switches >= 2, `the two writers' lines interleave at line granularity (${switches} switches)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rerun from the stored record reproduces the config and the modelled memory and time", async () => {
  const dir = tempDir();
  try {
    const path = join(dir, "exp.jsonl");
    vl.experiments.open(path);
    const { runTiny } = await runner();
    const configs: TinyConfig[] = [
      TINY_CONFIG,
      { ...TINY_CONFIG, scheme: "fp8wo", storageDtype: null, offload: { offloadType: "leaf_level", useStream: false } },
      { ...TINY_CONFIG, scheme: "none", storageDtype: "float8_e4m3fn", offload: { offloadType: "none" } },
    ];
    for (const config of configs) {
      const original = await vl.experiment("rerun me", config, runTiny);
      const stored = new ExperimentStore(path).get(original.id);
      const again = await vl.experiments.rerun(stored, runTiny);
      assert.equal(again.rerunOf, original.id);
      assert.equal(again.name, "rerun me");
      assert.deepEqual(again.config, config, "the stored config is what ran again");
      // bytes are exact; modelled times are differences of the device's clock, which keeps running
      // between the runs, so the last bits of a float64 may differ (exact across fresh processes below)
      for (const [k, v] of Object.entries(original.metrics)) {
        if (vl.experiments.metricUnit(k) === "bytes") assert.equal(again.metrics[k], v, k);
        else assert.ok(Math.abs(again.metrics[k]! - v!) <= REL * Math.abs(v!), `${k}: ${again.metrics[k]} vs ${v}`);
      }
      assert.deepEqual(again.layers.map((l) => [l.name, l.bytes, l.peak, l.h2dBytes]), original.layers.map((l) => [l.name, l.bytes, l.peak, l.h2dBytes]));
    }
    assert.ok(new Set(vl.experiments.list("rerun me").map((r) => r.metrics.inferenceMemory)).size > 1, "the configs do change the measurement");

    // record in one process, rerun by id from the store in another: identical to the last bit
    const script = (action: string) => `
      import * as vl from ${JSON.stringify(ENGINE_URL)};
      import { runTiny } from ${JSON.stringify(pathToFileURL(runnerPath!).href)};
      vl.experiments.open(${JSON.stringify(join(dir, "cross.jsonl"))});
      const config = ${JSON.stringify(TINY_CONFIG)};
      const id = process.argv[process.argv.length - 1];
      const r = ${action};
      console.log(JSON.stringify({ id: r.id }));
    `;
    const first = JSON.parse(await runNode(script(`await vl.experiment("cross", config, runTiny)`), ["-"])).id as string;
    const second = JSON.parse(await runNode(script(`await vl.experiments.rerun(id, runTiny)`), [first])).id as string;
    const cross = new ExperimentStore(join(dir, "cross.jsonl"));
    const [a, b] = [cross.get(first), cross.get(second)];
    assert.equal(b.rerunOf, a.id);
    assert.deepEqual(b.config, a.config);
    assert.deepEqual(b.metrics, a.metrics);
    assert.deepEqual(b.layers.map(({ wallMs: _w, ...row }) => row), a.layers.map(({ wallMs: _w, ...row }) => row), "every modelled column of every row");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("compare: the differing config fields and the metrics as a table, a plotly figure with a panel per unit, failures in the table only", async () => {
  const dir = tempDir();
  try {
    const store = vl.experiments.open(join(dir, "exp.jsonl"));
    const MiB = 1024 * 1024;
    const base = { model: "tiny", device: DEV };
    const runs = [
      { scheme: "int8wo", blocks: 1, memory: 3 * MiB, time: 1.5, link: 0.001 },
      { scheme: "fp8wo", blocks: 1, memory: 2 * MiB, time: 2.5, link: 0.002 },
      { scheme: "fp8wo", blocks: 2, memory: 4 * MiB, time: 2, link: 0.004 },
    ];
    for (const r of runs) await vl.experiment("schemes", { ...base, scheme: r.scheme, offload: { blocks: r.blocks } }, () => ({ inferenceMemory: r.memory, timeMs: r.time, linkSeconds: r.link, sqnrDb: 30 }));
    await assert.rejects(vl.experiment("schemes", { ...base, scheme: "int4wo", offload: { blocks: 1 } }, () => {
      throw new Error("unsupported");
    }));
    await vl.experiment("elsewhere", { model: "tiny" }, () => ({ timeMs: 9 }));

    const cmp = vl.experiments.compare("schemes");
    assert.equal(cmp.records.length, 4);
    assert.deepEqual(cmp.configFields, ["scheme", "offload.blocks"], "model and device are the same everywhere");
    assert.deepEqual(cmp.metricNames, ["inferenceMemory", "timeMs", "linkSeconds", "sqnrDb"]);
    assert.deepEqual(cmp.rows.map((r) => r.label), ["int8wo · blocks=1", "fp8wo · blocks=1", "fp8wo · blocks=2", "int4wo · blocks=1"]);
    assert.deepEqual(cmp.toRows()[1], { id: cmp.records[1]!.id, name: "schemes", status: "ok", scheme: "fp8wo", "offload.blocks": 1, inferenceMemory: 2 * MiB, timeMs: 2.5, linkSeconds: 0.002, sqnrDb: 30 });
    assert.equal(cmp.rows[3]!.status, "error");

    const text = String(cmp);
    assert.match(text, /scheme\s+offload\.blocks\s+inferenceMemory\s+timeMs\s+linkSeconds\s+sqnrDb/);
    assert.match(text, /fp8wo\s+2\s+4\.0 MiB\s+2 ms\s+4 ms\s+30/);
    assert.match(text, /int4wo\s+1\s+-\s+-\s+-\s+-/);

    const fig = cmp.figure();
    const traces = fig.data as { name: string; x: string[]; y: (number | null)[]; xaxis: string; yaxis: string }[];
    assert.deepEqual(traces.map((t) => [t.name, t.xaxis, t.yaxis]), [
      ["inferenceMemory", "x", "y"], ["timeMs", "x2", "y2"], ["linkSeconds (in ms)", "x2", "y2"], ["sqnrDb", "x3", "y3"],
    ], "one panel per unit; seconds join the ms panel");
    assert.deepEqual(traces[0]!.x, ["int8wo · blocks=1", "fp8wo · blocks=1", "fp8wo · blocks=2"], "the failed run has no bars");
    assert.deepEqual(traces[0]!.y, [3, 2, 4], "memory in MiB");
    assert.deepEqual(traces[1]!.y, [1.5, 2.5, 2]);
    assert.deepEqual(traces[2]!.y, [1, 2, 4], "seconds as ms");
    assert.deepEqual((fig.layout.yaxis as { title: { text: string } }).title.text, "memory (MiB)");

    const bundle = (cmp as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("Jupyter.display")]();
    assert.deepEqual(bundle[vl.experiments.PLOTLY_MIME], fig);
    assert.equal(bundle["text/plain"], text);
    const html = bundle["text/html"] as string;
    assert.match(html, /<th style="text-align:left">offload\.blocks<\/th>/);
    assert.match(html, /<td style="text-align:right">3\.0 MiB<\/td>/);
    assert.ok(html.includes(vl.experiments.FIGURE_SVG_SLOT), "the kernel draws the figure into the HTML here");

    const mixed = store.compare({ where: (r) => r.ok && r.config.offload !== undefined ? r.config.scheme === "int8wo" : r.ok });
    assert.deepEqual(mixed.rows.map((r) => r.name), ["schemes", "elsewhere"]);
    assert.ok(mixed.rows[1]!.label.startsWith("elsewhere"), "names differ, so the label starts with the name");
    assert.throws(() => vl.experiments.compare("nothing by this name"), /no record in .*exp\.jsonl matches the filter \(names there: "schemes", "elsewhere"\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("recordRun stores a finished run (the control panel's record button) with the report's metrics", async () => {
  const dir = tempDir();
  try {
    vl.experiments.open(join(dir, "exp.jsonl"));
    const { runTiny } = await runner();
    const report = await runTiny(TINY_CONFIG);
    // the shape the control panel's onRecord hook receives: { config, report, label }
    const r = await vl.experiments.recordRun("panel", { config: { ...TINY_CONFIG }, report, label: "int8wo, block_level N=1", outputs: ["settings from the panel"] });
    assert.equal(r.notes, "int8wo, block_level N=1");
    assert.equal(r.metrics.inferenceMemory, report.summary.inferenceMemory);
    assert.equal(r.metrics.timeMs, report.summary.timeMs);
    assert.equal(r.environment.device, DEV);
    assert.deepEqual(r.outputs, [{ "text/plain": "settings from the panel" }]);
    assert.deepEqual(vl.experiments.get(r.id).config, TINY_CONFIG);
    await assert.rejects(vl.experiments.recordRun("panel", { config: {}, report: { summary: 1 } as never }), /result\.report \(Object\) is not a Report; give what vl\.profile returns/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
