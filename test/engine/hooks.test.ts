import { test } from "node:test";
import assert from "node:assert/strict";
import * as vl from "../../engine/index.js";

class Doubler extends vl.Module {
  override forward(x: number): number {
    return x * 2;
  }
}

function tracer(name: string, log: string[]): vl.ModelHook {
  return {
    initialize: () => log.push(`${name}.init`),
    preForward: (_m, args) => {
      log.push(`${name}.pre`);
      return [(args[0] as number) + 1];
    },
    postForward: (_m, out) => {
      log.push(`${name}.post`);
      return `${name}(${String(out)})`;
    },
    deinitialize: () => log.push(`${name}.deinit`),
    resetState: () => log.push(`${name}.reset`),
  };
}

test("the last registered hook is outermost", async () => {
  const log: string[] = [];
  const m = new Doubler();
  m.hooks.register("a", tracer("a", log));
  m.hooks.register("b", tracer("b", log));
  const out = await m.call(1);
  // b.pre: 1 -> 2, a.pre: 2 -> 3, forward: 6, a.post wraps first, b.post last
  assert.equal(out, "b(a(6))");
  assert.deepEqual(log, ["a.init", "b.init", "b.pre", "a.pre", "a.post", "b.post"]);
});

test("hook names are unique; removing from the middle keeps the rest in order", async () => {
  const log: string[] = [];
  const m = new Doubler();
  for (const n of ["a", "b", "c"]) m.hooks.register(n, tracer(n, log));
  assert.throws(() => m.hooks.register("b", {}), /already has a hook named "b"/);
  assert.equal(m.hooks.remove("b"), true);
  assert.equal(m.hooks.remove("b"), false);
  assert.deepEqual(m.hooks.names(), ["a", "c"]);
  assert.ok(log.includes("b.deinit"));
  log.length = 0;
  assert.equal(await m.call(0), "c(a(4))");
  assert.deepEqual(log, ["c.pre", "a.pre", "a.post", "c.post"]);
  m.hooks.resetState();
  assert.deepEqual(log.slice(-2), ["a.reset", "c.reset"]);
});

test("async hooks are awaited and a throwing hook leaves the module usable", async () => {
  const m = new Doubler();
  let fail = true;
  m.hooks.register("flaky", {
    preForward: async () => {
      await new Promise((r) => setTimeout(r, 1));
      if (fail) throw new Error("hook failed");
    },
  });
  await assert.rejects(m.call(1), /hook failed/);
  fail = false;
  assert.equal(await m.call(5), 10);
});
