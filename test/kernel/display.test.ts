// MIME bundles and display helpers, outside a kernel: bundle contents,
// binary data as base64, clear errors for bad input, the progress text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { display, html, isDisplayable, json, JUPYTER_DISPLAY, markdown, mimeBundle, mimeBundleOf, normalizeBundle, png, svg, table, withMimeBundle } from "../../kernel/display.js";
import { ProgressBar } from "../../kernel/progress.js";
import { logoPng } from "../../kernel/logo.js";

const bundle = (x: unknown) => mimeBundleOf(x) as { data: Record<string, unknown>; metadata: Record<string, unknown> };

test("helpers build the expected bundles", () => {
  const name = "<x>";
  assert.deepEqual(bundle(html`<b>${name.length}</b> &amp; more`).data, { "text/html": "<b>3</b> &amp; more", "text/plain": "3 & more" });
  assert.deepEqual(bundle(markdown("# T")).data, { "text/markdown": "# T", "text/plain": "# T" });
  assert.throws(() => svg("<div/>"), /no <svg> element/);
  assert.deepEqual(bundle(json([1, { a: null }])).data["application/json"], [1, { a: null }]);
  assert.deepEqual(bundle(json(7)).data["application/json"], { value: 7 }, "JSON scalars are wrapped in an object");
  assert.throws(() => json({ big: 1n }), /not JSON-serializable/);
  const t = bundle(table([{ a: "x", b: 1.23456789 }, { a: "yy", b: null }], { caption: "c" })).data;
  assert.equal(t["text/plain"], "c\na         b\n--  -------\nx   1.23457\nyy", "numeric columns (and their header) align right; null is empty");
  assert.match(String(t["text/html"]), /^<table><caption>c<\/caption>/);
  assert.throws(() => table([{ a: 1 }, [2]]), /mix of object and array rows/);
});

test("png takes bytes, reads the size and sends base64", () => {
  const bytes = logoPng(32);
  const b = bundle(png(bytes, { height: 10 }));
  assert.equal(b.data["image/png"], Buffer.from(bytes).toString("base64"));
  assert.equal(b.data["text/plain"], "<PNG image 32x32>");
  assert.deepEqual(b.metadata, { "image/png": { height: 10 } });
  assert.throws(() => png(new Uint8Array([1, 2, 3])), /not a PNG image/);
});

test("objects with a Jupyter.display method show as their bundle; others as text", () => {
  class Figure {
    [JUPYTER_DISPLAY]() {
      return { "image/svg+xml": "<svg/>", "application/x-bytes": new Uint8Array([255]) };
    }
  }
  assert.ok(isDisplayable(new Figure()));
  assert.deepEqual(bundle(new Figure()).data, { "image/svg+xml": "<svg/>", "application/x-bytes": "/w==", "text/plain": "<Figure>" });
  assert.deepEqual(bundle({ a: 1 }).data, { "text/plain": "{ a: 1 }" });
  assert.deepEqual(bundle("s").data, { "text/plain": "'s'" });
  const tagged = withMimeBundle({ n: 2 }, (self) => ({ data: { "text/html": `<i>${self.n}</i>` }, metadata: { isolated: true } }));
  assert.deepEqual(bundle(tagged), { data: { "text/html": "<i>2</i>", "text/plain": "<text/html>" }, metadata: { isolated: true } });
});

test("bad bundles fail with clear errors", () => {
  assert.throws(() => normalizeBundle("text"), /a MIME bundle must be an object/);
  assert.throws(() => normalizeBundle({ html: "<b/>" }), /"html" is not a MIME type/);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.throws(() => normalizeBundle({ "application/json": cyclic }), /cannot be sent/);
  assert.throws(() => display(1, { update: true }), /update needs the displayId/);
});

test("display outside the kernel prints the text and returns a handle only with a displayId", () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => lines.push(s);
  try {
    assert.equal(display(mimeBundle({ "text/html": "<b>x</b>", "text/plain": "x" })), undefined);
    const h = display(1, { displayId: "abc" });
    assert.equal(h.displayId, "abc");
    h.update(2); // updates print nothing outside a kernel
  } finally {
    console.log = log;
  }
  assert.deepEqual(lines, ["x", "1"]);
});

test("the progress bar renders counts, percent and a bar of the requested width", () => {
  const log = console.log;
  console.log = () => {};
  try {
    const bar = new ProgressBar(8, { label: "load", width: 8, minIntervalMs: 0 });
    bar.update(2);
    assert.match(bar.render().text, /^load \[##------\] 25% 2\/8 /);
    bar.update(8);
    assert.match(bar.render().text, /^load \[########\] 100% 8\/8 \d/);
    const open = new ProgressBar(undefined, { minIntervalMs: 0 });
    open.increment(5);
    assert.match(open.render().text, /^5 in /);
    assert.throws(() => new ProgressBar(-1), /non-negative/);
    assert.throws(() => bar.update(Number.NaN), /finite/);
  } finally {
    console.log = log;
  }
});
