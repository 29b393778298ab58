"""Protocol scenario: kernel_info, every output type, errors, introspection,
history, stdin, comms and imports, against one kernel started in a
temporary folder outside the package."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def scenario(r):
    cwd = tempfile.mkdtemp(prefix="vramlab-nb-")
    km, kc = harness.start_kernel(cwd=cwd)
    try:
        r["kernel_info_shell"] = harness.request(kc, "kernel_info_request", {})
        r["kernel_info_control"] = harness.control_request(kc, "kernel_info_request", {})
        ex = lambda code, **kw: harness.execute(kc, code, **kw)

        r["result"] = ex("1 + 1")
        r["streams"] = ex('console.log("out", 1); console.error("err", 2); process.stdout.write("raw\\n"); 7')
        r["persist_1"] = ex("const base: number = 40; let counter = 0; function inc(): number { return ++counter; }")
        r["persist_2"] = ex("inc(); inc(); base + counter")
        r["tla"] = ex('const v = await new Promise<string>((res) => setTimeout(() => res("late"), 50)); v.toUpperCase()')
        r["display"] = ex(
            'import { html, markdown, svg, png, json, table, clearOutput } from "vramlab/kernel";\n'
            'display(html`<b>bold</b>`);\n'
            'display(markdown("# Title"));\n'
            'display(svg(\'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>\'));\n'
            'display(json({ a: [1, 2] }));\n'
            'display(table([{ name: "a", bytes: 1024 }, { name: "b<c", bytes: 7 }]));\n'
            'display({ [Symbol.for("Jupyter.display")]() { return { "text/html": "<i>custom</i>", "text/plain": "custom" }; } });\n'
            'display("plain string");\n'
            'clearOutput({ wait: true });\n'
        )
        r["png"] = ex(
            'import { png } from "vramlab/kernel";\n'
            'import { readFileSync } from "node:fs";\n'
            'const logo = readFileSync(process.env.VRAMLAB_TEST_LOGO!);\n'
            "display(png(logo, { width: 32 }));"
        )
        r["update"] = ex(
            "const h = display(html`<p>first</p>`, { displayId: true });\n"
            "h.update(html`<p>second</p>`);\n"
        )
        r["progress"] = ex(
            'import { progress } from "vramlab/kernel";\n'
            'const bar = progress(4, { label: "steps", minIntervalMs: 0 });\n'
            "for (let i = 0; i < 4; i++) bar.increment();\n"
            "bar.done();"
        )
        r["displayable_result"] = ex('import { table } from "vramlab/kernel"; table([[1, 2.5], [3, 4]], { columns: ["x", "y"] })')
        r["runtime_error"] = ex(
            "// a comment line\n"
            "function explode(n: number): never {\n"
            "  throw new RangeError(`bad n ${n}`);\n"
            "}\n"
            "explode(3);\n"
        )
        # (tslab keeps declarations of successful cells only, so explode is defined again here)
        r["define_explode"] = ex("function explode(n: number): never {\n  throw new RangeError(`bad n ${n}`);\n}")
        r["error_from_earlier_cell"] = ex("const k: number = 1;\nexplode(k);")
        r["type_error"] = ex('let typed: number = "not a number";')
        r["error_after_output"] = ex('console.log("before"); throw new Error("after output")')
        r["silent"] = ex("counter * 100", silent=True)
        r["no_history"] = ex("counter * 10", store_history=False)
        r["after_silent"] = ex("counter")
        r["user_expressions"] = ex("const ue = 5;", user_expressions={"double": "ue * 2", "bad": "nope("})

        # stop_on_error: an error aborts the execute_requests queued behind it.
        # (the failing cell waits first, so the two behind it are surely queued in the kernel even on a loaded machine)
        ids = [kc.execute('await new Promise((r) => setTimeout(r, 300)); throw new Error("first fails")'), kc.execute("1"), kc.execute("2")]
        r["stop_on_error"] = [harness.collect(kc, i)[0]["content"] for i in ids]
        r["after_abort"] = ex("3")
        ids = [kc.execute('throw new Error("no stop")', stop_on_error=False), kc.execute("4")]
        r["no_stop_on_error"] = [harness.collect(kc, i)[0]["content"] for i in ids]

        r["is_complete"] = {
            "complete": harness.request(kc, "is_complete_request", {"code": "const a = 1;"})["content"],
            "incomplete": harness.request(kc, "is_complete_request", {"code": "function f() {"})["content"],
            "invalid": harness.request(kc, "is_complete_request", {"code": "const = = 3;"})["content"],
        }
        code = 'const s😀 = "x"; base.toFix'
        r["complete"] = harness.request(kc, "complete_request", {"code": code, "cursor_pos": len(code)})["content"]
        r["complete_code_points"] = len(code)
        r["inspect"] = harness.request(kc, "inspect_request", {"code": "base", "cursor_pos": 2, "detail_level": 0})["content"]
        r["inspect_missing"] = harness.request(kc, "inspect_request", {"code": "   ", "cursor_pos": 1, "detail_level": 0})["content"]
        r["history_tail"] = harness.request(kc, "history_request", {"hist_access_type": "tail", "n": 3, "output": False, "raw": True})["content"]
        r["history_range"] = harness.request(kc, "history_request", {"hist_access_type": "range", "session": 0, "start": 1, "stop": 3, "output": True, "raw": True})["content"]
        r["history_search"] = harness.request(kc, "history_request", {"hist_access_type": "search", "pattern": "inc()*", "output": False, "raw": True})["content"]

        # stdin: input() sends input_request; the answer comes back as the cell's value.
        msg_id = kc.execute('import { input } from "vramlab/kernel"; const answer = await input("Name? "); `hello ${answer}`', allow_stdin=True)
        req = kc.get_stdin_msg(timeout=20)
        r["input_request"] = {"msg_type": req["msg_type"], "content": req["content"], "parent": req["parent_header"].get("msg_id") == msg_id}
        kc.input("Ada")
        reply, outputs = harness.collect(kc, msg_id)
        r["input_result"] = {"reply": reply["content"], "outputs": outputs}
        r["input_not_allowed"] = ex('import { input } from "vramlab/kernel"; await input("x")', allow_stdin=False)

        # comms: a target registered by a cell; frontend opens, messages both ways, closes.
        r["comm_setup"] = ex(
            'import { registerCommTarget, openComm } from "vramlab/kernel";\n'
            "const closedComms: string[] = [];\n"
            'registerCommTarget("echo", (comm, open) => {\n'
            '  comm.send({ opened: open.data });\n'
            "  comm.onMsg((m) => comm.send({ echo: m.data, buffers: m.buffers.length }));\n"
            "  comm.onClose(() => { closedComms.push(comm.id); });\n"
            "});"
        )
        open_msg = kc.session.msg("comm_open", {"comm_id": "c1", "target_name": "echo", "data": {"hello": 1}})
        kc.shell_channel.send(open_msg)
        r["comm_open"] = harness.collect(kc, open_msg["header"]["msg_id"], want_reply=False)[1]
        msg = kc.session.msg("comm_msg", {"comm_id": "c1", "data": {"ping": 2}})
        kc.session.send(kc.shell_channel.socket, msg, buffers=[b"\x00\x01"])
        r["comm_msg"] = harness.collect(kc, msg["header"]["msg_id"], want_reply=False)[1]
        r["comm_info"] = harness.request(kc, "comm_info_request", {"target_name": "echo"})["content"]
        msg = kc.session.msg("comm_close", {"comm_id": "c1", "data": {}})
        kc.shell_channel.send(msg)
        harness.collect(kc, msg["header"]["msg_id"], want_reply=False)
        r["comm_closed"] = ex("closedComms")
        r["comm_info_after"] = harness.request(kc, "comm_info_request", {})["content"]
        msg = kc.session.msg("comm_open", {"comm_id": "c2", "target_name": "nobody", "data": {}})
        kc.shell_channel.send(msg)
        r["comm_unknown"] = harness.collect(kc, msg["header"]["msg_id"], want_reply=False)[1]
        r["comm_from_kernel"] = ex('const mine = openComm("frontend.target", { x: 1 }); mine.send({ y: 2 }); mine.close(); mine.id')

        r["imports"] = ex(
            'import * as vl from "vramlab";\n'
            'import { WIDGET_PROTOCOL_VERSION } from "vramlab/widgets";\n'
            "const t = vl.tensor([1, 2, 3]);\n"
            "const out = [typeof vl.models.flux, WIDGET_PROTOCOL_VERSION, Array.from(t.toFloat32Array())];\n"
            "t.dispose();\n"
            "out"
        )
        r["import_type_error"] = ex('import * as vl2 from "vramlab"; const bad: string = vl2.tensor([1]);')
        r["import_missing"] = ex('import { nothing } from "vramlab/no-such-entry";')
        r["cwd"] = cwd

        # A package installed next to the notebook imports too; later changes to files there
        # (package.json, new files) must not break the following cells.
        pkg = os.path.join(cwd, "node_modules", "localpkg")
        os.makedirs(pkg)
        with open(os.path.join(pkg, "package.json"), "w") as f:
            f.write('{"name": "localpkg", "main": "index.js", "types": "index.d.ts"}')
        with open(os.path.join(pkg, "index.d.ts"), "w") as f:
            f.write("export declare const answer: number;\n")
        with open(os.path.join(pkg, "index.js"), "w") as f:
            f.write("exports.answer = 42;\n")
        r["local_package"] = ex('import { answer } from "localpkg"; answer')
        with open(os.path.join(pkg, "package.json"), "w") as f:
            f.write('{"name": "localpkg", "version": "2.0.0", "main": "index.js", "types": "index.d.ts"}')
        with open(os.path.join(cwd, "notes.txt"), "w") as f:
            f.write("new file\n")
        time.sleep(1.5)
        r["after_file_changes"] = ex("answer + 1")
        r["after_all"] = ex("base + counter")
    finally:
        harness.stop_kernel(km, kc)


harness.run(scenario)
