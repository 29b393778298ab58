"""Latency of kernels as a Jupyter client sees it (bench/kernel-latency.ts).

Starts every kernelspec named on the command line, then times, interleaved
across the kernels, the round trip of a trivial cell and of a cell that
updates a display (execute_request sent -> execute_reply and idle status
received). Each kernel's cells come from the JSON in $LATENCY_CELLS:
{name: {"setup": code, "trivial": code, "update": code, "trivial_output": msg_type}}
(trivial_output: the message that carries the value; tslab prints it as a stream).
Prints {"kernels": {name: {"startup_s", "trivial_s": [...], "update_s": [...], "lost": [...]}}}
("lost": requests whose idle status never came within 5 s; counted, not timed).
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


class Lost(Exception):
    """The kernel never published the idle status of a request (tslab 1.0.22 drops one around its 170th execution)."""


def timed(kc, code, expect, name=""):
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    seen = set()
    deadline = t0 + 5
    idle = False
    while not idle:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.05, deadline - time.perf_counter()))
        except Exception:
            try:
                harness.shell_reply(kc, msg_id, 1)
            except Exception:
                pass
            raise Lost(f"{name}: no idle status for {code!r} within 5 s; saw {sorted(seen)}")
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        seen.add(msg["msg_type"])
        if msg["msg_type"] == "error":
            raise RuntimeError(f"{code!r} failed: {msg['content'].get('evalue')}")
        idle = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
    reply = harness.shell_reply(kc, msg_id, 30)
    elapsed = time.perf_counter() - t0
    if reply["content"]["status"] != "ok" or expect not in seen:
        raise RuntimeError(f"{code!r}: status {reply['content']['status']}, messages {sorted(seen)}; expected {expect}")
    return elapsed


def scenario(r):
    names = sys.argv[1:]
    cells = json.loads(os.environ["LATENCY_CELLS"])
    runs = int(os.environ.get("LATENCY_RUNS", "200"))
    warmup = int(os.environ.get("LATENCY_WARMUP", "20"))
    cwd = tempfile.mkdtemp(prefix="vramlab-latency-")
    kernels = {}
    try:
        for name in names:
            t0 = time.perf_counter()
            km = harness.KernelManager(kernel_name=name)
            km.start_kernel(cwd=cwd)
            harness.note_pid(km)
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=90)
            kernels[name] = {"km": km, "kc": kc, "startup_s": time.perf_counter() - t0, "trivial_s": [], "update_s": [], "lost": []}
            harness.execute(kc, cells[name]["setup"], timeout=60)
        for i in range(warmup + runs):
            # Rotate the order each round so a burst of outside load hits all kernels alike.
            order = names[i % len(names):] + names[: i % len(names)]
            for name in order:
                k = kernels[name]
                for kind, expect in (("trivial", cells[name].get("trivial_output", "execute_result")), ("update", "update_display_data")):
                    try:
                        t = timed(k["kc"], cells[name][kind], expect, name)
                    except Lost as e:
                        # A lost message is counted, not timed: it says nothing about latency.
                        k["lost"].append(str(e))
                        continue
                    if i >= warmup:
                        k[f"{kind}_s"].append(t)
        r["kernels"] = {n: {key: k[key] for key in ("startup_s", "trivial_s", "update_s", "lost")} for n, k in kernels.items()}
    finally:
        for k in kernels.values():
            harness.stop_kernel(k["km"], k["kc"])


harness.run(scenario, limit_seconds=500)
