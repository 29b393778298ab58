// The connection file Jupyter writes for a kernel: transport, ip, five
// ports, and the signing key and scheme.
import { readFileSync } from "node:fs";

export interface ConnectionInfo {
  transport: "tcp" | "ipc";
  ip: string;
  shell_port: number;
  control_port: number;
  iopub_port: number;
  stdin_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
}

export const SOCKET_NAMES = ["shell", "control", "iopub", "stdin", "hb"] as const;
export type SocketName = (typeof SOCKET_NAMES)[number];

/** Reads and validates a connection file; errors name the file and the field. */
export function readConnectionFile(path: string): ConnectionInfo {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read connection file ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`connection file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  return parseConnectionInfo(raw, path);
}

export function parseConnectionInfo(raw: unknown, source = "connection info"): ConnectionInfo {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new Error(`${source}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  const transport = o.transport ?? "tcp";
  if (transport !== "tcp" && transport !== "ipc") throw new Error(`${source}: transport must be "tcp" or "ipc", got ${JSON.stringify(transport)}`);
  const ip = o.ip ?? "127.0.0.1";
  if (typeof ip !== "string" || !ip) throw new Error(`${source}: ip must be a non-empty string`);
  const port = (name: SocketName): number => {
    const v = o[`${name}_port`];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 65535) throw new Error(`${source}: ${name}_port must be an integer port number, got ${JSON.stringify(v)}`);
    return v;
  };
  const key = o.key ?? "";
  if (typeof key !== "string") throw new Error(`${source}: key must be a string`);
  const scheme = o.signature_scheme ?? "hmac-sha256";
  if (typeof scheme !== "string") throw new Error(`${source}: signature_scheme must be a string`);
  return {
    transport,
    ip,
    shell_port: port("shell"),
    control_port: port("control"),
    iopub_port: port("iopub"),
    stdin_port: port("stdin"),
    hb_port: port("hb"),
    key,
    signature_scheme: scheme,
  };
}

/** The zeromq endpoint of one socket ("tcp://127.0.0.1:5555", or "ipc://path-5555"). */
export function endpoint(info: ConnectionInfo, name: SocketName): string {
  const port = info[`${name}_port`];
  if (info.transport === "ipc") return `ipc://${info.ip}-${port}`;
  const host = info.ip.includes(":") ? `[${info.ip}]` : info.ip;
  return `tcp://${host}:${port === 0 ? "*" : port}`;
}
