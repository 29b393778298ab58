// The websocket-to-zeromq bridge without a browser: the websocket frame
// codec, then a real kernel behind the bridge driven by a `ws` client the
// way @jupyterlab/services drives jupyter_server: the token guards the API
// and the websocket, only the v1 subprotocol is spoken, requests reach the
// kernel signed and replies come back (binary buffers included), stdin
// carries input(), the interrupt endpoint stops a running cell, and a
// bridge holding the wrong key gets nothing from the kernel (it drops
// messages it cannot verify).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { packageRoot } from "../kernel/kernel-client.js";
import { decodeWsMessage, encodeWsMessage, WS_KERNEL_PROTOCOL, type WsMessage } from "../../kernel/ws-frames.js";
import { launchKernel, type LaunchedKernel } from "../../kernel/ws-launch.js";
import { startBridge, type KernelBridge } from "../../kernel/ws-bridge.js";
import { PROTOCOL_VERSION } from "../../kernel/protocol.js";

function request(channel: "shell" | "control" | "stdin", msgType: string, content: Record<string, unknown>, session: string): WsMessage {
  return {
    channel,
    header: { msg_id: randomUUID(), msg_type: msgType, session, username: "test", date: new Date().toISOString(), version: PROTOCOL_VERSION },
    parent_header: {}, metadata: {}, content, buffers: [],
  };
}

describe("websocket frames (v1.kernel.websocket.jupyter.org)", () => {
  it("round-trips a message with binary buffers", () => {
    const m = request("shell", "comm_msg", { comm_id: "c1", data: { method: "update" } }, "s");
    m.buffers = [new Uint8Array([1, 2, 3]), new Uint8Array(new Float32Array([1.5, -2]).buffer)];
    const d = decodeWsMessage(encodeWsMessage(m));
    assert.ok(d.ok);
    assert.deepEqual(d.message.header, m.header);
    assert.deepEqual(d.message.content, m.content);
    assert.deepEqual(d.message.buffers.map((b) => [...b]), m.buffers.map((b) => [...b]));
    assert.deepEqual([...new Float32Array(d.message.buffers[1].slice().buffer)], [1.5, -2]);
  });

  it("rejects malformed frames with a reason instead of throwing", () => {
    assert.match((decodeWsMessage(Buffer.alloc(3)) as { reason: string }).reason, /too short/);
    const good = encodeWsMessage(request("shell", "kernel_info_request", {}, "s"));
    assert.match((decodeWsMessage(good.subarray(0, good.length - 5)) as { reason: string }).reason, /past the frame end/);
    const bad = encodeWsMessage({ ...request("shell", "x", {}, "s"), channel: "nope" as "shell" });
    assert.match((decodeWsMessage(bad) as { reason: string }).reason, /unknown channel "nope"/);
  });
});

describe("the bridge in front of a real kernel", { timeout: 90_000 }, () => {
  let kernel: LaunchedKernel;
  let bridge: KernelBridge;
  let home: string;
  const log: string[] = [];

  before(async () => {
    home = mkdtempSync(join(tmpdir(), "vramlab-bridge-test-"));
    kernel = await launchKernel({ cwd: packageRoot(), env: { ...process.env, VRAMLAB_HISTORY_FILE: join(home, "history.jsonl") } });
    bridge = await startBridge({ connection: kernel.connection, log: (t) => log.push(t) });
  });

  after(async () => {
    await bridge?.close();
    await kernel?.shutdown();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const wsUrl = (token = bridge.token) => `${bridge.url.replace(/^http/, "ws")}api/kernels/${bridge.kernelId}/channels?session_id=t&token=${token}`;

  /** Opens a websocket; collects every message; `until` waits for one that matches. */
  async function connect(protocols: string[] = [WS_KERNEL_PROTOCOL]) {
    const ws = new WebSocket(wsUrl(), protocols);
    const seen: WsMessage[] = [];
    const waiters: { test: (m: WsMessage) => boolean; resolve: (m: WsMessage) => void }[] = [];
    ws.on("message", (data) => {
      const d = decodeWsMessage(Buffer.from(data as Buffer));
      assert.ok(d.ok, "the bridge sends well-formed frames");
      seen.push(d.message);
      for (const w of waiters.splice(0)) {
        if (w.test(d.message)) w.resolve(d.message);
        else waiters.push(w);
      }
    });
    await new Promise<void>((res, rej) => {
      ws.once("open", () => res());
      ws.once("error", rej);
    });
    const until = (test: (m: WsMessage) => boolean, ms = 20_000) =>
      new Promise<WsMessage>((resolve, reject) => {
        const hit = seen.find(test);
        if (hit) return resolve(hit);
        const timer = setTimeout(() => reject(new Error(`no matching message in ${ms} ms; saw ${seen.map((m) => m.header.msg_type).join(", ")}`)), ms);
        waiters.push({ test, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    return { ws, seen, until };
  }

  it("guards the API with the token and answers the kernel model", async () => {
    const api = `${bridge.url}api/kernels/${bridge.kernelId}`;
    assert.equal((await fetch(api)).status, 403);
    const ok = await fetch(api, { headers: { authorization: `token ${bridge.token}` } });
    assert.equal(ok.status, 200);
    const model = (await ok.json()) as { id: string; name: string; execution_state: string };
    assert.equal(model.id, bridge.kernelId);
    assert.equal(model.name, "vramlab");
    assert.equal(model.execution_state, "idle");
    const page = await fetch(bridge.url);
    assert.match(await page.text(), new RegExp(`"kernelId":"${bridge.kernelId}"`), "the page carries the kernel id");
    await assert.rejects(
      new Promise((res, rej) => {
        const ws = new WebSocket(wsUrl("wrong"), [WS_KERNEL_PROTOCOL]);
        ws.once("open", res);
        ws.once("error", rej);
      }),
      /403/,
    );
  });

  it("closes a websocket that does not speak the v1 subprotocol, with the reason", async () => {
    const ws = new WebSocket(wsUrl());
    const [code, reason] = await new Promise<[number, string]>((res) => ws.once("close", (c, r) => res([c, r.toString()])));
    assert.equal(code, 1002);
    assert.match(reason, /v1\.kernel\.websocket\.jupyter\.org/);
  });

  it("relays an execute request and its iopub output and reply; comm messages carry binary buffers both ways", async () => {
    const { ws, until } = await connect();
    const session = randomUUID();
    const exec = request("shell", "execute_request", { code: "6 * 7", silent: false, store_history: false, user_expressions: {}, allow_stdin: false }, session);
    ws.send(encodeWsMessage(exec));
    const result = await until((m) => m.header.msg_type === "execute_result" && m.parent_header.msg_id === exec.header.msg_id);
    assert.equal(result.channel, "iopub");
    assert.equal((result.content.data as Record<string, string>)["text/plain"], "42");
    const reply = await until((m) => m.header.msg_type === "execute_reply" && m.parent_header.msg_id === exec.header.msg_id);
    assert.equal(reply.channel, "shell");
    assert.equal(reply.content.status, "ok");

    // a kernel-side comm that echoes the bytes it receives, reversed
    const setup = request("shell", "execute_request", {
      code:
        'import { registerCommTarget } from "vramlab/kernel";\n' +
        'registerCommTarget("echo-bytes", (comm) => { comm.onMsg((m) => comm.send({ n: m.buffers.length }, { buffers: m.buffers.map((b) => Uint8Array.from(b).reverse()) })); });\n' +
        '"ok"',
      silent: false, store_history: false, user_expressions: {}, allow_stdin: false,
    }, session);
    ws.send(encodeWsMessage(setup));
    const setupReply = await until((m) => m.header.msg_type === "execute_reply" && m.parent_header.msg_id === setup.header.msg_id);
    assert.equal(setupReply.content.status, "ok", JSON.stringify(setupReply.content));
    const commId = randomUUID();
    ws.send(encodeWsMessage(request("shell", "comm_open", { comm_id: commId, target_name: "echo-bytes", data: {} }, session)));
    const msg = request("shell", "comm_msg", { comm_id: commId, data: { ping: 1 } }, session);
    msg.buffers = [new Uint8Array([1, 2, 3, 250])];
    ws.send(encodeWsMessage(msg));
    const echo = await until((m) => m.header.msg_type === "comm_msg" && m.content.comm_id === commId);
    assert.deepEqual(echo.content.data, { n: 1 });
    assert.deepEqual(echo.buffers.map((b) => [...b]), [[250, 3, 2, 1]]);
    ws.close();
  });

  it("carries input(): the kernel's input_request reaches the websocket on stdin and the input_reply goes back", async () => {
    const { ws, until } = await connect();
    const session = randomUUID();
    const exec = request("shell", "execute_request", {
      code: 'import { input } from "vramlab/kernel";\n(await input("name? ")).toUpperCase()',
      silent: false, store_history: false, user_expressions: {}, allow_stdin: true,
    }, session);
    ws.send(encodeWsMessage(exec));
    const ask = await until((m) => m.header.msg_type === "input_request");
    assert.equal(ask.channel, "stdin");
    assert.equal(ask.content.prompt, "name? ");
    const answer = { ...request("shell", "input_reply", { value: "vram" }, session), channel: "stdin" as const, parent_header: ask.header };
    ws.send(encodeWsMessage(answer));
    const result = await until((m) => m.header.msg_type === "execute_result" && m.parent_header.msg_id === exec.header.msg_id);
    assert.equal((result.content.data as Record<string, string>)["text/plain"], "'VRAM'");
    ws.close();
  });

  it("interrupts a running cell through POST /api/kernels/<id>/interrupt", async () => {
    const { ws, until } = await connect();
    const exec = request("shell", "execute_request", { code: "await new Promise((r) => setTimeout(r, 60_000));", silent: false, store_history: false, user_expressions: {}, allow_stdin: false }, randomUUID());
    ws.send(encodeWsMessage(exec));
    await until((m) => m.header.msg_type === "status" && m.content.execution_state === "busy" && m.parent_header.msg_id === exec.header.msg_id);
    const r = await fetch(`${bridge.url}api/kernels/${bridge.kernelId}/interrupt?token=${bridge.token}`, { method: "POST" });
    assert.equal(r.status, 204);
    const reply = await until((m) => m.header.msg_type === "execute_reply" && m.parent_header.msg_id === exec.header.msg_id, 10_000);
    assert.equal(reply.content.status, "error");
    ws.close();
  });

  it("a bridge with the wrong key gets no answer: the kernel drops what it cannot verify", async () => {
    const started = Date.now();
    await assert.rejects(
      startBridge({ connection: { ...kernel.connection, key: "not-the-key" }, readyTimeoutMs: 1500, log: () => {} }),
      /did not answer kernel_info_request within 1\.5 s/,
    );
    assert.ok(Date.now() - started < 10_000);
    // and the kernel is still fine for the right key
    const { ws, until } = await connect();
    const exec = request("shell", "execute_request", { code: "1 + 1", silent: false, store_history: false, user_expressions: {}, allow_stdin: false }, randomUUID());
    ws.send(encodeWsMessage(exec));
    const result = await until((m) => m.header.msg_type === "execute_result" && m.parent_header.msg_id === exec.header.msg_id);
    assert.equal((result.content.data as Record<string, string>)["text/plain"], "2");
    ws.close();
  });
});
