// Widget models outside the kernel (no comms): schema defaults and type
// checks, bounded and range values, selection index/value/label
// consistency, container titles, buffer paths, Output capture and interact.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import {
  Accordion,
  Button,
  Dropdown,
  FloatSlider,
  IntRangeSlider,
  IntSlider,
  Label,
  Output,
  RadioButtons,
  SchemaWidget,
  SelectionSlider,
  SelectMultiple,
  SelectionRangeSlider,
  jslink,
  link,
  dlink,
  Tab,
  ToggleButtons,
  WidgetLayout,
  interact,
  interactive,
  fixed,
  modelSchema,
  putBuffers,
  separateBuffers,
  widgetFromSpec,
  Checkbox,
  Text,
  type Change,
} from "../../widgets/index.js";

const SCHEMA = createRequire(import.meta.url)("@jupyter-widgets/schema/jupyterwidgetmodels.latest.json") as { model: { name: string }; attributes: { name: string; default: unknown; type: unknown }[] }[];

describe("schema defaults", () => {
  it("gives every schema model its attributes and defaults, children for layout and style", () => {
    for (const m of SCHEMA) {
      const s = modelSchema(m.model.name);
      assert.equal(s.spec.modelName, m.model.name);
      for (const a of m.attributes) {
        if (a.name.startsWith("_model_") || a.name.startsWith("_view_")) continue;
        assert.ok(a.name in s.defaults, `${m.model.name}.${a.name}`);
        if (a.type === "reference") assert.match(s.children[a.name], /^(Layout|\w+Style)Model$/);
        else if (a.type === "bytes") assert.ok(s.defaults[a.name] instanceof Uint8Array);
        else assert.deepEqual(s.defaults[a.name], a.default, `${m.model.name}.${a.name}`);
      }
    }
  });

  it("makes any schema model as a SchemaWidget, with its style model", () => {
    const picker = new SchemaWidget("ColorPickerModel", { value: "red", description: "c" });
    assert.equal(picker.get("value"), "red");
    assert.equal(picker.get<SchemaWidget>("style").modelName, "DescriptionStyleModel");
    assert.throws(() => new SchemaWidget("NoSuchModel"), /"NoSuchModel" is not an ipywidgets 8 model/);
  });

  it("rejects values of the wrong schema type or outside the enum, naming the key and what it takes", () => {
    assert.throws(() => new IntSlider({ value: 1.5 }), /IntSlider\.value must be an integer, got 1\.5/);
    assert.throws(() => new IntSlider({ orientation: "diagonal" as "horizontal" }), /IntSlider\.orientation must be one of "horizontal", "vertical", got "diagonal"/);
    assert.throws(() => new Checkbox({ value: "yes" as unknown as boolean }), /Checkbox\.value must be a boolean/);
    assert.throws(() => new Text({ nope: 1 } as unknown as object), /TextModel: unknown option "nope"/);
    assert.throws(() => new IntSlider({ layout: new Label() as unknown as WidgetLayout }), /IntSlider\.layout must be a Layout, got a Label/);
  });

  it("changes nothing when one value of a set() is rejected", () => {
    const s = new IntSlider({ value: 5, description: "a" });
    assert.throws(() => s.set({ description: "b", value: "x" }), /must be an integer/);
    assert.deepEqual([s.value, s.get("description")], [5, "a"]);
  });
});

describe("numbers", () => {
  it("clamps values into [min, max] and moves the value with new bounds", () => {
    const s = new IntSlider({ value: 50, min: 0, max: 10 });
    assert.equal(s.value, 10, "bounds given in the same options are applied first");
    const seen: Change[] = [];
    s.observe("value", (c) => void seen.push(c));
    s.max = 4;
    assert.equal(s.value, 4);
    assert.deepEqual(seen.map((c) => [c.old, c.new]), [[10, 4]]);
    assert.throws(() => (s.min = 5), /min \(5\) must not exceed max \(4\)/);
    const f = new FloatSlider({ value: 0.25, min: 0, max: 1, step: 0.05 });
    assert.equal(f.value, 0.25);
  });

  it("keeps range slider values ordered and inside the bounds; defaults to the middle half", () => {
    const r = new IntRangeSlider({ min: 0, max: 8 });
    assert.deepEqual(r.value, [2, 6]);
    r.value = [-3, 20];
    assert.deepEqual(r.value, [0, 8]);
    assert.throws(() => (r.value = [5, 2]), /lower \(5\) must not exceed upper \(2\)/);
    assert.throws(() => (r.value = [1] as unknown as [number, number]), /must be \[lower, upper\]/);
    assert.deepEqual([r.lower, r.upper], [0, 8]);
  });
});

describe("selection widgets", () => {
  it("keep index, value and label consistent whichever is set", () => {
    const d = new Dropdown({ options: [["fp8", "fp8wo"], ["int8", "int8wo"], ["none", null]], value: "int8wo" });
    assert.deepEqual([d.index, d.value, d.label], [1, "int8wo", "int8"]);
    assert.deepEqual(d.get("_options_labels"), ["fp8", "int8", "none"]);
    d.label = "fp8";
    assert.deepEqual([d.index, d.value, d.label], [0, "fp8wo", "fp8"]);
    d.index = 2;
    assert.deepEqual([d.index, d.value, d.label], [2, null, "none"]);
    d.value = "int8wo";
    assert.deepEqual([d.index, d.value, d.label], [1, "int8wo", "int8"]);
    d.value = null; // null selects nothing (the "none" option's value is also null, but null means no selection)
    assert.deepEqual([d.index, d.value, d.label], [null, null, null]);
  });

  it("run value and label observers when the index moves, with old and new", () => {
    const t = new ToggleButtons({ options: { fast: 1, small: 2, exact: 3 } });
    const seen: unknown[] = [];
    t.observe("value", (c) => void seen.push(["value", c.old, c.new]));
    t.observe("label", (c) => void seen.push(["label", c.old, c.new]));
    t.index = 2;
    t.value = 2;
    assert.deepEqual(seen, [["value", 1, 3], ["label", "fast", "exact"], ["value", 3, 2], ["label", "exact", "small"]]);
  });

  it("reject values, labels and indices that are not options", () => {
    const r = new RadioButtons({ options: ["a", "b"] });
    assert.throws(() => (r.value = "c"), /RadioButtons: value "c" is not one of the options \("a", "b"\)/);
    assert.throws(() => (r.label = "z"), /label "z" is not one of the options/);
    assert.throws(() => (r.index = 2), /index must be null or an integer in \[0, 2\), got 2/);
    assert.throws(() => new Dropdown({ options: ["a"], value: "a", index: 0 }), /give one of value, label or index/);
    assert.equal(r.value, "a");
  });

  it("keep the selected value when the options change and it is still there", () => {
    const d = new Dropdown<number>({ options: new Map([["one", 1], ["two", 2]]), value: 2 });
    d.options = [["zero", 0], ["two", 2]];
    assert.deepEqual([d.index, d.value], [1, 2]);
    d.options = [["three", 3]];
    assert.deepEqual([d.index, d.value, d.label], [0, 3, "three"]);
  });

  it("SelectionSlider is never empty and always has a selection", () => {
    assert.throws(() => new SelectionSlider({ options: [] }), /options must not be empty/);
    const s = new SelectionSlider({ options: ["lo", "hi"] });
    assert.throws(() => (s.index = null), /SelectionSlider.index must be an integer, got null/);
  });
});

describe("multiple selection", () => {
  it("SelectMultiple keeps index, value and label arrays consistent and observed", () => {
    const m = new SelectMultiple({ options: [["int8", "int8wo"], ["fp8", "fp8wo"], ["int4", "int4wo"]], value: ["fp8wo"] });
    assert.deepEqual([m.index, m.value, m.label], [[1], ["fp8wo"], ["fp8"]]);
    const seen: unknown[] = [];
    m.observe("value", (c) => void seen.push([c.old, c.new]));
    m.label = ["int8", "int4"];
    assert.deepEqual([m.index, m.value], [[0, 2], ["int8wo", "int4wo"]]);
    m.index = [];
    assert.deepEqual(seen, [[["fp8wo"], ["int8wo", "int4wo"]], [["int8wo", "int4wo"], []]]);
    assert.throws(() => (m.index = [3]), /SelectMultiple.index must hold integers in \[0, 3\), got \[3\]/);
    assert.throws(() => (m.value = ["bf16"]), /value "bf16" is not one of the options/);
    m.value = ["int4wo"];
    m.options = [["int4", "int4wo"], ["fpx", "fp6"]];
    assert.deepEqual([m.index, m.value], [[0], ["int4wo"]]);
  });

  it("SelectionRangeSlider keeps two ordered ends", () => {
    const r = new SelectionRangeSlider({ options: ["1", "2", "4", "8"], value: ["2", "8"] });
    assert.deepEqual([r.index, r.label], [[1, 3], ["2", "8"]]);
    assert.throws(() => (r.index = [3, 1]), /lower \(3\) must not exceed upper \(1\)/);
    assert.throws(() => (r.index = [1]), /must be \[lower, upper\]/);
    assert.throws(() => new SelectionRangeSlider({ options: [] }), /options must not be empty/);
  });
});

describe("links", () => {
  it("jslink makes a LinkModel whose source and target reference the widgets", () => {
    const a = new IntSlider();
    const b = new IntSlider();
    const l = jslink([a, "value"], [b, "value"]);
    const st = l.serializedState();
    assert.deepEqual([st._model_name, st._view_name, st.source, st.target], ["LinkModel", null, [`IPY_MODEL_${a.modelId}`, "value"], [`IPY_MODEL_${b.modelId}`, "value"]]);
    assert.throws(() => jslink([a, "nope"], [b, "value"]), /IntSliderModel has no state key "nope"/);
  });

  it("link keeps two values equal both ways; dlink transforms one way; both unlink", () => {
    const a = new IntSlider({ value: 3 });
    const d = new Dropdown<number>({ options: [["one", 1], ["three", 3], ["five", 5]] });
    const unlink = link([a, "value"], [d, "value"]);
    assert.equal(d.value, 3, "the target takes the source's value");
    d.value = 5;
    assert.equal(a.value, 5);
    a.value = 1;
    assert.equal(d.label, "one");
    unlink();
    a.value = 3;
    assert.equal(d.value, 1);
    const t = new Text();
    const undo = dlink<number, string>([a, "value"], [t, "value"], (v) => `${v} steps`);
    a.value = 7;
    assert.equal(t.value, "7 steps");
    undo();
    a.value = 8;
    assert.equal(t.value, "7 steps");
  });
});

describe("selection containers", () => {
  it("Tab pads titles to its children, selects the first, and follows children changes", () => {
    const tab = new Tab([new Label(), new Label(), new Label()], { titles: ["a"] });
    assert.deepEqual([tab.titles, tab.selected_index], [["a", "", ""], 0]);
    tab.set_title(2, "c");
    assert.equal(tab.get_title(2), "c");
    tab.selected_index = 2;
    tab.children = [tab.children[0]];
    assert.deepEqual([tab.titles, tab.selected_index], [["a"], null]);
    assert.throws(() => (tab.titles = ["a", "b"]), /2 titles for 1 children/);
    assert.throws(() => tab.set_title(3, "x"), /index 3 is not one of the 1 children/);
    assert.equal(new Accordion([new Label()]).selected_index, null);
  });
});

describe("binary buffers", () => {
  it("takes buffers out at nested paths without touching the input, and puts them back", () => {
    const a = new Uint8Array([1, 2]);
    const b = new Float32Array([1.5]);
    const state = { meta: "m", blobs: [a, "keep", { deep: b }], top: new Uint8Array([9]) };
    const { state: json, bufferPaths, buffers } = separateBuffers(state);
    assert.deepEqual(json, { meta: "m", blobs: [null, "keep", {}] });
    assert.deepEqual(bufferPaths, [["blobs", 0], ["blobs", 2, "deep"], ["top"]]);
    assert.deepEqual(buffers.map((x) => [...x]), [[1, 2], [0, 0, 192, 63], [9]]);
    assert.equal(state.blobs[0], a, "the input keeps its buffers");
    const back = structuredClone(json) as Record<string, unknown>;
    putBuffers(back, bufferPaths, buffers);
    assert.deepEqual((back.blobs as unknown[])[0], buffers[0]);
    assert.deepEqual(((back.blobs as unknown[])[2] as { deep: Uint8Array }).deep, buffers[1]);
  });

  it("says what is wrong with buffer paths that do not fit", () => {
    assert.throws(() => putBuffers({}, [["a", "b"]], [new Uint8Array(1)]), /no object or array at "a"/);
    assert.throws(() => putBuffers({}, [["a"]], []), /names 1 path\(s\) but 0 buffer\(s\) arrived/);
    assert.throws(() => putBuffers({}, undefined, [new Uint8Array(1)]), /without buffer_paths/);
  });
});

describe("Output and callbacks outside the kernel", () => {
  it("capture runs the code and returns its value; an error is reported, not thrown", async () => {
    const out = new Output();
    assert.equal(await out.capture(async () => 42), 42);
    const logged: string[] = [];
    const orig = console.error;
    console.error = (s: string) => void logged.push(s);
    try {
      assert.equal(await out.capture(() => { throw new Error("boom"); }), undefined);
    } finally {
      console.error = orig;
    }
    assert.match(logged[0], /Error: boom/);
    assert.equal(out.msg_id, "", "no request to route by outside the kernel");
  });

  it("append_stdout merges consecutive text; clear_output empties", () => {
    const out = new Output();
    out.append_stdout("a");
    out.append_stdout("b\n");
    out.append_stderr("e");
    assert.deepEqual(out.outputs, [{ output_type: "stream", name: "stdout", text: "ab\n" }, { output_type: "stream", name: "stderr", text: "e" }]);
    out.clear_output();
    assert.deepEqual(out.outputs, []);
  });

  it("runs click handlers and observers of a widget made with an output inside its capture", async () => {
    const calls: string[] = [];
    const fake = { runCaptured: <T>(fn: () => T) => { calls.push("in"); const r = fn(); calls.push("out"); return r; } };
    const b = new Button({ output: fake });
    b.onClick(() => void calls.push("click"));
    await b.click();
    assert.deepEqual(calls, ["in", "click", "out"]);
    assert.throws(() => new Button({ output: {} as typeof fake }), /option "output" must be an Output widget/);
  });
});

describe("interact", () => {
  it("makes controls from specs as ipywidgets' abbreviations", () => {
    const s = widgetFromSpec("n", [0, 10]) as IntSlider;
    assert.deepEqual([s.modelName, s.min, s.max, s.value, s.get("description")], ["IntSliderModel", 0, 10, 5, "n"]);
    const f = widgetFromSpec("x", [0, 1, 0.1]) as FloatSlider;
    assert.deepEqual([f.modelName, f.min, f.max, f.step], ["FloatSliderModel", 0, 1, 0.1]);
    assert.ok(Math.abs(f.value - 0.5) < 1e-12);
    const n = widgetFromSpec("k", 4) as IntSlider;
    assert.deepEqual([n.min, n.max, n.value], [-4, 12, 4]);
    assert.equal((widgetFromSpec("d", ["a", "b"]) as Dropdown).value, "a");
    assert.equal(widgetFromSpec("c", true)!.modelName, "CheckboxModel");
    assert.equal(widgetFromSpec("t", "hi")!.modelName, "TextModel");
    const rb = new RadioButtons({ options: ["p", "q"] });
    assert.equal(widgetFromSpec("r", rb), rb);
    assert.equal(widgetFromSpec("f", fixed(3)), undefined);
    assert.throws(() => widgetFromSpec("bad", [5, 1]), /needs min <= max/);
    assert.throws(() => widgetFromSpec("bad", null as unknown as string), /cannot make a control for "bad"/);
  });

  it("re-runs fn on every change with the current values, fixed ones included", () => {
    const seen: unknown[] = [];
    const ui = interact((v) => { seen.push({ ...v }); return v.n * 2; }, { n: [0, 10], mode: ["a", "b"], k: fixed("K") }, { autoDisplay: false });
    (ui.controls.n as IntSlider).value = 7;
    (ui.controls.mode as Dropdown).value = "b";
    assert.deepEqual(seen, [{ n: 5, mode: "a", k: "K" }, { n: 7, mode: "a", k: "K" }, { n: 7, mode: "b", k: "K" }]);
    assert.equal(ui.result, 14);
    assert.equal(ui.children.length, 3, "two controls and the Output");
    assert.equal(ui.children[2], ui.out);
    const { widget, result } = interactive(({ x }) => x + 1, { x: [0, 4] }, { autoDisplay: false });
    assert.deepEqual([widget.modelName, result], ["VBoxModel", 3]);
  });

  it("keeps the latest result when async runs finish out of order", async () => {
    const delays: Record<number, number> = { 5: 30, 6: 1 };
    const ui = interact(async ({ n }) => {
      await new Promise((res) => setTimeout(res, delays[n] ?? 0));
      return n;
    }, { n: [0, 10] }, { autoDisplay: false });
    const slider = ui.controls.n as IntSlider;
    const slow = ui.update(); // n = 5, finishes last
    slider.value = 6; // a newer run, finishes first
    await slow;
    await new Promise((res) => setTimeout(res, 40));
    assert.equal(ui.result, 6);
  });

  it("shows a result whose display resolves later before the run ends (the latest run only)", async () => {
    const printed: string[] = [];
    const orig = console.log;
    console.log = (s: string) => void printed.push(s);
    try {
      const ui = interact(({ n }) => ({ [Symbol.for("Jupyter.display")]: async () => ({ "text/plain": `late bundle ${n}` }) }), { n: [0, 2] });
      await ui.update(); // overtakes the first run before its bundle resolved
    } finally {
      console.log = orig;
    }
    assert.deepEqual(printed, ["late bundle 1"]);
  });

  it("shows a throwing fn's error and keeps going", () => {
    const logged: string[] = [];
    const orig = console.error;
    console.error = (s: string) => void logged.push(s);
    let ui;
    try {
      ui = interact(({ n }) => {
        if (n === 3) throw new Error("three");
        return n;
      }, { n: [0, 6] }, { autoDisplay: false });
      (ui.controls.n as IntSlider).value = 4;
    } finally {
      console.error = orig;
    }
    assert.match(logged.join("\n"), /Error: three/);
    assert.equal(ui.result, 4);
  });
});
