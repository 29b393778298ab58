// Hostile input through a real client and raw zeromq sockets: badly
// signed messages are dropped and never executed while good ones keep
// working; replays are dropped; malformed frames on every socket never
// crash the kernel; failing callbacks do not end it
// (test/kernel/client/robustness.py).
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { outputsOf, runScenario } from "./kernel-client.js";

describe("kernel robustness", () => {
  let r: Record<string, any>;
  let log = "";
  before(async () => {
    const run = await runScenario("robustness");
    r = run.results;
    log = run.stderr;
  });

  it("drops 100 badly signed messages and answers every good one", () => {
    assert.deepEqual(r.bad_signatures, { good_sent: 10, good_answered: 10, bad_answered: 0 });
    assert.equal(outputsOf(r.hacked, "execute_result")[0].data["text/plain"], "'undefined'", "no bad message was executed");
    assert.match(log, /dropped a message on shell from [0-9a-f]+: bad signature/, "drops are logged");
  });

  it("drops a replayed message", () => {
    assert.deepEqual(r.replay, { first: 1, second: 0 });
    assert.equal(outputsOf(r.replays, "execute_result")[0].data["text/plain"], "1");
  });

  it("survives malformed frames on shell, control and stdin", () => {
    assert.equal(r.alive_after_junk, true);
    assert.equal(r.kernel_info_after_junk, "ok");
    assert.equal(outputsOf(r.execute_after_junk, "execute_result")[0].data["text/plain"], "42");
  });

  it("reports errors of callbacks and unhandled rejections without dying", () => {
    const stderr = outputsOf(r.throwing_timer, "stream").filter((s) => s.name === "stderr").map((s) => s.text).join("");
    assert.match(stderr, /Unhandled promise rejection: Error: nobody catches/);
    assert.match(stderr, /Uncaught exception: Error: late failure\n {4}at Timeout._onTimeout \(In\[\d+\]:1:26\)/);
    assert.equal(outputsOf(r.throwing_timer, "execute_result")[0].data["text/plain"], "'survived'");
    assert.equal(outputsOf(r.after_throwing_timer, "execute_result")[0].data["text/plain"], "'still here'");
  });
});
