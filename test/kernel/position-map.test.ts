// Mapping positions of the JavaScript a cell ran as back to its
// TypeScript: the token diff is a true longest common subsequence, and
// templates and regular expressions tokenize as the parser would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { alignSequences, PositionMap, tokenize, type ScannerApi } from "../../kernel/position-map.js";

const ts = createRequire(import.meta.url)("@tslab/typescript-for-tslab") as ScannerApi;

/** LCS length by dynamic programming: the reference for the diff. */
function lcsLength(a: string[], b: string[]): number {
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) dp[i][j] = a[i - 1] === b[j - 1] ? dp[i - 1][j - 1] + 1 : Math.max(dp[i - 1][j], dp[i][j - 1]);
  return dp[a.length][b.length];
}

test("alignSequences finds a longest common subsequence (random sequences vs dynamic programming)", () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 200; trial++) {
    const a = Array.from({ length: Math.floor(rand() * 30) }, () => "abcd"[Math.floor(rand() * 4)]);
    const b = Array.from({ length: Math.floor(rand() * 30) }, () => "abcd"[Math.floor(rand() * 4)]);
    const pairs = alignSequences(a, b)!;
    assert.equal(pairs.length, lcsLength(a, b), `trial ${trial}: ${a.join("")} / ${b.join("")}`);
    for (let k = 0; k < pairs.length; k++) {
      const [i, j] = pairs[k];
      assert.equal(a[i], b[j]);
      if (k > 0) assert.ok(i > pairs[k - 1][0] && j > pairs[k - 1][1], "pairs increase in both sequences");
    }
  }
  assert.equal(alignSequences(["a", "b"], ["c", "d"], 1), null, "gives up beyond maxEdits");
});

test("templates with substitutions and regex literals tokenize as whole tokens", () => {
  const toks = tokenize(ts, "const s = `a ${x + `b ${y}`} c`; const r = /x\\/y/g; const d = a / b;").map((t) => t.text);
  assert.deepEqual(toks, ["const", "s", "=", "`a ${", "x", "+", "`b ${", "y", "}`", "} c`", ";", "const", "r", "=", "/x\\/y/g", ";", "const", "d", "=", "a", "/", "b", ";"]);
});

test("positions in tslab-style output map back to the TypeScript lines", () => {
  const source = "// header\ninterface P { x: number }\nconst p: P = { x: 1 };\nfunction f(a: P): number {\n  return a.x.toFixed(2) as unknown as number;\n}\nf(p);\n";
  const js =
    '(function(exports, require) { Object.defineProperty(exports, "__esModule", { value: true });\n' +
    "exports.p = void 0;\n" +
    "const p = { x: 1 };\n" +
    "exports.p = p;\n" +
    "function f(a) {\n" +
    "    return a.x.toFixed(2);\n" +
    "}\n" +
    "f(exports.p);\n" +
    "})(__tslab__.exports, __tslab__.require)";
  const map = new PositionMap(ts, source, js);
  assert.deepEqual(map.lookup(6, 16), { line: 4, col: 13, exact: true }, "toFixed on JS line 6 is on TS line 5 (0-based 4)");
  assert.deepEqual(map.lookup(8, 1), { line: 6, col: 0, exact: true }, "the call f(...) on JS line 8 is TS line 7");
  assert.equal(map.lookup(99, 1), null);
});
