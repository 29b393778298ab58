// Object shorthand `{ x }` naming an earlier cell's variable works like
// `{ x: x }` (tslab alone throws "x is not defined"), and diagnostics after
// an expanded shorthand still point at the right column.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CellRunner } from "../../kernel/cell-runner.js";
import { installProtection } from "../../kernel/protect.js";
import { expandShorthandProperties, originalOffset } from "../../kernel/shorthand-expansion.js";

let dir: string;
let runner: CellRunner;
before(() => {
  installProtection(() => {});
  dir = mkdtempSync(join(tmpdir(), "vramlab-shorthand-"));
  runner = new CellRunner(dir);
});
after(() => {
  runner.close();
  rmSync(dir, { recursive: true, force: true });
});

test("expansion spells out every shorthand, including destructuring defaults, and maps offsets back", () => {
  const src = "const o = { a, b: 1, c };\n({ d = 2 } = o);";
  const e = expandShorthandProperties(src);
  assert.equal(e.text, "const o = { a: a, b: 1, c: c };\n({ d: d = 2 } = o);");
  // the `b` of the original sits at 15; in the expanded text at 18
  assert.equal(originalOffset(e, e.text.indexOf("b:")), src.indexOf("b:"));
  assert.equal(originalOffset(e, e.text.indexOf("= o")), src.indexOf("= o"));
  assert.deepEqual(expandShorthandProperties("const x = 1;").insertions, []);
});

test("a later cell uses an earlier cell's variable in object shorthand, in a closure and in destructuring", async () => {
  const first = await runner.execute("let seen = 3; let count = 0;", "In[1]");
  assert.equal(first.status, "ok");
  const second = await runner.execute("const bag = { seen, extra: 1 }; const f = () => ({ seen }); ({ count } = { count: 7 }); [bag.seen, f().seen, count]", "In[2]");
  assert.equal(second.status, "ok", JSON.stringify(second));
  assert.deepEqual(second.value, [3, 3, 7]);
  // the destructuring assignment wrote the earlier cell's variable
  const third = await runner.execute("count", "In[3]");
  assert.deepEqual(third.value, 7);
});

test("a type error after an expanded shorthand is reported at its original column", async () => {
  await runner.execute("let alpha = 1;", "In[4]");
  const bad = await runner.execute("const z = { alpha }; const n: number = 'text';", "In[5]");
  assert.equal(bad.status, "error");
  const text = JSON.stringify(bad.error);
  // `n` is at column 28 (1-based) of the original line; the expanded line would put it at 35
  assert.match(text, /1:28/, text);
});
