"""Robustness scenario: messages with bad signatures are dropped (never
executed) while good ones keep working; replays and malformed frames on
every socket never crash the kernel; failing callbacks do not end it."""
import json
import os
import sys
import tempfile
import time
import uuid

import zmq
from jupyter_client.session import Session

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def dealer(km, port, identity):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, identity)
    sock.connect(f"{km.transport}://{km.ip}:{port}")
    return sock


def replies(sock, wanted, timeout):
    """msg_ids of replies received on a DEALER socket (parent msg_id -> msg_type) until timeout or all wanted."""
    got = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not wanted <= set(got):
        if not sock.poll(100):
            continue
        frames = sock.recv_multipart()
        try:
            i = frames.index(b"<IDS|MSG>")
            parent = json.loads(frames[i + 3])
            header = json.loads(frames[i + 2])
            got[parent.get("msg_id")] = header["msg_type"]
        except Exception:
            pass
    return got


def scenario(r):
    cwd = tempfile.mkdtemp(prefix="vramlab-rob-")
    km, kc = harness.start_kernel(cwd=cwd)
    try:
        ex = lambda code, **kw: harness.execute(kc, code, **kw)
        good = Session(key=km.session.key, signature_scheme=km.session.signature_scheme, username="test")
        bad = Session(key=b"not-the-key-" + uuid.uuid4().hex.encode(), signature_scheme=km.session.signature_scheme, username="attacker")
        shell = dealer(km, km.shell_port, b"robust-shell")
        control = dealer(km, km.control_port, b"robust-control")

        # 100 badly signed requests (execute on shell, plus shutdown and interrupt on control) among 10 good ones.
        good_ids, bad_ids = set(), set()
        for i in range(100):
            m = bad.msg("execute_request", {"code": f"(globalThis as any).hacked = {i};", "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": False})
            bad.send(shell, m)
            bad_ids.add(m["header"]["msg_id"])
            if i % 25 == 0:
                c = bad.msg("shutdown_request", {"restart": False})
                bad.send(control, c)
                bad_ids.add(c["header"]["msg_id"])
            if i % 10 == 0:
                g = good.msg("execute_request", {"code": f"{i} + 1", "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": False})
                good.send(shell, g)
                good_ids.add(g["header"]["msg_id"])
        got = replies(shell, good_ids, 30)
        got.update(replies(control, set(), 1))
        r["bad_signatures"] = {
            "good_sent": len(good_ids),
            "good_answered": len(good_ids & set(got)),
            "bad_answered": len(bad_ids & set(got)),
        }
        r["hacked"] = ex("typeof (globalThis as any).hacked")

        # A replayed message (same frames, same signature) is dropped the second time.
        m = good.msg("execute_request", {"code": "(globalThis as any).replays = ((globalThis as any).replays ?? 0) + 1;", "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": False})
        frames = good.serialize(m)
        shell.send_multipart(frames)
        first = replies(shell, {m["header"]["msg_id"]}, 10)
        shell.send_multipart(frames)
        second = replies(shell, {m["header"]["msg_id"]}, 2)
        r["replay"] = {"first": len(first), "second": len(second)}
        r["replays"] = ex("(globalThis as any).replays")

        # Malformed frames on every socket.
        key_sign = lambda parts: good.sign(parts)
        valid_header = json.dumps(good.msg_header("execute_request"), default=str).encode()
        junk = [
            [b"garbage"],
            [b"<IDS|MSG>"],
            [b"<IDS|MSG>", b"sig"],
            [b"<IDS|MSG>", b"sig", b"{}", b"{}", b"{}"],
            [b"<IDS|MSG>", b"0" * 64, b"{", b"}", b"[", b"]"],
            [b"\xff\xfe\x00", b"<IDS|MSG>", b"\x00" * 64, b"\xff", b"\xfe", b"\xfd", b"\xfc"],
            [b"<IDS|MSG>", key_sign([b"not json", b"{}", b"{}", b"{}"]), b"not json", b"{}", b"{}", b"{}"],
            [b"<IDS|MSG>", key_sign([b"[1,2]", b"{}", b"{}", b"{}"]), b"[1,2]", b"{}", b"{}", b"{}"],
            [b"<IDS|MSG>", key_sign([b'{"msg_id": "x"}', b"{}", b"{}", b"{}"]), b'{"msg_id": "x"}', b"{}", b"{}", b"{}"],
            [b"<IDS|MSG>", key_sign([valid_header, b"{}", b"{}", b"null"]), valid_header, b"{}", b"{}", b"null"],
            [b"<IDS|MSG>", key_sign([valid_header, b"{}", b"{}", b"{}"]), valid_header, b"{}", b"{}", b"{}"],  # execute without code
            [b"<IDS|MSG>", b"x" * (8 << 20)],
            [b""] * 50,
        ]
        stdin = dealer(km, km.stdin_port, b"robust-stdin")
        for sock in (shell, control, stdin):
            for frames in junk:
                sock.send_multipart(frames)
        # Raw bytes straight at the heartbeat and iopub ports (wrong socket types).
        raw = zmq.Context.instance().socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect(f"{km.transport}://{km.ip}:{km.iopub_port}")
        raw.close()
        time.sleep(1.0)
        r["alive_after_junk"] = km.is_alive()
        r["kernel_info_after_junk"] = harness.request(kc, "kernel_info_request", {})["content"]["status"]
        r["execute_after_junk"] = ex("40 + 2")
        r["malformed_reply"] = replies(shell, set(), 1)
        # A callback that throws later, and an unhandled rejection, print to stderr and the kernel goes on.
        r["throwing_timer"] = ex('setTimeout(() => { throw new Error("late failure"); }, 10); Promise.reject(new Error("nobody catches")); await new Promise((res) => setTimeout(res, 100)); "survived"')
        r["after_throwing_timer"] = ex('"still here"')
        for s in (shell, control, stdin):
            s.close()
    finally:
        harness.stop_kernel(km, kc)


harness.run(scenario)
