"""Drives the vramlab kernel through Debian's jupyter_client for the kernel tests.

Each scenario script collects what the kernel sent (replies, iopub outputs)
into a dict and prints it as JSON on the last line of stdout; the TypeScript
tests assert on it. The kernelspec comes from JUPYTER_PATH (the test installs
it into a temporary prefix). Every kernel started is shut down in a finally
block, its pid is appended to $VRAMLAB_TEST_PIDFILE so the test can kill
leftovers, and a global alarm bounds the whole run.
"""
import json
import os
import signal
import sys
import time
import traceback

from jupyter_client.manager import KernelManager

KERNEL_NAME = os.environ.get("VRAMLAB_KERNEL_NAME", "vramlab")


class ScenarioTimeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise ScenarioTimeout("scenario exceeded its time limit")


def note_pid(km):
    path = os.environ.get("VRAMLAB_TEST_PIDFILE")
    try:
        pid = km.provisioner.process.pid  # jupyter_client 7
    except Exception:
        pid = None
    if path and pid:
        with open(path, "a") as f:
            f.write(f"{pid}\n")
    return pid


def start_kernel(cwd=None, startup_timeout=60):
    km = KernelManager(kernel_name=KERNEL_NAME)
    km.start_kernel(cwd=cwd or os.getcwd())
    note_pid(km)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=startup_timeout)
    except Exception:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise
    return km, kc


def stop_kernel(km, kc, now=False):
    try:
        kc.stop_channels()
    finally:
        if km.is_alive():
            km.shutdown_kernel(now=now)


def collect(kc, msg_id, timeout=30, want_reply=True, on_msg=None):
    """iopub messages of one request until its idle status, and its shell reply."""
    deadline = time.monotonic() + timeout
    outputs = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no idle status for {msg_id} within {timeout} s; got {[o['msg_type'] for o in outputs]}")
        msg = kc.get_iopub_msg(timeout=left)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if on_msg:
            on_msg(msg)
        t = msg["msg_type"]
        if t == "status":
            if msg["content"]["execution_state"] == "idle":
                break
            continue
        outputs.append({"msg_type": t, "content": msg["content"], "metadata": msg.get("metadata", {}), "buffers": len(msg.get("buffers", []))})
    reply = None
    if want_reply:
        reply = shell_reply(kc, msg_id, max(1, deadline - time.monotonic()))
    return reply, outputs


def shell_reply(kc, msg_id, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return {"msg_type": msg["msg_type"], "content": msg["content"]}


def execute(kc, code, timeout=30, **kwargs):
    msg_id = kc.execute(code, **kwargs)
    reply, outputs = collect(kc, msg_id, timeout)
    return {"reply": reply["content"], "outputs": outputs}


def request(kc, msg_type, content, timeout=30):
    msg = kc.session.msg(msg_type, content)
    kc.shell_channel.send(msg)
    reply, outputs = collect(kc, msg["header"]["msg_id"], timeout)
    return reply


def control_request(kc, msg_type, content, timeout=30):
    msg = kc.session.msg(msg_type, content)
    kc.control_channel.send(msg)
    deadline = time.monotonic() + timeout
    while True:
        reply = kc.get_control_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return {"msg_type": reply["msg_type"], "content": reply["content"]}


def run(scenario, limit_seconds=110):
    """Runs scenario(results) and prints results as JSON (with "failure" on an exception)."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit_seconds)
    results = {}
    code = 0
    try:
        scenario(results)
    except BaseException as e:  # report everything, including the alarm
        results["failure"] = f"{type(e).__name__}: {e}"
        results["failure_traceback"] = traceback.format_exc()
        code = 1
    finally:
        signal.alarm(0)
    sys.stdout.write("\n" + json.dumps(results, default=str) + "\n")
    sys.stdout.flush()
    sys.exit(code)
