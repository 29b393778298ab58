// Shared parts of the benchmark scripts: what machine and commit a result
// comes from, timing, a text table, and JSON files under bench/results/.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { native } from "../engine/native-binding.js";

/** The package root (holds package.json), found from this file's location in bench/ or dist/bench/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, "package.json"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("bench: cannot find the package root from " + fileURLToPath(import.meta.url));
}

export interface CpuDevice {
  /** "model name" from /proc/cpuinfo (os.cpus() elsewhere) */
  cpuModel: string;
  /** "family F model M" from /proc/cpuinfo, which tells generations apart when the name does not (VMs often report just "AMD EPYC") */
  cpuFamilyModel: string | null;
  logicalCpus: number;
  /** threads of the engine's pool */
  threads: number;
  /** instruction-set level the CPU kernels run at (VRAMLAB_CPU may cap it) */
  cpuLevel: string;
}

export function describeCpu(): CpuDevice {
  let cpuModel = cpus()[0]?.model ?? "unknown";
  let cpuFamilyModel: string | null = null;
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.+)$`, "m").exec(info)?.[1].trim();
    cpuModel = field("model name") ?? cpuModel;
    const family = field("cpu family"), model = field("model");
    if (family && model) cpuFamilyModel = `family ${family} model ${model}`;
  } catch {
    // not Linux: os.cpus() is the best we have
  }
  return { cpuModel, cpuFamilyModel, logicalCpus: cpus().length, threads: native.getNumThreads(), cpuLevel: native.cpuInfo().level };
}

/** Short hash of HEAD, with "+dirty" when the tree has uncommitted changes; "unknown" outside git. */
export function gitCommit(): string {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: packageRoot(), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const hash = git("rev-parse", "--short", "HEAD");
    return git("status", "--porcelain", "--untracked-files=no") ? `${hash}+dirty` : hash;
  } catch {
    return "unknown";
  }
}

/** Today's date as YYYY-MM-DD (UTC), used in result file names. */
export function isoDate(d = new Date()): string {
  return d.toISOString().slice(0, 10);
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface Timing {
  medianMs: number;
  minMs: number;
  runsMs: number[];
}

/** Runs fn `warmup` times untimed, then `runs` times; reports the median wall time. */
export async function timeRuns(fn: () => unknown, opts: { warmup?: number; runs?: number } = {}): Promise<Timing> {
  const { warmup = 2, runs = 7 } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    runsMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { medianMs: median(runsMs), minMs: Math.min(...runsMs), runsMs };
}

/**
 * Times several functions fairly on a shared, possibly busy machine: every
 * round runs each function once (in a rotating order) so that a burst of
 * outside load hits all of them alike; `pauseMs` between calls lets thread
 * pools that spin after a run (onnxruntime's) go idle first.
 */
export async function timeInterleaved<K extends string>(
  fns: Record<K, () => unknown>,
  opts: { warmup?: number; runs?: number; pauseMs?: number } = {},
): Promise<Record<K, Timing>> {
  const { warmup = 2, runs = 7, pauseMs = 0 } = opts;
  const names = Object.keys(fns) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  const pause = () => (pauseMs > 0 ? new Promise((r) => setTimeout(r, pauseMs)) : Promise.resolve());
  for (let round = 0; round < warmup + runs; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      await pause();
      const t0 = process.hrtime.bigint();
      await fns[name]();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (round >= warmup) samples[name].push(ms);
    }
  }
  return Object.fromEntries(names.map((n) => [n, { medianMs: median(samples[n]), minMs: Math.min(...samples[n]), runsMs: samples[n] }])) as Record<K, Timing>;
}

/** Writes bench/results/<name>-<date>.json under the package root and returns its path. */
export function writeResults(name: string, payload: unknown): string {
  const dir = join(packageRoot(), "bench", "results");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}-${isoDate()}.json`);
  writeFileSync(path, JSON.stringify(payload, null, 2) + "\n");
  return path;
}

export type Cell = string | number | null | undefined;

/** Prints rows as an aligned text table; numbers are right-aligned. */
export function printTable(columns: readonly string[], rows: readonly (readonly Cell[])[]): void {
  const text = (c: Cell) => (c === null || c === undefined ? "-" : String(c));
  const widths = columns.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i]).length)));
  const line = (cells: readonly Cell[]) =>
    cells.map((c, i) => (typeof c === "number" ? text(c).padStart(widths[i]) : text(c).padEnd(widths[i]))).join("  ");
  console.log(line(columns));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}
