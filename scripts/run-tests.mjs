// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Pass paths or substrings to run a subset: `node scripts/run-tests.mjs casts`.
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const testRoot = join(root, "dist", "test");
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".test.js") ? [p] : [];
  });
}
const filters = process.argv.slice(2);
let files = walk(testRoot).sort();
if (filters.length) files = files.filter((f) => filters.some((s) => relative(root, f).includes(s)));
if (!files.length) {
  console.error(`no test files matched under ${testRoot}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...files], { stdio: "inherit", cwd: root });
process.exit(r.status ?? 1);
