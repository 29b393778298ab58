"""Widget protocol (ipywidgets 2.1) against the vramlab kernel: cells make
widgets, the client plays the frontend (updates with and without binary
buffers, request_state, the control comm's request_states, button clicks)
and records every message the kernel sends back, with buffer contents."""
import uuid

import harness

OPENED = []  # every comm_open the kernel sent, in order


def _collect(kc, msg_id, want_reply):
    bufs = []

    def on_msg(m):
        if m["msg_type"] != "status":
            bufs.append([bytes(b).hex() for b in m.get("buffers", [])])

    reply, outputs = harness.collect(kc, msg_id, want_reply=want_reply, on_msg=on_msg)
    for o, b in zip(outputs, bufs):
        o["buffer_hex"] = b
        if o["msg_type"] == "comm_open":
            OPENED.append(o["content"])
    return reply, outputs


def ex(kc, code):
    msg_id = kc.execute(code)
    reply, outputs = _collect(kc, msg_id, True)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"cell failed: {reply['content'].get('ename')}: {reply['content'].get('evalue')}\n{code}")
    return {"msg_id": msg_id, "reply": reply["content"], "outputs": outputs}


def send(kc, msg_type, content, buffers=None):
    msg = kc.session.msg(msg_type, content)
    kc.session.send(kc.shell_channel.socket, msg, buffers=buffers or [])
    return {"msg_id": msg["header"]["msg_id"], "outputs": _collect(kc, msg["header"]["msg_id"], False)[1]}


def comm(kc, comm_id, data, buffers=None):
    return send(kc, "comm_msg", {"comm_id": comm_id, "data": data}, buffers)


def opened(run, model_name, **state):
    """comm id of the widget of this model opened in a run (with these state values)."""
    for o in run["outputs"]:
        if o["msg_type"] != "comm_open":
            continue
        st = o["content"]["data"]["state"]
        if st["_model_name"] == model_name and all(st.get(k) == v for k, v in state.items()):
            return o["content"]["comm_id"]
    raise KeyError(f"no {model_name} {state} opened")


def scenario(r):
    km, kc = harness.start_kernel()
    try:
        # ---- an IntSlider: open, display, frontend update, kernel update, request_state, bad input
        r["create"] = ex(kc,
            'import { IntSlider, Button } from "vramlab/widgets";\n'
            "const s = new IntSlider({ value: 3, min: 0, max: 10, description: \"steps\" });\n"
            "const seen: { name: string; old: unknown; new: unknown }[] = [];\n"
            "s.observe(\"value\", (c) => { seen.push({ name: c.name, old: c.old, new: c.new }); });\n"
            "s")
        sid = opened(r["create"], "IntSliderModel")
        r["slider_id"] = sid
        r["update"] = comm(kc, sid, {"method": "update", "state": {"value": 7}, "buffer_paths": []})
        r["after_update"] = ex(kc, "JSON.stringify({ value: s.value, seen: seen })")
        r["kernel_set"] = ex(kc, "s.value = 9; s.value")
        r["request_state"] = comm(kc, sid, {"method": "request_state"})
        r["unknown_key"] = comm(kc, sid, {"method": "update", "state": {"no_such_key": 1}, "buffer_paths": []})
        r["bad_update"] = comm(kc, sid, {"method": "update", "state": {"value": "many"}, "buffer_paths": []})
        r["after_bad"] = ex(kc, "s.value")

        # ---- Button clicks
        r["button"] = ex(kc,
            'const b = new Button({ description: "go" });\n'
            "let clicks = 0;\n"
            "b.onClick(() => { clicks++; console.log(`clicked ${clicks}`); });\n"
            "b")
        r["click"] = comm(kc, opened(r["button"], "ButtonModel"), {"method": "custom", "content": {"event": "click"}})
        r["clicks"] = ex(kc, "clicks")

        # ---- selection: the frontend moves the index; value and label follow
        r["toggle"] = ex(kc,
            'import { ToggleButtons, IntRangeSlider, Tab, Label, Image, Widget, Output, interact } from "vramlab/widgets";\n'
            'const tb = new ToggleButtons({ options: [["fast", 1], ["small", 2], ["exact", 3]], value: 2, description: "mode" });\n'
            "const tbSeen: unknown[] = [];\n"
            'tb.observe("value", (c) => { tbSeen.push(["value", c.old, c.new]); });\n'
            'tb.observe("label", (c) => { tbSeen.push(["label", c.old, c.new]); });\n'
            "tb")
        tbid = opened(r["toggle"], "ToggleButtonsModel")
        r["toggle_id"] = tbid
        r["toggle_update"] = comm(kc, tbid, {"method": "update", "state": {"index": 2}, "buffer_paths": []})
        r["toggle_after"] = ex(kc, "JSON.stringify({ index: tb.index, value: tb.value, label: tb.label, seen: tbSeen })")
        r["toggle_kernel_label"] = ex(kc, 'tb.label = "fast"; tb.index')

        # ---- range slider: the frontend sends a value out of bounds; the kernel clamps it and says so
        r["range"] = ex(kc, "const rs = new IntRangeSlider({ min: 0, max: 10, value: [2, 5] });\nrs")
        rsid = opened(r["range"], "IntRangeSliderModel")
        r["range_id"] = rsid
        r["range_update"] = comm(kc, rsid, {"method": "update", "state": {"value": [3, 12]}, "buffer_paths": []})
        r["range_after"] = ex(kc, "JSON.stringify(rs.value)")

        # ---- Tab titles and selection
        r["tab"] = ex(kc, 'const tab = new Tab([new Label({ value: "a" }), new Label({ value: "b" })], { titles: ["first"] });\ntab')
        r["tab_id"] = opened(r["tab"], "TabModel")
        r["tab_update"] = comm(kc, r["tab_id"], {"method": "update", "state": {"selected_index": 1}, "buffer_paths": []})
        r["tab_after"] = ex(kc, "JSON.stringify({ selected: tab.selected_index, titles: tab.titles })")

        # ---- binary buffers at nested paths, both ways; an Image's bytes
        r["blob"] = ex(kc,
            "class Blobs extends Widget {\n"
            "  declare payload: { meta: string; blobs: (Uint8Array | null)[] };\n"
            '  constructor() { super({ modelName: "BlobModel", modelModule: "vramlab-test", modelModuleVersion: "0.1.0", viewName: null, viewModule: "vramlab-test", viewModuleVersion: "0.1.0" }, { payload: { meta: "none", blobs: [] } }); }\n'
            "}\n"
            "const blob = new Blobs();\n"
            'const img = new Image({ value: new Uint8Array([137, 80, 78, 71]), format: "png" });\n'
            "blob.modelId")
        bid = opened(r["blob"], "BlobModel")
        r["blob_id"] = bid
        r["image_id"] = opened(r["blob"], "ImageModel")
        r["blob_kernel_set"] = ex(kc, 'blob.payload = { meta: "two", blobs: [new Uint8Array([1, 2, 3]), new Uint8Array(new Float32Array([1.5]).buffer)] };')
        r["blob_update"] = comm(kc, bid, {"method": "update", "state": {"payload": {"meta": "back", "blobs": [None]}}, "buffer_paths": [["payload", "blobs", 0]]}, [b"\x07\x08"])
        r["blob_after"] = ex(kc, "JSON.stringify({ meta: blob.payload.meta, first: Array.from(blob.payload.blobs[0] ?? []) })")
        r["blob_request_state"] = comm(kc, bid, {"method": "request_state"})

        # ---- after a page reload: the control comm's request_states
        ctl = uuid.uuid4().hex
        r["control_open"] = send(kc, "comm_open", {"comm_id": ctl, "target_name": "jupyter.widget.control", "data": {}})
        r["control_id"] = ctl
        r["opened_before_states"] = [o["comm_id"] for o in OPENED]
        r["request_states"] = comm(kc, ctl, {"method": "request_states"})
        send(kc, "comm_close", {"comm_id": ctl, "data": {}})

        # ---- Output: capture in a cell, callbacks captured, append/clear
        r["output"] = ex(kc, "const out = new Output();\nout")
        r["output_id"] = opened(r["output"], "OutputModel")
        r["capture"] = ex(kc,
            'console.log("before");\n'
            'await out.capture(async () => { console.log("inside 1"); await new Promise((res) => setTimeout(res, 20)); console.log("inside 2"); });\n'
            'console.log("after");')
        r["callbacks"] = ex(kc,
            "const clickOut = new Output();\n"
            'const b2 = new Button({ description: "log", output: clickOut });\n'
            'b2.onClick(() => { console.log("click inside output"); });\n'
            "const s2 = new IntSlider({ output: clickOut });\n"
            "s2.observe(\"value\", (c) => { console.log(`slider ${c.new}`); });\n"
            'const b3 = new Button({ description: "plain" });\n'
            'b3.onClick(() => out.capture(() => { console.log("captured in callback"); }));')
        r["click_out_id"] = opened(r["callbacks"], "OutputModel")
        r["b2_click"] = comm(kc, opened(r["callbacks"], "ButtonModel", description="log"), {"method": "custom", "content": {"event": "click"}})
        r["s2_update"] = comm(kc, opened(r["callbacks"], "IntSliderModel"), {"method": "update", "state": {"value": 42}, "buffer_paths": []})
        r["b3_click"] = comm(kc, opened(r["callbacks"], "ButtonModel", description="plain"), {"method": "custom", "content": {"event": "click"}})
        r["append_clear"] = ex(kc, 'out.append_stdout("appended\\n");\nconst afterAppend = JSON.stringify(out.outputs);\nout.clear_output();\nJSON.stringify({ afterAppend, cleared: out.outputs })')

        # ---- one of every class, default options: their comm_open states are checked against the schema
        r["every_class"] = ex(kc,
            "import * as W from \"vramlab/widgets\";\n"
            "const every = [\n"
            "  new W.IntSlider(), new W.FloatSlider(), new W.IntRangeSlider(), new W.FloatRangeSlider(), new W.IntProgress(), new W.FloatProgress(),\n"
            "  new W.IntText(), new W.FloatText(), new W.BoundedIntText(), new W.BoundedFloatText(), new W.Checkbox(), new W.ToggleButton(), new W.Valid(),\n"
            "  new W.Text(), new W.Textarea(), new W.Password(), new W.HTML(), new W.HTMLMath(), new W.Label(), new W.Image(), new W.Button(),\n"
            "  new W.HBox(), new W.VBox(), new W.GridBox(), new W.Tab(), new W.Accordion(), new W.Stack(),\n"
            '  new W.Dropdown({ options: ["x"] }), new W.RadioButtons({ options: ["x"] }), new W.ToggleButtons({ options: ["x"] }), new W.Select({ options: ["x"] }), new W.SelectionSlider({ options: ["x"] }),\n'
            '  new W.SelectMultiple({ options: ["x"] }), new W.SelectionRangeSlider({ options: ["x"] }),\n'
            "  new W.Output(),\n"
            "];\n"
            "every.length")

        # ---- interact: runs at once, re-runs on each change, shows errors and stays usable
        r["interact"] = ex(kc,
            "let runs = 0;\n"
            "const ui = interact(({ n, mode }) => {\n"
            "  runs++;\n"
            '  if (n === 13) throw new Error("unlucky 13");\n'
            "  console.log(`n=${n} mode=${mode}`);\n"
            "  return n * 10;\n"
            '}, { n: [0, 20], mode: ["a", "b"] });\n'
            "ui")
        nid = opened(r["interact"], "IntSliderModel", description="n")
        mid = opened(r["interact"], "DropdownModel", description="mode")
        r["interact_output_id"] = opened(r["interact"], "OutputModel")
        r["interact_box_id"] = opened(r["interact"], "VBoxModel")
        r["interact_n4"] = comm(kc, nid, {"method": "update", "state": {"value": 4}, "buffer_paths": []})
        r["interact_mode_b"] = comm(kc, mid, {"method": "update", "state": {"index": 1}, "buffer_paths": []})
        r["interact_n13"] = comm(kc, nid, {"method": "update", "state": {"value": 13}, "buffer_paths": []})
        r["interact_n5"] = comm(kc, nid, {"method": "update", "state": {"value": 5}, "buffer_paths": []})
        r["interact_after"] = ex(kc, "JSON.stringify({ runs, result: ui.result, kwargs: ui.kwargs })")

    finally:
        harness.stop_kernel(km, kc)


if __name__ == "__main__":
    harness.run(scenario)
