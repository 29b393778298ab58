// A websocket-to-zeromq bridge for one kernel: serves the live page
// (dist/browser, built by scripts/build-browser-live.mjs) and the part of
// jupyter_server's kernel API that @jupyterlab/services' KernelConnection
// uses: GET /api/kernels[/<id>], POST /api/kernels/<id>/interrupt and the
// websocket /api/kernels/<id>/channels with the v1.kernel.websocket.jupyter.org
// subprotocol. Each websocket gets its own zeromq sockets (signed with the
// connection key), so replies reach the client that asked.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";
import type { ConnectionInfo } from "./connection.js";
import { logoPng } from "./logo.js";
import { decodeWsMessage, encodeWsMessage, WS_KERNEL_PROTOCOL } from "./ws-frames.js";
import { ZmqKernelClient } from "./ws-zmq-client.js";

export interface BridgeOptions {
  connection: ConnectionInfo;
  /** default 127.0.0.1 */
  host?: string;
  /** default 0 (any free port) */
  port?: number;
  /** the page's files (default: this package's dist/browser) */
  staticDir?: string;
  /** required as ?token= or "Authorization: token ..." on the API and websocket; default random, "" turns it off */
  token?: string;
  kernelName?: string;
  /** ms to wait for the kernel to answer before giving up (default 30000) */
  readyTimeoutMs?: number;
  log?: (text: string) => void;
}

export interface KernelBridge {
  /** http://host:port/ */
  url: string;
  /** the page with the token in its query, what a person opens */
  pageUrl: string;
  kernelId: string;
  token: string;
  /** marks the kernel dead (e.g. its process exited): websockets close, GET reports execution_state "dead" */
  kernelDied(reason: string): void;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".eot": "application/vnd.ms-fontobject",
};

export function defaultStaticDir(): string {
  return fileURLToPath(new URL("../browser/", import.meta.url));
}

function pageHtml(kernelId: string, kernelName: string): string {
  const config = JSON.stringify({ kernelId, kernelName }).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vramlab live</title>
<link rel="stylesheet" href="live.css">
<script id="vramlab-live-config" type="application/json">${config}</script>
</head>
<body>
<div id="vramlab-live"></div>
<script src="live.js"></script>
</body>
</html>
`;
}

export async function startBridge(options: BridgeOptions): Promise<KernelBridge> {
  const log = options.log ?? ((t: string) => process.stderr.write(`[vramlab bridge] ${t}\n`));
  const token = options.token ?? randomBytes(24).toString("hex");
  const kernelId = randomUUID();
  const kernelName = options.kernelName ?? "vramlab";
  const staticDir = resolve(options.staticDir ?? defaultStaticDir());
  let dead: string | null = null;
  let executionState = "starting";
  let lastActivity = new Date().toISOString();
  const sockets = new Set<WebSocket>();

  // One client of its own watches the kernel's status for GET /api/kernels/<id>, and proves the kernel is there.
  const monitor = new ZmqKernelClient(options.connection, log);
  await monitor.nudge(options.readyTimeoutMs ?? 30_000).catch((e: Error) => {
    monitor.close();
    throw new Error(`vramlab bridge: ${e.message}`);
  });
  monitor.onMessage((m) => {
    if (m.channel !== "iopub") return;
    lastActivity = m.header.date ?? new Date().toISOString();
    if (m.header.msg_type === "status" && typeof m.content.execution_state === "string") executionState = m.content.execution_state;
  });
  executionState = "idle";

  const model = () => ({ id: kernelId, name: kernelName, last_activity: lastActivity, execution_state: dead ? "dead" : executionState, connections: sockets.size, reason: dead ?? undefined });

  const authorized = (req: IncomingMessage, url: URL): boolean => {
    if (!token) return true;
    const given = url.searchParams.get("token") ?? /^token\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(status === 204 ? undefined : JSON.stringify(body));
  };

  const serveStatic = async (res: ServerResponse, pathname: string) => {
    if (pathname === "/" || pathname === "/index.html") {
      res.writeHead(200, { "content-type": CONTENT_TYPES[".html"], "cache-control": "no-store" });
      res.end(pageHtml(kernelId, kernelName));
      return;
    }
    if (pathname === "/favicon.ico") {
      res.writeHead(200, { "content-type": "image/png" });
      res.end(logoPng(32));
      return;
    }
    const file = normalize(join(staticDir, decodeURIComponent(pathname)));
    if (!file.startsWith(staticDir + sep)) return json(res, 403, { message: "outside the static folder" });
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      const hint = pathname === "/live.js" ? ` (build the page with: node scripts/build-browser-live.mjs)` : "";
      json(res, 404, { message: `no ${pathname} in ${staticDir}${hint}` });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://bridge");
    const parts = url.pathname.split("/").filter(Boolean);
    if (parts[0] !== "api") return serveStatic(res, url.pathname);
    if (!authorized(req, url)) return json(res, 403, { message: "missing or wrong token: open the page URL the bridge printed (it carries ?token=...)" });
    if (parts[1] !== "kernels") return json(res, 404, { message: `the vramlab bridge serves /api/kernels only, not ${url.pathname}` });
    if (parts.length === 2 && req.method === "GET") return json(res, 200, [model()]);
    if (parts[2] !== kernelId) return json(res, 404, { message: `no kernel ${parts[2]}; this bridge has kernel ${kernelId}` });
    if (parts.length === 3 && req.method === "GET") return json(res, 200, model());
    if (parts.length === 4 && parts[3] === "interrupt" && req.method === "POST") {
      await monitor.send(monitor.request("control", "interrupt_request"));
      return json(res, 204, null);
    }
    if (parts.length === 4 && parts[3] === "restart" && req.method === "POST") {
      return json(res, 501, { message: "the vramlab bridge cannot restart its kernel: stop the bridge and start it again" });
    }
    return json(res, 405, { message: `${req.method} ${url.pathname} is not supported by the vramlab bridge` });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: Error) => {
      log(`${req.method} ${req.url} failed: ${e.message}`);
      if (!res.headersSent) json(res, 500, { message: e.message });
      else res.end();
    });
  });

  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has(WS_KERNEL_PROTOCOL) ? WS_KERNEL_PROTOCOL : false),
  });

  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://bridge");
    const ok = url.pathname === `/api/kernels/${kernelId}/channels` && authorized(req, url) && !dead;
    if (!ok) {
      socket.end(`HTTP/1.1 ${dead ? 410 : 403} Forbidden\r\nconnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => void attach(ws));
  });

  async function attach(ws: WebSocket): Promise<void> {
    if (ws.protocol !== WS_KERNEL_PROTOCOL) {
      ws.close(1002, `the vramlab bridge speaks the ${WS_KERNEL_PROTOCOL} subprotocol only`);
      return;
    }
    sockets.add(ws);
    const client = new ZmqKernelClient(options.connection, log);
    const early: Buffer[] = [];
    let ready = false;
    const forward = (data: Buffer) => {
      const decoded = decodeWsMessage(data);
      if (!decoded.ok) return log(`dropped a websocket message: ${decoded.reason}`);
      const m = decoded.message;
      if (m.channel === "iopub") return log(`dropped a websocket message on iopub (${m.header.msg_type}): clients do not publish`);
      client.send({ ...m, channel: m.channel }).catch((e: Error) => log(`sending ${m.header.msg_type} to the kernel failed: ${e.message}`));
    };
    ws.on("message", (data, isBinary) => {
      if (!isBinary) return log("dropped a text websocket message: this subprotocol sends binary frames");
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (ready) forward(buf);
      else early.push(buf);
    });
    ws.on("close", () => {
      sockets.delete(ws);
      client.close();
    });
    try {
      // the client's first kernel_info_request would be lost if iopub were not subscribed yet
      await client.nudge(options.readyTimeoutMs ?? 30_000, () => dead);
    } catch (e) {
      ws.close(1011, (e as Error).message.slice(0, 120));
      return;
    }
    client.onMessage((m) => {
      if (m.parent_header.session === client.session) return; // the nudge's own replies
      if (ws.readyState === ws.OPEN) ws.send(encodeWsMessage(m));
    });
    ready = true;
    for (const b of early.splice(0)) forward(b);
  }

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(options.port ?? 0, host, () => res());
  });
  const port = (server.address() as import("node:net").AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/`;
  return {
    url,
    pageUrl: token ? `${url}?token=${token}` : url,
    kernelId,
    token,
    kernelDied(reason: string) {
      dead = reason;
      for (const ws of sockets) ws.close(1011, reason.slice(0, 120));
    },
    async close() {
      for (const ws of sockets) ws.terminate();
      monitor.close();
      wss.close();
      const closed = new Promise<void>((res) => server.close(() => res()));
      server.closeAllConnections();
      await closed;
    },
  };
}
