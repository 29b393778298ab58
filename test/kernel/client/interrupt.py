"""Interrupt scenario: interrupts (message and SIGINT) of awaited work, of
synchronous busy loops before and after an await, and of an engine forward;
heartbeats during a busy loop; state kept across interrupts; restart."""
import os
import signal
import sys
import tempfile
import time

import zmq

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

MODEL_CELL = """
import * as vl from "vramlab";
class Deep extends vl.Model<vl.Tensor, vl.Tensor> {
  readonly layers: vl.nn.ModuleList<vl.nn.Linear>;
  constructor(depth: number, width: number) {
    super();
    const f = { device: vl.getDevice("cpu"), dtype: "float32" as const, init: "random" as const, seed: 3 };
    this.layers = this.registerModule("layers", new vl.nn.ModuleList<vl.nn.Linear>());
    for (let i = 0; i < depth; i++) this.layers.append(new vl.nn.Linear(width, width, true, f, `layers.${i}`));
  }
  protected override async compute(x: vl.Tensor): Promise<vl.Tensor> {
    let h = x.reshape(x.shape);
    for (const layer of this.layers) {
      const next = (await layer.call(h)) as vl.Tensor;
      h.dispose();
      h = next;
    }
    return h;
  }
}
const model = new Deep(200, 32);
const x = vl.randn([4, 32], { seed: 5 });
const first = await model.forward(x);
const reference = Array.from(first.toFloat32Array());
first.dispose();
const baseline = vl.memory("cpu").allocated;
let ran = 0;
// Each layer busy-waits 20 ms in a hook: the forward takes about 4 s.
for (const layer of model.layers) layer.hooks.register("slow", { preForward: () => { ran++; const t = Date.now(); while (Date.now() - t < 20) {} } });
reference.length
"""


def heartbeat_rtts(km, count, interval):
    """Round trips of heartbeat pings (seconds; None when one got no answer within 1 s)."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"{km.transport}://{km.ip}:{km.hb_port}")
    rtts = []
    try:
        for i in range(count):
            t0 = time.monotonic()
            sock.send(b"ping-%d" % i)
            if sock.poll(1000):
                echo = sock.recv()
                rtts.append(time.monotonic() - t0 if echo == b"ping-%d" % i else None)
            else:
                rtts.append(None)
                sock.close()
                sock = ctx.socket(zmq.REQ)
                sock.setsockopt(zmq.LINGER, 0)
                sock.connect(f"{km.transport}://{km.ip}:{km.hb_port}")
            time.sleep(interval)
    finally:
        sock.close()
    return rtts


def wait_started(kc, msg_id, timeout=20):
    """Waits for the execute_input of msg_id (the cell is running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=deadline - time.monotonic())
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            return
    raise TimeoutError("the cell did not start")


def interrupt_case(km, kc, code, delay=0.5, how="message", during=None):
    msg_id = kc.execute(code)
    wait_started(kc, msg_id)
    time.sleep(delay)
    extra = during() if during else None
    t0 = time.monotonic()
    if how == "message":
        km.interrupt_kernel()
    else:
        os.kill(km.provisioner.process.pid, signal.SIGINT)
    reply, outputs = harness.collect(kc, msg_id, timeout=20)
    return {"reply": reply["content"], "outputs": outputs, "seconds": time.monotonic() - t0, "during": extra}


def scenario(r):
    cwd = tempfile.mkdtemp(prefix="vramlab-int-")
    km, kc = harness.start_kernel(cwd=cwd)
    try:
        ex = lambda code, **kw: harness.execute(kc, code, **kw)
        r["pid_before"] = km.provisioner.process.pid
        r["setup"] = ex("let state = 41;")
        r["heartbeat_idle"] = heartbeat_rtts(km, 3, 0.05)
        r["await"] = interrupt_case(km, kc, "await new Promise((resolve) => setTimeout(resolve, 1e9));")
        r["busy_loop"] = interrupt_case(km, kc, "while (true) {}", delay=0.3, during=lambda: heartbeat_rtts(km, 6, 0.25))
        r["loop_after_await"] = interrupt_case(km, kc, "await new Promise((resolve) => setTimeout(resolve, 10));\nlet spins = 0;\nwhile (true) { spins++; }")
        r["loop_in_async_fn"] = interrupt_case(km, kc, "async function spin(): Promise<void> { await null; for (;;) {} }\nawait spin();")
        r["state_after"] = ex("state + 1")
        r["model_setup"] = ex(MODEL_CELL, timeout=60)
        r["forward"] = interrupt_case(km, kc, "const out = await model.forward(x);", delay=0.8)
        r["model_after"] = ex(
            'for (const layer of model.layers) layer.hooks.remove("slow");\n'
            "const again = await model.forward(x);\n"
            "const same = Array.from(again.toFloat32Array()).every((v, i) => v === reference[i]);\n"
            "again.dispose();\n"
            "[ran, same, vl.memory(\"cpu\").allocated === baseline]",
            timeout=60,
        )
        r["sigint_await"] = interrupt_case(km, kc, "await new Promise((resolve) => setTimeout(resolve, 1e9));", how="signal")
        r["sigint_busy"] = interrupt_case(km, kc, "for (;;) {}", how="signal", delay=0.3)
        km.interrupt_kernel()  # idle: nothing to stop
        time.sleep(0.3)
        r["after_idle_interrupt"] = ex("state")
        r["signal_state"] = ex("interruptSignal.aborted")
        km.restart_kernel(now=False)
        harness.note_pid(km)
        kc.wait_for_ready(timeout=60)
        r["pid_after"] = km.provisioner.process.pid
        r["after_restart"] = ex("typeof state")
        r["after_restart_works"] = ex("6 * 7")

        # A loop in a timer callback cannot be stopped: the I/O thread says so on the
        # waiting cell's output, and shutdown still ends the kernel.
        ex("setTimeout(() => { for (;;) {} }, 50); 'armed'")
        time.sleep(0.5)
        msg_id = kc.execute("1 + 1")
        km.interrupt_kernel()
        warnings = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and not warnings:
            try:
                msg = kc.get_iopub_msg(timeout=0.5)
            except Exception:
                continue
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                warnings.append(msg["content"])
        r["stuck_warning"] = warnings
        t0 = time.monotonic()
        harness.stop_kernel(km, kc)
        r["stuck_shutdown_seconds"] = time.monotonic() - t0
    finally:
        if km.is_alive():
            harness.stop_kernel(km, kc)
    r["alive_after_shutdown"] = km.is_alive()


harness.run(scenario)
