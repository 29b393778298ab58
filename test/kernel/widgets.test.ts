// ipywidgets protocol 2.1 with the real kernel and Debian's jupyter_client
// playing the frontend: comm_open with the full state, the widget-view
// display, a frontend update reaching the model and its observer (and its
// echo_update), kernel-side changes, request_state and button clicks.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { outputsOf, runScenario } from "./kernel-client.js";

describe("widgets through jupyter_client", () => {
  let r: Record<string, any>;
  before(async () => {
    r = (await runScenario("widgets")).results;
  });

  const commMsgs = (outputs: any[]) => outputs.filter((o) => o.msg_type === "comm_msg").map((o) => o.content);

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
    const result = outputsOf(r.create, "execute_result")[0];
    assert.deepEqual(result.data["application/vnd.jupyter.widget-view+json"], { model_id: r.slider_id, version_major: 2, version_minor: 1 });
    assert.match(result.data["text/plain"], /^IntSlider\(.*value=3/);
  });

  it("applies a frontend update, runs the observer and echoes it", () => {
    assert.deepEqual(JSON.parse(outputsOf(r.after_update, "execute_result")[0].data["text/plain"].slice(1, -1)), {
      value: 7,
      seen: [{ name: "value", old: 3, new: 7 }],
    });
    // ipywidgets 8: the accepted keys come back as echo_update, and no plain update repeats the same value
    assert.deepEqual(commMsgs(r.update_outputs), [{ comm_id: r.slider_id, data: { method: "echo_update", state: { value: 7 }, buffer_paths: [] } }]);
  });

  it("sends kernel-side changes to the frontend", () => {
    assert.deepEqual(commMsgs(r.kernel_set.outputs), [{ comm_id: r.slider_id, data: { method: "update", state: { value: 9 }, buffer_paths: [] } }]);
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

  it("runs Button onClick handlers on a frontend click", () => {
    assert.deepEqual(
      r.click_outputs.filter((o: any) => o.msg_type === "stream").map((o: any) => o.content.text),
      ["clicked 1\n"],
    );
    assert.equal(outputsOf(r.clicks, "execute_result")[0].data["text/plain"], "1");
  });
});
