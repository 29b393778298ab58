// The `kernel` and `install` subcommands of bin/vramlab.js.
import { installKernelSpec, type InstallOptions } from "./install.js";

export class UsageError extends Error {}

export const KERNEL_USAGE = "usage: vramlab kernel --connection-file FILE";
export const INSTALL_USAGE = "usage: vramlab install [--user | --prefix PREFIX | --sys-prefix [--python PY]] [--name NAME] [--display-name TEXT]";

/** Reads `--flag value` and `--flag=value` pairs; every flag must be known. */
function parseFlags(args: string[], withValue: Set<string>, boolean: Set<string>, usage: string): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf("=");
    const flag = eq > 0 ? a.slice(0, eq) : a;
    if (withValue.has(flag)) {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value\n${usage}`);
      out.set(flag, v);
    } else if (boolean.has(flag) && eq < 0) {
      out.set(flag, true);
    } else {
      throw new UsageError(`unknown argument "${a}"\n${usage}`);
    }
  }
  return out;
}

export async function kernelCommand(args: string[]): Promise<void> {
  const flags = parseFlags(args, new Set(["--connection-file", "-f"]), new Set(), KERNEL_USAGE);
  const file = (flags.get("--connection-file") ?? flags.get("-f")) as string | undefined;
  if (!file) throw new UsageError(`the connection file is missing\n${KERNEL_USAGE}`);
  const { runKernel } = await import("./server.js");
  await runKernel({ connectionFile: file });
}

export function installCommand(args: string[]): string {
  const flags = parseFlags(args, new Set(["--prefix", "--name", "--display-name", "--python"]), new Set(["--user", "--sys-prefix"]), INSTALL_USAGE);
  const chosen = ["--user", "--prefix", "--sys-prefix"].filter((f) => flags.has(f));
  if (chosen.length > 1) throw new UsageError(`choose one of --user, --prefix and --sys-prefix (got ${chosen.join(" and ")})\n${INSTALL_USAGE}`);
  if (flags.has("--python") && !flags.has("--sys-prefix")) throw new UsageError(`--python only goes with --sys-prefix\n${INSTALL_USAGE}`);
  const location: InstallOptions["location"] = flags.has("--prefix")
    ? { kind: "prefix", prefix: flags.get("--prefix") as string }
    : flags.has("--sys-prefix")
      ? { kind: "sys-prefix", python: flags.get("--python") as string | undefined }
      : { kind: "user" };
  return installKernelSpec({ location, name: flags.get("--name") as string | undefined, displayName: flags.get("--display-name") as string | undefined });
}
