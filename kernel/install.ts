// `vramlab install`: writes the kernelspec (kernel.json and logos) where
// Jupyter looks for kernels.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { logoPng } from "./logo.js";
import { packageRoot } from "./resolution.js";

export interface InstallOptions {
  /** where: the per-user data dir (default), a prefix (PREFIX/share/jupyter/kernels), or Python's sys.prefix */
  location?: { kind: "user" } | { kind: "prefix"; prefix: string } | { kind: "sys-prefix"; python?: string };
  /** kernelspec name (directory name), default "vramlab" */
  name?: string;
  displayName?: string;
  /** node binary in argv (default: the one running this) */
  node?: string;
}

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: "message" | "signal";
  env: Record<string, string>;
  metadata: Record<string, unknown>;
}

/** Jupyter's per-user data directory, as jupyter_core computes it. */
export function jupyterUserDataDir(): string {
  if (process.env.JUPYTER_DATA_DIR) return resolve(process.env.JUPYTER_DATA_DIR);
  if (process.platform === "darwin") return join(homedir(), "Library", "Jupyter");
  if (process.platform === "win32") return join(process.env.APPDATA ?? join(homedir(), "AppData", "Roaming"), "jupyter");
  return join(process.env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "jupyter");
}

function sysPrefix(python: string): string {
  try {
    return execFileSync(python, ["-c", "import sys; print(sys.prefix)"], { encoding: "utf8" }).trim();
  } catch (e) {
    throw new Error(`--sys-prefix: cannot run ${python} to find sys.prefix (${(e as Error).message.split("\n")[0]}); use --prefix instead`);
  }
}

export function kernelSpec(opts: Pick<InstallOptions, "displayName" | "node"> = {}): KernelSpec {
  return {
    argv: [opts.node ?? process.execPath, join(packageRoot(), "bin", "vramlab.js"), "kernel", "--connection-file", "{connection_file}"],
    display_name: opts.displayName ?? "TypeScript (vramlab)",
    language: "typescript",
    interrupt_mode: "message",
    env: {},
    metadata: { debugger: false },
  };
}

/** Writes the kernelspec; returns its directory. */
export function installKernelSpec(opts: InstallOptions = {}): string {
  const name = opts.name ?? "vramlab";
  if (!/^[a-z0-9._-]+$/i.test(name)) throw new Error(`invalid kernel name "${name}": use letters, digits, ".", "_" and "-"`);
  const loc = opts.location ?? { kind: "user" };
  const base =
    loc.kind === "user" ? join(jupyterUserDataDir(), "kernels")
    : loc.kind === "prefix" ? join(resolve(loc.prefix), "share", "jupyter", "kernels")
    : join(sysPrefix(loc.python ?? process.env.VRAMLAB_PYTHON ?? "python3"), "share", "jupyter", "kernels");
  const dir = join(base, name.toLowerCase());
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "kernel.json"), JSON.stringify(kernelSpec(opts), null, 2) + "\n");
  writeFileSync(join(dir, "logo-64x64.png"), logoPng(64));
  writeFileSync(join(dir, "logo-32x32.png"), logoPng(32));
  return dir;
}
