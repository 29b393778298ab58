// `vramlab serve`: the live page in a browser, connected to a vramlab kernel
// through the websocket bridge: a kernel it starts, or one already running
// (--connection-file, e.g. a kernel JupyterLab started).
import { readConnectionFile } from "./connection.js";
import { startBridge, type KernelBridge } from "./ws-bridge.js";
import { launchKernel, type LaunchedKernel } from "./ws-launch.js";

export const SERVE_USAGE = "usage: vramlab serve [--connection-file FILE] [--host HOST] [--port PORT] [--no-token]";

export interface ServeOptions {
  connectionFile?: string;
  host?: string;
  port?: number;
  token?: string;
  cwd?: string;
}

export interface Served {
  bridge: KernelBridge;
  /** the kernel this call started, if it started one */
  kernel: LaunchedKernel | null;
  /** closes the bridge, and shuts down the kernel if it started it */
  stop(): Promise<void>;
}

export async function serve(options: ServeOptions = {}): Promise<Served> {
  const kernel = options.connectionFile ? null : await launchKernel({ cwd: options.cwd, stderr: "inherit" });
  const connection = kernel ? kernel.connection : readConnectionFile(options.connectionFile!);
  let bridge: KernelBridge;
  try {
    bridge = await startBridge({ connection, host: options.host, port: options.port, token: options.token });
  } catch (e) {
    await kernel?.shutdown();
    throw e;
  }
  kernel?.process.once("exit", () => bridge.kernelDied(kernel.exitReason() ?? "the kernel exited"));
  return {
    bridge,
    kernel,
    async stop() {
      await bridge.close();
      await kernel?.shutdown();
    },
  };
}

/** Parses the command line, serves until SIGINT/SIGTERM. */
export async function serveCommand(args: string[]): Promise<void> {
  const options: ServeOptions = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].includes("=") ? [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)] : [args[i], undefined];
    const value = () => {
      const v = inline ?? args[++i];
      if (v === undefined || v === "") throw new Error(`${flag} needs a value\n${SERVE_USAGE}`);
      return v;
    };
    if (flag === "--help" || flag === "-h") {
      process.stdout.write(`${SERVE_USAGE}\n\n  --connection-file FILE  attach to a running kernel instead of starting one\n  --host HOST, --port P   where to listen (default 127.0.0.1 and a free port)\n  --no-token              no access token (only on a trusted machine)\n`);
      return;
    }
    if (flag === "--connection-file" || flag === "-f") options.connectionFile = value();
    else if (flag === "--host") options.host = value();
    else if (flag === "--port") {
      const p = Number(value());
      if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`--port must be a port number\n${SERVE_USAGE}`);
      options.port = p;
    } else if (flag === "--no-token") options.token = "";
    else throw new Error(`unknown argument "${args[i]}"\n${SERVE_USAGE}`);
  }
  const served = await serve(options);
  process.stdout.write(`vramlab live page: ${served.bridge.pageUrl}\n`);
  const stop = () => void served.stop().finally(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
