// ipywidgets protocol 2.1 with the real kernel and Debian's jupyter_client
// playing the frontend (test/kernel/client/widgets.py): comm_open with the
// full state, the widget-view display, frontend updates reaching the model
// and its observers (echo_update, rejected values), kernel-side changes,
// selection index/value/label, binary buffers at nested paths both ways,
// request_state, the control comm's request_states, Output capture (cells,
// callbacks, append/clear) and interact re-running on changes.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { outputsOf, runScenario } from "./kernel-client.js";

/** The ipywidgets 8 model specs, read here independently of the code under test. */
const SCHEMA = createRequire(import.meta.url)("@jupyter-widgets/schema/jupyterwidgetmodels.latest.json") as {
  model: { name: string; module: string; version: string };
  view: { name: string | null; module: string; version: string };
  attributes: { name: string; type: unknown; default: unknown }[];
}[];

describe("widgets through jupyter_client", () => {
  let r: Record<string, any>;
  before(async () => {
    r = (await runScenario("widgets")).results;
  });

  const commMsgs = (run: { outputs: any[] }) => run.outputs.filter((o) => o.msg_type === "comm_msg").map((o) => o.content);
  const result = (run: { outputs: any[] }) => outputsOf(run, "execute_result")[0].data["text/plain"] as string;
  // a string result shows as Node's inspect() of it: a JS string literal
  const jsonResult = (run: { outputs: any[] }) => JSON.parse(new Function(`return ${result(run)}`)() as string);
  const streamText = (outputs: any[], name = "stdout") => outputs.filter((o) => o.msg_type === "stream" && o.content.name === name).map((o) => o.content.text).join("");

  it("opens the slider's comm with its full state, after its layout and style", () => {
    const opens = outputsOf(r.create, "comm_open");
    const names = opens.map((o: any) => o.data.state._model_name);
    assert.deepEqual(names, ["LayoutModel", "SliderStyleModel", "IntSliderModel"], "children are opened before the model that references them");
    for (const o of opens) {
      assert.equal(o.target_name, "jupyter.widget");
      assert.deepEqual(o.data.buffer_paths, []);
    }
    const slider = opens[2];
    assert.equal(slider.comm_id, r.slider_id);
    const open = r.create.outputs.find((o: any) => o.msg_type === "comm_open" && o.content.comm_id === r.slider_id);
    assert.deepEqual(open.metadata, { version: "2.1.0" });
    const st = slider.data.state;
    assert.equal(st._model_module, "@jupyter-widgets/controls");
    assert.equal(st._model_module_version, "2.0.0");
    assert.equal(st._view_name, "IntSliderView");
    assert.equal(st._view_module_version, "2.0.0");
    assert.deepEqual([st.value, st.min, st.max, st.step, st.description, st.readout_format], [3, 0, 10, 1, "steps", "d"]);
    assert.equal(st.layout, `IPY_MODEL_${opens[0].comm_id}`);
    assert.equal(st.style, `IPY_MODEL_${opens[1].comm_id}`);
    assert.equal(opens[0].data.state._model_module, "@jupyter-widgets/base");
    assert.equal(opens[0].data.state.width, null);
  });

  it("displays the slider as a widget view", () => {
    const res = outputsOf(r.create, "execute_result")[0];
    assert.deepEqual(res.data["application/vnd.jupyter.widget-view+json"], { model_id: r.slider_id, version_major: 2, version_minor: 1 });
    assert.match(res.data["text/plain"], /^IntSlider\(.*value=3/);
  });

  it("applies a frontend update, runs the observer and echoes it", () => {
    assert.deepEqual(jsonResult(r.after_update), { value: 7, seen: [{ name: "value", old: 3, new: 7 }] });
    // ipywidgets 8: the accepted keys come back as echo_update, and no plain update repeats the same value
    assert.deepEqual(commMsgs(r.update), [{ comm_id: r.slider_id, data: { method: "echo_update", state: { value: 7 }, buffer_paths: [] } }]);
  });

  it("sends kernel-side changes to the frontend", () => {
    assert.deepEqual(commMsgs(r.kernel_set), [{ comm_id: r.slider_id, data: { method: "update", state: { value: 9 }, buffer_paths: [] } }]);
  });

  it("answers request_state with the full current state", () => {
    const msgs = commMsgs(r.request_state);
    assert.equal(msgs.length, 1);
    const { method, state, buffer_paths } = msgs[0].data;
    assert.equal(method, "update");
    assert.deepEqual(buffer_paths, []);
    assert.equal(state.value, 9);
    assert.equal(state._model_name, "IntSliderModel");
    assert.deepEqual(Object.keys(state).sort(), Object.keys(outputsOf(r.create, "comm_open")[2].data.state).sort());
  });

  it("ignores state keys the model does not have (no echo)", () => {
    assert.deepEqual(commMsgs(r.unknown_key), []);
  });

  it("rejects a frontend value of the wrong type: says why and puts the frontend back on the kernel's value", () => {
    const msgs = commMsgs(r.bad_update).map((m: any) => m.data);
    assert.deepEqual(msgs, [
      { method: "echo_update", state: { value: "many" }, buffer_paths: [] },
      { method: "update", state: { value: 9 }, buffer_paths: [] },
    ]);
    assert.match(streamText(r.bad_update.outputs, "stderr"), /IntSlider\.value must be an integer, got "many"/);
    assert.equal(result(r.after_bad), "9");
  });

  it("runs Button onClick handlers on a frontend click", () => {
    assert.equal(streamText(r.click.outputs), "clicked 1\n");
    assert.equal(result(r.clicks), "1");
  });

  it("keeps a selection's index, value and label consistent from the frontend and the kernel", () => {
    const open = r.toggle.outputs.find((o: any) => o.msg_type === "comm_open" && o.content.comm_id === r.toggle_id).content.data.state;
    assert.deepEqual([open._options_labels, open.index, open.description], [["fast", "small", "exact"], 1, "mode"]);
    assert.equal(open.value, undefined, "values stay in the kernel; the frontend knows labels and the index");
    assert.deepEqual(jsonResult(r.toggle_after), { index: 2, value: 3, label: "exact", seen: [["value", 2, 3], ["label", "small", "exact"]] });
    assert.deepEqual(commMsgs(r.toggle_kernel_label).map((m: any) => m.data), [{ method: "update", state: { index: 0 }, buffer_paths: [] }]);
  });

  it("clamps a range slider value from the frontend and tells the frontend", () => {
    assert.deepEqual(commMsgs(r.range_update).map((m: any) => m.data), [
      { method: "echo_update", state: { value: [3, 12] }, buffer_paths: [] },
      { method: "update", state: { value: [3, 10] }, buffer_paths: [] },
    ]);
    assert.equal(result(r.range_after), "'[3,10]'");
  });

  it("pads Tab titles to its children and takes the selected tab from the frontend", () => {
    const st = r.tab.outputs.find((o: any) => o.msg_type === "comm_open" && o.content.comm_id === r.tab_id).content.data.state;
    assert.deepEqual([st.titles, st.selected_index, st.children.length], [["first", ""], 0, 2]);
    assert.deepEqual(jsonResult(r.tab_after), { selected: 1, titles: ["first", ""] });
  });

  it("sends binary values as buffers at their (nested) paths and puts received buffers back", () => {
    const img = r.blob.outputs.find((o: any) => o.msg_type === "comm_open" && o.content.comm_id === r.image_id);
    assert.deepEqual(img.content.data.buffer_paths, [["value"]]);
    assert.deepEqual(img.buffer_hex, ["89504e47"]);
    assert.equal("value" in img.content.data.state, false, "the bytes travel as a buffer, not in the JSON");

    const set = r.blob_kernel_set.outputs.find((o: any) => o.msg_type === "comm_msg");
    assert.deepEqual(set.content.data, { method: "update", state: { payload: { meta: "two", blobs: [null, null] } }, buffer_paths: [["payload", "blobs", 0], ["payload", "blobs", 1]] });
    assert.deepEqual(set.buffer_hex, ["010203", "0000c03f"]);

    const echo = r.blob_update.outputs.find((o: any) => o.msg_type === "comm_msg");
    assert.deepEqual(echo.content.data, { method: "echo_update", state: { payload: { meta: "back", blobs: [null] } }, buffer_paths: [["payload", "blobs", 0]] });
    assert.deepEqual(echo.buffer_hex, ["0708"]);
    assert.deepEqual(jsonResult(r.blob_after), { meta: "back", first: [7, 8] });

    const full = r.blob_request_state.outputs.find((o: any) => o.msg_type === "comm_msg");
    assert.equal(full.content.data.method, "update");
    assert.deepEqual(full.content.data.buffer_paths, [["payload", "blobs", 0]]);
    assert.deepEqual(full.buffer_hex, ["0708"]);
  });

  it("answers the control comm's request_states with every live model's full state and buffers", () => {
    assert.deepEqual(r.control_open.outputs.filter((o: any) => o.msg_type === "comm_close"), [], "the control target is registered");
    const reply = r.request_states.outputs.filter((o: any) => o.msg_type === "comm_msg");
    assert.equal(reply.length, 1);
    assert.equal(reply[0].content.comm_id, r.control_id);
    const { method, states, buffer_paths } = reply[0].content.data;
    assert.equal(method, "update_states");
    // every widget opened so far is alive (none was closed)
    assert.deepEqual(Object.keys(states).sort(), [...r.opened_before_states].sort());
    const slider = states[r.slider_id];
    assert.deepEqual([slider.model_name, slider.model_module, slider.model_module_version], ["IntSliderModel", "@jupyter-widgets/controls", "2.0.0"]);
    assert.equal(slider.state.value, 9);
    assert.equal(slider.state._view_name, "IntSliderView");
    assert.deepEqual(states[r.toggle_id].state.index, 0);
    // buffers: paths start with the model id and "state", as the frontend's _loadFromKernel expects
    assert.deepEqual(
      buffer_paths.map((p: any[]) => JSON.stringify(p)).sort(),
      [JSON.stringify([r.blob_id, "state", "payload", "blobs", 0]), JSON.stringify([r.image_id, "state", "value"])].sort(),
    );
    const byPath = Object.fromEntries(buffer_paths.map((p: any[], i: number) => [p[0], reply[0].buffer_hex[i]]));
    assert.deepEqual(byPath, { [r.blob_id]: "0708", [r.image_id]: "89504e47" });
    assert.deepEqual(states[r.blob_id].state.payload, { meta: "back", blobs: [null] });
  });

  it("captures a cell's output into an Output: msg_id is the execute request's while capturing, then ''", () => {
    const outs = r.capture.outputs.filter((o: any) => o.msg_type === "stream" || o.msg_type === "comm_msg");
    const msgIdUpdates = outs.map((o: any, i: number) => [i, o.content.data?.state?.msg_id]).filter(([, m]: any) => m !== undefined);
    assert.deepEqual(msgIdUpdates.map(([, m]: any) => m), [r.capture.msg_id, ""]);
    const [start, end] = msgIdUpdates.map(([i]: any) => i);
    assert.equal(streamText(outs.slice(0, start)), "before\n");
    assert.equal(streamText(outs.slice(start, end)), "inside 1\ninside 2\n");
    assert.equal(streamText(outs.slice(end)), "after\n");
    for (const o of r.capture.outputs.filter((o: any) => o.msg_type === "comm_msg")) assert.equal(o.content.comm_id, r.output_id);
  });

  it("captures widget callbacks into the widget's Output under the comm_msg's id", () => {
    for (const [run, text, outId] of [
      [r.b2_click, "click inside output\n", r.click_out_id],
      [r.s2_update, "slider 42\n", r.click_out_id],
      [r.b3_click, "captured in callback\n", r.output_id],
    ] as const) {
      const seq = run.outputs
        .filter((o: any) => (o.msg_type === "comm_msg" && o.content.data.state?.msg_id !== undefined) || o.msg_type === "stream")
        .map((o: any) => (o.msg_type === "stream" ? o.content.text : { comm: o.content.comm_id, msg_id: o.content.data.state.msg_id }));
      assert.deepEqual(seq, [{ comm: outId, msg_id: run.msg_id }, text, { comm: outId, msg_id: "" }]);
    }
  });

  it("append_stdout and clear_output update the Output's outputs", () => {
    assert.deepEqual(jsonResult(r.append_clear), { afterAppend: JSON.stringify([{ output_type: "stream", name: "stdout", text: "appended\n" }]), cleared: [] });
    const types = r.append_clear.outputs.filter((o: any) => o.msg_type !== "execute_input" && o.msg_type !== "execute_result").map((o: any) => (o.msg_type === "comm_msg" ? Object.keys(o.content.data.state)[0] : o.msg_type));
    // the clear goes both ways: a captured clear_output (routed by msg_id) and outputs: [] for state-only frontends
    assert.deepEqual(types, ["outputs", "msg_id", "clear_output", "msg_id", "outputs"]);
  });

  it("opens every widget class with every attribute the schema lists, its defaults, and the schema's names and versions", () => {
    const opens = outputsOf(r.every_class, "comm_open");
    assert.equal(result(r.every_class), "35");
    const byName = new Map(SCHEMA.map((m) => [m.model.name, m]));
    // values the constructors set on purpose (as ipywidgets' constructors do), not the schema's static defaults
    const deliberate: Record<string, Record<string, unknown>> = {
      IntRangeSliderModel: { value: [25, 75] },
      FloatRangeSliderModel: { value: [25, 75] },
      DropdownModel: { _options_labels: ["x"], index: 0 },
      RadioButtonsModel: { _options_labels: ["x"], index: 0 },
      ToggleButtonsModel: { _options_labels: ["x"], index: 0 },
      SelectModel: { _options_labels: ["x"], index: 0 },
      SelectionSliderModel: { _options_labels: ["x"], index: 0 },
      SelectMultipleModel: { _options_labels: ["x"] },
      SelectionRangeSliderModel: { _options_labels: ["x"] },
    };
    const seen = new Set<string>();
    for (const o of opens) {
      const st = o.data.state;
      const spec = byName.get(st._model_name);
      assert.ok(spec, `${st._model_name} is a schema model`);
      seen.add(st._model_name);
      assert.deepEqual(
        [st._model_module, st._model_module_version, st._view_name, st._view_module, st._view_module_version],
        [spec.model.module, spec.model.version, spec.view.name, spec.view.module, spec.view.version],
        st._model_name,
      );
      const binaryKeys = (o.data.buffer_paths as string[][]).map((p) => p[0]);
      const keys = new Set([...Object.keys(st), ...binaryKeys]);
      for (const a of spec.attributes) {
        assert.ok(keys.has(a.name), `${st._model_name} state has ${a.name}`);
        if (a.type === "reference") assert.match(st[a.name], /^IPY_MODEL_[0-9a-f]{32}$/, `${st._model_name}.${a.name} is a new child widget`);
        else if (a.type === "bytes") assert.ok(binaryKeys.includes(a.name), `${st._model_name}.${a.name} travels as a buffer`);
        else {
          const expected = deliberate[st._model_name]?.[a.name] ?? a.default;
          assert.deepEqual(st[a.name], expected, `${st._model_name}.${a.name} default`);
        }
      }
      // nothing beyond the schema but _view_count (ipywidgets' experimental view counter)
      assert.deepEqual([...keys].filter((k) => !spec.attributes.some((a) => a.name === k)), ["_view_count"], st._model_name);
    }
    // the 35 classes plus the layouts and styles they made
    assert.ok(seen.has("LayoutModel") && seen.has("SliderStyleModel") && seen.has("ToggleButtonsStyleModel") && seen.has("ButtonStyleModel"));
    assert.equal(seen.size, 35 + 1 + 11, "35 widget models, LayoutModel and the 11 style models the schema references");
  });

  it("interact builds controls in a VBox with an Output and runs fn into it", () => {
    const opens = outputsOf(r.interact, "comm_open");
    const box = opens.find((o: any) => o.comm_id === r.interact_box_id).data.state;
    const slider = opens.find((o: any) => o.data.state._model_name === "IntSliderModel").data.state;
    const dd = opens.find((o: any) => o.data.state._model_name === "DropdownModel").data.state;
    assert.equal(box.children.length, 3);
    assert.equal(box.children[2], `IPY_MODEL_${r.interact_output_id}`);
    assert.deepEqual(box._dom_classes, ["widget-interact"]);
    assert.deepEqual([slider.min, slider.max, slider.value, slider.description], [0, 20, 10, "n"]);
    assert.deepEqual([dd._options_labels, dd.index], [["a", "b"], 0]);
    assert.equal(outputsOf(r.interact, "execute_result")[0].data["application/vnd.jupyter.widget-view+json"].model_id, r.interact_box_id);
    const first = captured(r.interact);
    assert.deepEqual(first, { msgId: r.interact.msg_id, seq: ["clear_output:wait", "stdout:n=10 mode=a\n", "display:100"] });
  });

  /** What a run routed into the interact Output: the msg_id it set, then the outputs until it was reset. */
  function captured(run: { outputs: any[] }): { msgId: string; seq: string[] } {
    const outs = run.outputs;
    const start = outs.findIndex((o) => o.msg_type === "comm_msg" && o.content.comm_id === r.interact_output_id && o.content.data.state?.msg_id);
    const end = outs.findIndex((o, i) => i > start && o.msg_type === "comm_msg" && o.content.comm_id === r.interact_output_id && o.content.data.state?.msg_id === "");
    assert.ok(start >= 0 && end > start, "the run set and reset the Output's msg_id");
    const seq = outs.slice(start + 1, end).map((o) =>
      o.msg_type === "clear_output" ? `clear_output:${o.content.wait ? "wait" : "now"}` : o.msg_type === "stream" ? `${o.content.name}:${o.content.text}` : o.msg_type === "display_data" ? `display:${o.content.data["text/plain"]}` : o.msg_type,
    );
    return { msgId: outs[start].content.data.state.msg_id, seq };
  }

  it("interact re-runs fn on each control change, shows a throwing fn's error in the Output, and stays usable", () => {
    assert.deepEqual(captured(r.interact_n4), { msgId: r.interact_n4.msg_id, seq: ["clear_output:wait", "stdout:n=4 mode=a\n", "display:40"] });
    assert.deepEqual(captured(r.interact_mode_b), { msgId: r.interact_mode_b.msg_id, seq: ["clear_output:wait", "stdout:n=4 mode=b\n", "display:40"] });
    const failed = captured(r.interact_n13);
    assert.equal(failed.seq[0], "clear_output:wait");
    assert.equal(failed.seq.length, 2);
    assert.match(failed.seq[1], /^stderr:Error: unlucky 13\n/);
    assert.deepEqual(captured(r.interact_n5).seq, ["clear_output:wait", "stdout:n=5 mode=b\n", "display:50"]);
    assert.deepEqual(jsonResult(r.interact_after), { runs: 5, result: 50, kwargs: { n: 5, mode: "b" } });
  });
});

describe("Output capture end to end with nbclient (its Output-widget support plays the frontend)", () => {
  let r: Record<string, any>;
  before(async () => {
    r = (await runScenario("widgets-notebook")).results;
  });

  it("routes captured output into the widget, not the cell, and the kernel reads it back as outputs", () => {
    const modelId = r.cells[0].outputs[0].data["application/vnd.jupyter.widget-view+json"].model_id;
    assert.equal(typeof modelId, "string");
    // the capturing cell keeps only what ran outside the capture
    assert.deepEqual(r.cells[1].outputs.map((o: any) => [o.output_type, o.text]), [["stream", "cell line 1\n"], ["stream", "cell line 2\n"]]);
    // nbclient sent the widget's outputs back as state: the kernel-side Output holds the captured text and display
    const outputs = JSON.parse(new Function(`return ${r.cells[2].outputs[0].data["text/plain"]}`)() as string);
    assert.deepEqual(outputs[0], { output_type: "stream", name: "stdout", text: "captured line\n" });
    assert.equal(outputs[1].output_type, "display_data");
    assert.equal(outputs[1].data["text/html"], "<b>shown in the widget</b>");
    assert.equal(outputs.length, 2);
    // clear_output empties it in the kernel, in nbclient and in the saved widget state
    assert.equal(r.cells[3].outputs[0].data["text/plain"], "'[]'");
    const saved = r.widget_state[modelId];
    assert.deepEqual([saved.model_name, saved.model_module, saved.model_module_version], ["OutputModel", "@jupyter-widgets/output", "1.0.0"]);
    assert.deepEqual([saved.state.outputs, saved.state.msg_id], [[], ""]);
  });
});
