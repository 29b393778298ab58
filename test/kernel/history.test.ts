// Execution history: tail, range and search, kept across sessions in a file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { History } from "../../kernel/history.js";

test("history persists across sessions and answers tail, range and search", () => {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-history-"));
  try {
    const file = join(dir, "h.jsonl");
    const first = new History(file);
    assert.equal(first.session, 1);
    first.add(1, "let a = 1");
    first.add(2, "a + 1", "2");
    const second = new History(file);
    assert.equal(second.session, 2, "a new kernel starts the next session");
    second.add(1, "a * 10");
    second.add(2, "a + 1");
    assert.deepEqual(second.query({ hist_access_type: "tail", n: 2 }), [[2, 1, "a * 10"], [2, 2, "a + 1"]]);
    assert.deepEqual(second.query({ hist_access_type: "range", session: -1, start: 2, stop: 3, output: true }), [[1, 2, ["a + 1", "2"]]]);
    assert.deepEqual(second.query({ hist_access_type: "range", session: 0 }), [[2, 1, "a * 10"], [2, 2, "a + 1"]]);
    assert.deepEqual(second.query({ hist_access_type: "search", pattern: "a +*", unique: true }), [[2, 2, "a + 1"]]);
    assert.throws(() => second.query({ hist_access_type: "nope" }), /unknown hist_access_type "nope"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an unwritable history file falls back to memory with one log line", () => {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-history-"));
  try {
    const notADir = join(dir, "file");
    writeFileSync(notADir, "");
    const logs: string[] = [];
    const h = new History(join(notADir, "sub", "h.jsonl"), (t) => logs.push(t));
    h.add(1, "x");
    h.add(2, "y");
    assert.equal(logs.length, 1);
    assert.match(logs[0], /not writable/);
    assert.deepEqual(h.query({ hist_access_type: "tail", n: 5 }), [[1, 1, "x"], [1, 2, "y"]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
