// Interrupts through a real client: interrupt_request (the kernelspec's
// interrupt_mode "message") and SIGINT stop awaited work, synchronous busy
// loops (before and after an await) and an engine forward; heartbeats keep
// answering while a cell spins; the kernel keeps its state; restart gives
// a fresh kernel (test/kernel/client/interrupt.py).
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { outputsOf, runScenario } from "./kernel-client.js";

describe("kernel interrupts through jupyter_client", () => {
  let r: Record<string, any>;
  before(async () => {
    r = (await runScenario("interrupt")).results;
  });

  function assertInterrupted(run: any, what: string) {
    assert.equal(run.reply.status, "error", `${what}: the cell ends with an error`);
    assert.equal(run.reply.ename, "Interrupted", what);
    assert.deepEqual(outputsOf(run, "error").map((e) => e.ename), ["Interrupted"], `${what}: one error output`);
    // Generous bound: the await path waits a 250 ms grace period; a stuck interrupt would hit the 20 s collect timeout instead.
    assert.ok(run.seconds < 5, `${what}: ended ${run.seconds.toFixed(2)} s after the interrupt`);
  }

  it("stops an awaited sleep", () => assertInterrupted(r.await, "await sleep"));
  it("stops `while (true) {}`", () => assertInterrupted(r.busy_loop, "busy loop"));
  it("stops a busy loop that starts after an await", () => assertInterrupted(r.loop_after_await, "loop after await"));
  it("stops a busy loop inside an async function of the cell", () => assertInterrupted(r.loop_in_async_fn, "async function loop"));
  it("stops awaited work and busy loops on SIGINT too", () => {
    assertInterrupted(r.sigint_await, "SIGINT await");
    assertInterrupted(r.sigint_busy, "SIGINT busy loop");
  });

  it("answers heartbeats while a cell spins on the main thread", () => {
    assert.equal(r.busy_loop.during.length, 6);
    for (const rtt of r.busy_loop.during) assert.ok(rtt !== null && rtt < 1, `heartbeat round trip ${rtt}`);
    assert.ok(r.heartbeat_idle.every((rtt: number | null) => rtt !== null));
  });

  it("keeps state across interrupts, and an idle interrupt is harmless", () => {
    assert.equal(outputsOf(r.state_after, "execute_result")[0].data["text/plain"], "42");
    assert.equal(outputsOf(r.after_idle_interrupt, "execute_result")[0].data["text/plain"], "41");
    assert.equal(outputsOf(r.signal_state, "execute_result")[0].data["text/plain"], "false", "a new cell gets a fresh interrupt signal");
  });

  it("stops an engine forward at a module boundary; the model stays usable", () => {
    assert.equal(r.model_setup.reply.status, "ok", JSON.stringify(r.model_setup.reply));
    const e = r.forward.reply;
    assert.equal(e.ename, "AbortError");
    assert.match(e.evalue, /^forward stopped before module layers\.\d+ \(Linear\): interrupted/);
    assert.ok(r.forward.seconds < 5);
    const [ran, same, memoryBack] = JSON.parse(outputsOf(r.model_after, "execute_result")[0].data["text/plain"].replace(/'/g, '"'));
    assert.ok(ran > 0 && ran < 200, `the forward stopped part way (${ran} of 200 layers ran)`);
    assert.equal(same, true, "a later forward gives the reference output bit for bit");
    assert.equal(memoryBack, true, "the aborted forward's intermediates were freed");
  });

  it("warns when the main thread stays busy after an interrupt, and still shuts down", () => {
    assert.equal(r.stuck_warning.length, 1, "one warning on the waiting cell");
    assert.equal(r.stuck_warning[0].name, "stderr");
    assert.match(r.stuck_warning[0].text, /still busy 1 s after the interrupt/);
    // The I/O thread answers shutdown itself 3 s after the request when the main thread cannot.
    assert.ok(r.stuck_shutdown_seconds < 10, `shutdown took ${r.stuck_shutdown_seconds} s`);
  });

  it("restarts into a fresh kernel process", () => {
    assert.notEqual(r.pid_after, r.pid_before);
    assert.equal(r.after_restart.reply.status, "error", "state is gone after restart");
    assert.match(r.after_restart.reply.evalue, /Cannot find name 'state'/);
    assert.equal(outputsOf(r.after_restart_works, "execute_result")[0].data["text/plain"], "42");
    assert.equal(r.alive_after_shutdown, false, "shutdown ends the process");
  });
});
