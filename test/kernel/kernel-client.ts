// Runs a Python client scenario (test/kernel/client/*.py) against the
// kernel with Debian's jupyter_client: installs the kernelspec into a
// temporary prefix, points JUPYTER_PATH at it, runs the script with a
// time limit, parses the JSON it prints last, and kills any kernel left
// behind.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { installKernelSpec } from "../../kernel/install.js";
import { logoPng } from "../../kernel/logo.js";
import { runProcess } from "../run-process.js";

export const PYTHON = process.env.VRAMLAB_PYTHON ?? "/usr/bin/python3";

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "test", "kernel", "client"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("kernel tests: cannot find the package root");
}

/** Throws a clear error when the Python client libraries are missing. */
export function requireJupyterClient(): void {
  const r = spawnSync(PYTHON, ["-c", "import jupyter_client, nbclient, nbformat, zmq"], { encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(
      `the kernel tests drive the kernel from ${PYTHON} with jupyter_client, nbclient and nbformat, which are missing:\n${r.stderr || r.error}\n` +
        "install them with: apt-get install -y python3-jupyter-client python3-nbclient python3-nbformat (.ci/run does this)",
    );
  }
}

/** A temporary Jupyter setup: a kernelspec under <dir>/share/jupyter and the env that selects it. */
export interface JupyterSandbox {
  dir: string;
  kernelName: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

export function jupyterSandbox(): JupyterSandbox {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-kernel-test-"));
  const kernelName = `vramlab-test-${process.pid}`;
  installKernelSpec({ location: { kind: "prefix", prefix: dir }, name: kernelName });
  const logo = join(dir, "logo.png");
  writeFileSync(logo, logoPng(64));
  const pidFile = join(dir, "kernel-pids");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: join(dir, "share", "jupyter"),
    JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
    JUPYTER_DATA_DIR: join(dir, "data"),
    JUPYTER_CONFIG_DIR: join(dir, "config"),
    JUPYTER_PLATFORM_DIRS: "1",
    PYDEVD_DISABLE_FILE_VALIDATION: "1",
    // no __pycache__ next to the client scripts in the source tree
    PYTHONDONTWRITEBYTECODE: "1",
    VRAMLAB_KERNEL_NAME: kernelName,
    VRAMLAB_TEST_PIDFILE: pidFile,
    VRAMLAB_TEST_LOGO: logo,
    VRAMLAB_HISTORY_FILE: join(dir, "history.jsonl"),
    VRAMLAB_STUCK_WARNING_SECONDS: "1",
  };
  return {
    dir,
    kernelName,
    env,
    cleanup() {
      if (existsSync(pidFile)) {
        for (const line of readFileSync(pidFile, "utf8").split("\n")) {
          const pid = Number(line);
          if (!pid) continue;
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone, as it should be
          }
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ScenarioResult {
  results: Record<string, any>;
  stderr: string;
  seconds: number;
}

/** Runs test/kernel/client/<name>.py in a sandbox; rejects with the script's failure and the kernel log. */
export async function runScenario(name: string, timeoutMs = 150_000): Promise<ScenarioResult> {
  requireJupyterClient();
  const box = jupyterSandbox();
  const script = join(packageRoot(), "test", "kernel", "client", `${name}.py`);
  const t0 = performance.now();
  try {
    const { code, stdout, stderr } = await runProcess(PYTHON, [script], { cwd: box.dir, env: box.env, timeoutMs, what: `${name}.py` });
    const last = stdout.trim().split("\n").pop() ?? "";
    let results: Record<string, any>;
    try {
      results = JSON.parse(last) as Record<string, any>;
    } catch {
      throw new Error(`${name}.py printed no JSON result (exit ${code})\nstdout: ${stdout.slice(-2000)}\nstderr: ${stderr.slice(-4000)}`);
    }
    if (results.failure) throw new Error(`${name}.py failed: ${results.failure}\n${results.failure_traceback}\nkernel log:\n${stderr.slice(-4000)}`);
    return { results, stderr, seconds: (performance.now() - t0) / 1000 };
  } finally {
    box.cleanup();
  }
}

/** Output messages of one recorded execution, by type. */
export function outputsOf(run: { outputs: { msg_type: string; content: any }[] }, type: string): any[] {
  return run.outputs.filter((o) => o.msg_type === type).map((o) => o.content);
}
