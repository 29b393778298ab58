"""Widget protocol (ipywidgets 2.1) against the vramlab kernel: a cell makes
an IntSlider, the client plays the frontend (update, request_state, button
click) and records the comm messages the kernel sends back."""
import harness


def comm_msgs(outputs, comm_id=None):
    return [o["content"] for o in outputs if o["msg_type"] == "comm_msg" and (comm_id is None or o["content"]["comm_id"] == comm_id)]


def send_comm(kc, comm_id, data):
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    kc.shell_channel.send(msg)
    return harness.collect(kc, msg["header"]["msg_id"], want_reply=False)[1]


def scenario(r):
    km, kc = harness.start_kernel()
    try:
        ex = lambda code: harness.execute(kc, code)
        r["create"] = ex(
            'import { IntSlider, Button } from "vramlab/widgets";\n'
            "const s = new IntSlider({ value: 3, min: 0, max: 10, description: \"steps\" });\n"
            "const seen: { name: string; old: unknown; new: unknown }[] = [];\n"
            "s.observe(\"value\", (c) => { seen.push({ name: c.name, old: c.old, new: c.new }); });\n"
            "s"
        )
        opens = [o["content"] for o in r["create"]["outputs"] if o["msg_type"] == "comm_open"]
        slider = [o for o in opens if o["data"]["state"]["_model_name"] == "IntSliderModel"][0]
        sid = slider["comm_id"]
        r["update_outputs"] = send_comm(kc, sid, {"method": "update", "state": {"value": 7}, "buffer_paths": []})
        r["after_update"] = ex("JSON.stringify({ value: s.value, seen: seen })")
        r["kernel_set"] = ex("s.value = 9; s.value")
        r["request_state"] = send_comm(kc, sid, {"method": "request_state"})
        r["unknown_key"] = send_comm(kc, sid, {"method": "update", "state": {"no_such_key": 1}, "buffer_paths": []})
        r["button"] = ex(
            'const b = new Button({ description: "go" });\n'
            "let clicks = 0;\n"
            "b.onClick(() => { clicks++; console.log(`clicked ${clicks}`); });\n"
            "b"
        )
        bopen = [o["content"] for o in r["button"]["outputs"] if o["msg_type"] == "comm_open" and o["content"]["data"]["state"]["_model_name"] == "ButtonModel"][0]
        r["click_outputs"] = send_comm(kc, bopen["comm_id"], {"method": "custom", "content": {"event": "click"}})
        r["clicks"] = ex("clicks")
        r["slider_id"] = sid
    finally:
        harness.stop_kernel(km, kc)


if __name__ == "__main__":
    harness.run(scenario)
