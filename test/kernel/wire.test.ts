// The wire format: signing, constant-time verification, replay and
// malformed-message rejection, encoding round trips, connection files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { decodeMessage, encodeMessage, makeHeader, Signer } from "../../kernel/wire.js";
import { endpoint, parseConnectionInfo } from "../../kernel/connection.js";

const KEY = "a0436f6c-1916-498b-8eb9-e81ab9368e84";

function frames(signer: Signer, content: Record<string, unknown> = { code: "1" }, identities = [Buffer.from("peer")]) {
  return encodeMessage(signer, { identities, header: makeHeader("execute_request", "s1", "u"), parent_header: {}, metadata: {}, content, buffers: [new Uint8Array([1, 2, 3])] });
}

test("encode then decode round-trips a signed message", () => {
  const s = new Signer("hmac-sha256", KEY);
  const f = frames(s);
  // The signature is HMAC-SHA256 over the four JSON frames, as Jupyter specifies.
  const expected = createHmac("sha256", KEY).update(f[3]).update(f[4]).update(f[5]).update(f[6]).digest("hex");
  assert.equal(f[2].toString(), expected);
  const d = decodeMessage(f, new Signer("hmac-sha256", KEY));
  assert.ok(d.ok);
  assert.equal(d.message.header.msg_type, "execute_request");
  assert.deepEqual(d.message.content, { code: "1" });
  assert.deepEqual(d.message.identities.map((b) => b.toString()), ["peer"]);
  assert.deepEqual([...d.message.buffers[0]], [1, 2, 3]);
});

test("a wrong key, a flipped byte or a truncated signature is rejected", () => {
  const good = new Signer("hmac-sha256", KEY);
  const f = frames(new Signer("hmac-sha256", "other key"));
  const r = decodeMessage(f, good);
  assert.ok(!r.ok && r.badSignature);
  const g = frames(good);
  g[5] = Buffer.from(g[5].toString().replace("{}", '{"x":1}'));
  assert.ok(!decodeMessage(g, new Signer("hmac-sha256", KEY)).ok, "content changed after signing");
  const h = frames(good);
  h[2] = h[2].subarray(0, 10);
  const t = decodeMessage(h, new Signer("hmac-sha256", KEY));
  assert.ok(!t.ok && t.badSignature, "a shorter signature fails without throwing");
});

test("a replayed signature is rejected the second time", () => {
  const s = new Signer("hmac-sha256", KEY);
  const f = frames(new Signer("hmac-sha256", KEY));
  assert.ok(decodeMessage(f, s).ok);
  const again = decodeMessage(f, s);
  assert.ok(!again.ok && again.reason === "replayed signature");
});

test("an empty key disables signing, as the protocol allows", () => {
  const s = new Signer("hmac-sha256", "");
  const f = frames(s);
  assert.equal(f[2].toString(), "");
  assert.ok(decodeMessage(f, new Signer("hmac-sha256", "")).ok);
});

test("malformed messages are reported, never thrown", () => {
  const s = new Signer("hmac-sha256", KEY);
  const sign = (parts: string[]) => Buffer.from(s.sign(parts.map((p) => Buffer.from(p))));
  const cases: [Buffer[], RegExp][] = [
    [[Buffer.from("x")], /no "<IDS\|MSG>" delimiter/],
    [[Buffer.from("<IDS|MSG>"), Buffer.from("sig")], /0 frame|1 frame/],
    [[Buffer.from("<IDS|MSG>"), sign(["nope", "{}", "{}", "{}"]), ...["nope", "{}", "{}", "{}"].map((p) => Buffer.from(p))], /header is not valid JSON/],
    [[Buffer.from("<IDS|MSG>"), sign(["[]", "{}", "{}", "{}"]), ...["[]", "{}", "{}", "{}"].map((p) => Buffer.from(p))], /header is not a JSON object/],
    [[Buffer.from("<IDS|MSG>"), sign(['{"msg_id":"a"}', "{}", "{}", "{}"]), ...['{"msg_id":"a"}', "{}", "{}", "{}"].map((p) => Buffer.from(p))], /no msg_type/],
    [[Buffer.from("<IDS|MSG>"), sign(['{"msg_id":"a","msg_type":"x"}', "{}", "{}", "7"]), ...['{"msg_id":"a","msg_type":"x"}', "{}", "{}", "7"].map((p) => Buffer.from(p))], /content is not a JSON object/],
    [[Buffer.from("<IDS|MSG>"), Buffer.alloc(64, 0xff), ...[0, 1, 2, 3].map(() => Buffer.from([0xff, 0xfe]))], /bad signature/],
  ];
  for (const [f, reason] of cases) {
    const r = decodeMessage(f, s);
    assert.ok(!r.ok, `should reject ${reason}`);
    assert.match(r.reason, reason);
  }
});

test("unknown signature schemes are refused up front", () => {
  assert.throws(() => new Signer("md5", KEY), /expected "hmac-<hash>"/);
  assert.throws(() => new Signer("hmac-nosuchhash", KEY), /no "nosuchhash" hash/);
  assert.doesNotThrow(() => new Signer("hmac-sha512", KEY));
});

test("connection info is validated field by field", () => {
  const ok = parseConnectionInfo({ transport: "tcp", ip: "127.0.0.1", shell_port: 1, control_port: 2, iopub_port: 3, stdin_port: 4, hb_port: 5, key: "k", signature_scheme: "hmac-sha256" });
  assert.equal(endpoint(ok, "hb"), "tcp://127.0.0.1:5");
  assert.equal(endpoint({ ...ok, transport: "ipc", ip: "/tmp/k" }, "shell"), "ipc:///tmp/k-1");
  assert.equal(endpoint({ ...ok, ip: "::1" }, "iopub"), "tcp://[::1]:3");
  assert.throws(() => parseConnectionInfo([]), /expected a JSON object/);
  assert.throws(() => parseConnectionInfo({ ...ok, transport: "udp" }), /transport must be "tcp" or "ipc"/);
  assert.throws(() => parseConnectionInfo({ ...ok, hb_port: 70000 }), /hb_port must be an integer port number, got 70000/);
  assert.throws(() => parseConnectionInfo({ ...ok, key: 5 }), /key must be a string/);
});
