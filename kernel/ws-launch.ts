// Starts a vramlab kernel process the way jupyter_client does: free ports,
// a random HMAC key, a connection file, `vramlab kernel -f FILE`, then
// waits until it answers on shell and publishes on iopub.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ConnectionInfo } from "./connection.js";
import { ZmqKernelClient } from "./ws-zmq-client.js";

export interface LaunchOptions {
  /** the kernel's working directory (module resolution of cells), default process.cwd() */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** ms to wait for the kernel to answer, default 60000 */
  startTimeoutMs?: number;
  /** where the kernel's stderr goes: "inherit" or a callback per chunk (default: kept, shown if it fails to start) */
  stderr?: "inherit" | ((text: string) => void);
}

export interface LaunchedKernel {
  connection: ConnectionInfo;
  connectionFile: string;
  process: ChildProcess;
  /** null while it runs, else why it ended */
  exitReason(): string | null;
  /** shutdown_request on control, then SIGKILL after timeoutMs if it is still there */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Ports the OS says are free now (the kernel binds them a moment later, as with jupyter_client). */
async function freePorts(n: number, host: string): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import("node:net").Server>((res, rej) => {
      const s = createServer();
      s.once("error", rej);
      s.listen(0, host, () => res(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as import("node:net").AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** bin/vramlab.js of this package (from kernel/ in the sources or dist/kernel/ when built). */
function binScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 3; i++) {
    dir = resolve(dir, "..");
    const candidate = join(dir, "bin", "vramlab.js");
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`cannot find bin/vramlab.js above ${fileURLToPath(import.meta.url)}`);
}

export async function launchKernel(options: LaunchOptions = {}): Promise<LaunchedKernel> {
  const ip = "127.0.0.1";
  const [shell, control, iopub, stdin, hb] = await freePorts(5, ip);
  const connection: ConnectionInfo = {
    transport: "tcp", ip, shell_port: shell, control_port: control, iopub_port: iopub, stdin_port: stdin, hb_port: hb,
    key: randomBytes(32).toString("hex"), signature_scheme: "hmac-sha256",
  };
  const dir = mkdtempSync(join(tmpdir(), "vramlab-bridge-"));
  const connectionFile = join(dir, "kernel.json");
  writeFileSync(connectionFile, JSON.stringify({ ...connection, kernel_name: "vramlab" }, null, 1), { mode: 0o600 });
  const child = spawn(process.execPath, [binScript(), "kernel", "--connection-file", connectionFile], {
    cwd: options.cwd ?? process.cwd(),
    // as jupyter_client does: the kernel ends itself when this process dies
    env: { ...(options.env ?? process.env), JPY_PARENT_PID: String(process.pid) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderrTail = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    stderrTail = (stderrTail + d).slice(-4000);
    if (options.stderr === "inherit") process.stderr.write(d);
    else if (typeof options.stderr === "function") options.stderr(d);
  });
  let exit: string | null = null;
  const exited = new Promise<void>((res) => {
    child.once("exit", (code, signal) => {
      exit = `the kernel process ${child.pid} exited (${signal ?? `code ${code}`})`;
      rmSync(dir, { recursive: true, force: true });
      res();
    });
    child.once("error", (e) => {
      exit = `cannot start the kernel: ${e.message}`;
      res();
    });
  });
  const handle: LaunchedKernel = {
    connection,
    connectionFile,
    process: child,
    exitReason: () => exit,
    async shutdown(timeoutMs = 3000) {
      if (exit) return;
      const client = new ZmqKernelClient(connection);
      try {
        await client.send(client.request("control", "shutdown_request", { restart: false }));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        await exited;
        clearTimeout(timer);
      } finally {
        client.close();
      }
    },
  };
  const probe = new ZmqKernelClient(connection);
  try {
    await probe.nudge(options.startTimeoutMs ?? 60_000, () => (exit ? `${exit} before answering:\n${stderrTail}` : null));
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  } finally {
    probe.close();
  }
  return handle;
}
