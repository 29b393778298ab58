"""The engine control panel in the real kernel, with jupyter_client playing the
frontend: a cell shows the panel (the tiny Flux model on sim:h100-sxm), the
client sends comm `update`s to its controls as JupyterLab would, and records
what the kernel sends back (echo, progress bar, status, redrawn figures) and
what the kernel-side panel says about its runs."""
import json
import time

import harness

SETUP = (
    'import * as vl from "vramlab";\n'
    'import { panel } from "vramlab/widgets";\n'
    "const p = await panel(\n"
    "  (c) => vl.models.flux(\"tiny\", { device: c.device, dtype: c.dtype, seed: 0 }),\n"
    "  (m) => vl.models.fluxInputs(m, { height: 128, width: 128, textLength: 8 }),\n"
    '  { quantize: { minElements: 0 }, initial: { device: "sim:h100-sxm" } },\n'
    ");\n"
    "p"
)

# what the kernel-side panel says, printed as one JSON line
REPORT = (
    "await p.settled();\n"
    "console.log(JSON.stringify({\n"
    "  outcomes: p.outcomes.map((o) => ({ run: o.run, status: o.status, action: o.action, message: o.message,\n"
    "    scheme: o.config?.scheme, offloadType: o.config?.offloadType, useStream: o.config?.useStream,\n"
    "    modelMemory: o.report?.summary.modelMemory ?? null })),\n"
    "  config: p.config,\n"
    "  hooks: [...new Set([...p.model!.namedModules()].flatMap(([, m]) => m.hooks.names()))],\n"
    "  memoryFigureRun: /data-run=\"(\\d+)\"/.exec(p.figureViews.memory.value)![1],\n"
    "}));"
)


def send_comm(kc, comm_id, data):
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def drain_until_idle(kc, msg_id, timeout=60):
    """Every iopub message, whatever its parent, until the idle status of msg_id: a run the
    kernel finishes after a comm message's idle still belongs to that comm message."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no idle for {msg_id} within {timeout} s")
        msg = kc.get_iopub_msg(timeout=left)
        t = msg["msg_type"]
        if t == "status":
            if msg["content"]["execution_state"] == "idle" and msg["parent_header"].get("msg_id") == msg_id:
                return out
            continue
        out.append({"msg_type": t, "content": msg["content"], "parent": msg["parent_header"].get("msg_type")})


def execute_all(kc, code, timeout=60):
    msg_id = kc.execute(code)
    out = drain_until_idle(kc, msg_id, timeout)
    reply = harness.shell_reply(kc, msg_id, timeout)
    return reply["content"], out


def updates(outputs, comm_id, method="update"):
    return [o["content"]["data"].get("state", {}) for o in outputs
            if o["msg_type"] == "comm_msg" and o["content"]["comm_id"] == comm_id and o["content"]["data"].get("method") == method]


def printed_json(outputs):
    text = "".join(o["content"]["text"] for o in outputs if o["msg_type"] == "stream" and o["content"]["name"] == "stdout")
    return json.loads(text.strip().splitlines()[-1])


def scenario(r):
    km, kc = harness.start_kernel()
    try:
        reply, created = execute_all(kc, SETUP, timeout=90)
        r["setup_reply"] = reply
        r["setup_errors"] = [o["content"] for o in created if o["msg_type"] == "error"]
        if reply["status"] != "ok":
            raise RuntimeError(f"panel cell failed: {reply.get('evalue')}")
        opens = {o["content"]["comm_id"]: o["content"]["data"]["state"] for o in created if o["msg_type"] == "comm_open"}
        result = [o["content"] for o in created if o["msg_type"] == "execute_result"][0]
        r["view"] = result["data"].get("application/vnd.jupyter.widget-view+json")
        r["root_model"] = opens.get(r["view"]["model_id"], {}).get("_model_name")

        def find(model, pred=lambda s: True):
            return [cid for cid, s in opens.items() if s["_model_name"] == model and pred(s)]

        scheme = find("DropdownModel", lambda s: s.get("description") == "quantization")[0]
        offload = find("DropdownModel", lambda s: s.get("description") == "offload")[0]
        stream = find("CheckboxModel", lambda s: s.get("description", "").startswith("use streams"))[0]
        memory_view = find("HTMLModel", lambda s: 'data-figure="memory"' in s.get("value", ""))[0]
        progress = find("IntProgressModel")[0]
        status = [cid for cid in opens if any("vramlab-panel-status" in str(st.get("value", "")) for st in updates(created, cid))][0]
        r["scheme_labels"] = opens[scheme]["_options_labels"]
        r["offload_labels"] = opens[offload]["_options_labels"]
        r["first_memory_figure"] = updates(created, memory_view)[-1]["value"]
        r["first_status"] = updates(created, status)[-1]["value"]

        # 1. the frontend picks int8wo in the quantization dropdown
        sent = send_comm(kc, scheme, {"method": "update", "state": {"index": r["scheme_labels"].index("int8wo")}, "buffer_paths": []})
        after_update = drain_until_idle(kc, sent)
        reply, after_settle = execute_all(kc, REPORT)
        seen = after_update + after_settle
        r["scheme_echo"] = updates(seen, scheme, "echo_update")
        r["progress_updates"] = updates(seen, progress)
        r["memory_figure_updates"] = [s["value"] for s in updates(seen, memory_view)]
        r["status_updates"] = [s["value"] for s in updates(seen, status)]
        r["after_scheme"] = printed_json(after_settle)

        # 2. two changes sent back to back (offload type, then streams off): no stale run may finish
        a = send_comm(kc, offload, {"method": "update", "state": {"index": r["offload_labels"].index("block_level")}, "buffer_paths": []})
        b = send_comm(kc, stream, {"method": "update", "state": {"value": False}, "buffer_paths": []})
        burst = drain_until_idle(kc, a) + drain_until_idle(kc, b)
        reply, after_burst = execute_all(kc, REPORT)
        r["burst_memory_figures"] = [s["value"][:120] for s in updates(burst + after_burst, memory_view)]
        r["after_burst"] = printed_json(after_burst)
    finally:
        harness.stop_kernel(km, kc)


if __name__ == "__main__":
    harness.run(scenario, limit_seconds=140)
