// The rewrite that makes a cell's async code interruptible keeps its
// meaning: values, await order, thrown errors, `this`, and it leaves code
// it cannot express (for await) alone.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import vm from "node:vm";
import { installProtection, protectAsync } from "../../kernel/protect.js";

before(() => installProtection(() => {}));

/** Runs converted cell code the way tslab's executor does. */
async function runCell(output: string, topLevelAwait: boolean, exports: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const prefix = topLevelAwait ? "(async function(exports, require) { " : "(function(exports, require) { ";
  const fn = vm.runInThisContext(`${prefix}${protectAsync(output, topLevelAwait)}\n})`, { breakOnSigint: true }) as (e: unknown, r: unknown) => unknown;
  await fn(exports, () => ({}));
  return exports;
}

test("top-level await cells keep values and order", async () => {
  const out = "const log = [];\nlog.push(1);\nconst v = await new Promise((r) => setTimeout(() => r(2), 5));\nlog.push(v);\nexports.log = log;\nexports.tsLastExpr = await Promise.resolve(log.length);";
  const transformed = protectAsync(out, true);
  assert.match(transformed, /^var __awaiter = __vramlab__\.awaiter;/);
  assert.match(transformed, /yield new Promise/);
  const e = await runCell(out, true);
  assert.deepEqual(e.log, [1, 2]);
  assert.equal(e.tsLastExpr, 2);
});

test("errors thrown after an await reject the cell; try/catch around await still works", async () => {
  await assert.rejects(runCell("await null;\nthrow new TypeError('late');", true), /late/);
  const e = await runCell("let caught = '';\ntry { await Promise.reject(new Error('no')); } catch (err) { caught = err.message; }\nexports.caught = caught;", true);
  assert.equal(e.caught, "no");
});

test("nested async functions and methods keep this and arguments", async () => {
  const out = "class A { constructor() { this.k = 3; } async m(x) { await null; return this.k * x; } }\nasync function sum() { await null; let s = 0; for (const a of arguments) s += a; return s; }\nexports.p = Promise.all([new A().m(2), sum(1, 2, 3)]);";
  const e = await runCell(out, false);
  assert.deepEqual(await e.p, [6, 6]);
});

test("code without async or with for await is left unchanged", () => {
  assert.equal(protectAsync("exports.x = 1;", false), "exports.x = 1;");
  const forAwait = "for await (const x of gen()) {}";
  assert.equal(protectAsync(forAwait, true), forAwait);
});
