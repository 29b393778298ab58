// The `kernel`, `install` and `run` subcommands of bin/vramlab.js.
import { existsSync } from "node:fs";
import { installKernelSpec, type InstallOptions } from "./install.js";
import { parseParameterArgument } from "./notebook-parameters.js";
import type { JsonValue } from "./notebook-format.js";

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

// ---- vramlab run ------------------------------------------------------------------

export const RUN_USAGE = `usage: vramlab run NOTEBOOK [-p NAME=VALUE ...] [-r NAME=VALUE ...] [-o OUT] [--timeout S] [--html OUT.html] [options]

Executes NOTEBOOK top to bottom in the vramlab kernel and saves the executed
notebook with its outputs and widget state. Exits 0 when every cell ran,
1 when a cell failed, timed out or the kernel died (the outputs up to there
are saved all the same), 2 for bad arguments.

  -p, --parameter NAME=VALUE  set a parameter (also -p NAME VALUE). The cell
                        tagged "parameters" holds the defaults; a cell tagged
                        "injected-parameters" with const NAME = VALUE; is
                        inserted after it. VALUE is read like papermill's -p:
                        true/false, null, numbers and JSON become those values,
                        anything else is a string.
  -r, --parameter-raw NAME=VALUE  a parameter whose value is always a string
  -o, --output OUT      where the executed notebook goes (default: NOTEBOOK with
                        .out.ipynb instead of .ipynb; "-" writes it to stdout;
                        OUT may be NOTEBOOK itself to update it in place)
  --timeout S           seconds one cell may run; a slower cell is interrupted
                        and the run fails (default: no limit)
  --startup-timeout S   seconds the kernel may take to start (default 60)
  --cwd DIR             the kernel's working directory (default: the notebook's folder)
  --html OUT.html       also export a self-contained HTML page (no network
                        needed: markdown, outputs, figures and live widgets)
  --html-figures plotly|svg  interactive plotly figures (plotly.js inlined,
                        about 4.6 MB) or their SVG drawings only (default plotly)
  -q, --quiet           no progress lines on stderr

Cells tagged "skip-execution" are not run; a cell tagged "raises-exception"
may fail without stopping the run.`;

export interface RunArguments {
  notebook: string;
  parameters: Record<string, JsonValue>;
  output?: string;
  timeoutSeconds?: number;
  startupTimeoutSeconds?: number;
  cwd?: string;
  html?: string;
  htmlFigures?: "plotly" | "svg";
  quiet: boolean;
  help: boolean;
}

function positiveSeconds(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} needs a number of seconds greater than 0, got "${v}"\n${RUN_USAGE.split("\n")[0]}`);
  return n;
}

/** Parses `vramlab run` arguments; throws UsageError saying what was wrong. */
export function parseRunArguments(args: string[]): RunArguments {
  const usageLine = RUN_USAGE.split("\n")[0];
  const out: RunArguments = { notebook: "", parameters: {}, quiet: false, help: false };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value\n${usageLine}`);
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        out.help = true;
        break;
      case "-p":
      case "--parameter":
      case "-r":
      case "--parameter-raw": {
        const raw = flag === "-r" || flag === "--parameter-raw";
        let spec = value();
        // papermill's form: -p NAME VALUE
        if (!spec.includes("=") && i + 1 < args.length && !args[i + 1].startsWith("-")) spec = `${spec}=${args[++i]}`;
        try {
          const [name, v] = parseParameterArgument(spec, raw);
          out.parameters[name] = v;
        } catch (e) {
          throw new UsageError(`${(e as Error).message}\n${usageLine}`);
        }
        break;
      }
      case "-o":
      case "--output":
        out.output = value();
        break;
      case "--timeout":
        out.timeoutSeconds = positiveSeconds(flag, value());
        break;
      case "--startup-timeout":
        out.startupTimeoutSeconds = positiveSeconds(flag, value());
        break;
      case "--cwd":
        out.cwd = value();
        break;
      case "--html":
        out.html = value();
        break;
      case "--html-figures": {
        const v = value();
        if (v !== "plotly" && v !== "svg") throw new UsageError(`--html-figures is "plotly" or "svg", got "${v}"\n${usageLine}`);
        out.htmlFigures = v;
        break;
      }
      case "-q":
      case "--quiet":
        out.quiet = true;
        break;
      default:
        if (a.startsWith("-") && a !== "-") throw new UsageError(`unknown option "${a}"\n${usageLine}\n(vramlab run --help lists the options)`);
        positional.push(a);
    }
  }
  if (out.help) return out;
  if (positional.length === 0) throw new UsageError(`which notebook? ${usageLine}`);
  if (positional.length > 1) throw new UsageError(`one notebook at a time; got ${positional.map((p) => `"${p}"`).join(", ")} (use -o for the output path)\n${usageLine}`);
  out.notebook = positional[0];
  if (!existsSync(out.notebook)) throw new UsageError(`notebook "${out.notebook}" does not exist`);
  if (out.cwd !== undefined && !existsSync(out.cwd)) throw new UsageError(`--cwd "${out.cwd}" does not exist`);
  if (out.html !== undefined && !out.html.endsWith(".html") && !out.html.endsWith(".htm")) throw new UsageError(`--html names the page to write, ending in .html (got "${out.html}")`);
  return out;
}

/** `vramlab run`: returns the exit code (0 ok, 1 the notebook failed); bad arguments throw UsageError. */
export async function runCommand(args: string[]): Promise<number> {
  const a = parseRunArguments(args);
  if (a.help) {
    console.log(RUN_USAGE);
    return 0;
  }
  const { runNotebookFile } = await import("./notebook-runner.js");
  const say = (line: string) => {
    if (!a.quiet) process.stderr.write(`vramlab run: ${line}\n`);
  };
  say(`executing ${a.notebook}`);
  const run = await runNotebookFile(a.notebook, {
    parameters: a.parameters,
    output: a.output,
    cellTimeoutSeconds: a.timeoutSeconds,
    startupTimeoutSeconds: a.startupTimeoutSeconds,
    cwd: a.cwd,
    html: a.html,
    htmlFigures: a.htmlFigures,
    log: say,
  });
  const where = run.outputPath === "-" ? "stdout" : run.outputPath;
  if (run.failure) {
    // Always printed, --quiet or not: this is the answer to "why did it fail".
    process.stderr.write(
      `vramlab run: ${a.notebook}: ${run.failure.message}\n` +
        `vramlab run: the executed notebook${run.failure.cellIndex !== null ? ", with the outputs up to the failure," : ""} was written to ${where}` +
        (run.htmlPath ? ` (page: ${run.htmlPath})` : "") +
        "\n",
    );
    return 1;
  }
  say(`${run.executedCells} cell${run.executedCells === 1 ? "" : "s"} in ${run.seconds.toFixed(1)} s; wrote ${where}${run.htmlPath ? ` and ${run.htmlPath}` : ""}`);
  return 0;
}
