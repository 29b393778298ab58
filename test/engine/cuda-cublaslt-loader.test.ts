// Where vramlab looks for cuBLASLt (engine/native/src/cuda/cublaslt_loader.cpp),
// on any machine: the search order, that a file which is not a library or
// lacks cuBLASLt's entry points is skipped with the reason, and the message
// when nothing is found. Loading a real libcublasLt is checked where one
// exists (on the GPU machine: test/engine/cuda-device.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { native } from "../../engine/native-binding.js";
import "../../engine/kernels/cuda.js";

const dir = mkdtempSync(join(tmpdir(), "vramlab-cublaslt-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

test("search order: VRAMLAB_CUBLASLT, then the CUDA toolkit, then Python's nvidia wheels, then the loader path", () => {
  const venv = join(dir, "venv");
  mkdirSync(join(venv, "lib", "python3.12", "site-packages"), { recursive: true });
  const r = native.cublasLtProbe({ VRAMLAB_CUBLASLT: "/opt/custom/libcublasLt.so.13", CUDA_HOME: "/opt/cuda-home", VIRTUAL_ENV: venv });
  const c = r.candidates;
  assert.equal(c[0], "/opt/custom/libcublasLt.so.13");
  const idx = (s: string) => c.findIndex((p) => p.includes(s));
  assert.equal(c[1], "/opt/cuda-home/lib64/libcublasLt.so.13");
  assert.ok(idx("/usr/local/cuda/lib64/") > idx("/opt/cuda-home/"), "CUDA_HOME before /usr/local/cuda");
  const wheel = c.indexOf(join(venv, "lib", "python3.12", "site-packages", "nvidia", "cublas", "lib", "libcublasLt.so.13"));
  assert.ok(wheel > idx("/usr/local/cuda/lib64/"), "the wheel in the virtualenv comes after the toolkit");
  assert.equal(c[c.length - 3], "libcublasLt.so.13", "bare sonames last: the dynamic loader's own search");
  assert.equal(c[c.length - 1], "libcublasLt.so");
});

test("a python3 on PATH adds its environment's nvidia wheel (e.g. /opt/torch/.venv/bin/python3)", () => {
  const prefix = join(dir, "torch-venv");
  mkdirSync(join(prefix, "bin"), { recursive: true });
  mkdirSync(join(prefix, "lib", "python3.12", "site-packages"), { recursive: true });
  writeFileSync(join(prefix, "bin", "python3"), "");
  const r = native.cublasLtProbe({ PATH: `/nonexistent/bin:${join(prefix, "bin")}` });
  assert.ok(r.candidates.includes(join(prefix, "lib", "python3.12", "site-packages", "nvidia", "cublas", "lib", "libcublasLt.so.13")), r.candidates.join("\n"));
});

test("a directory in VRAMLAB_CUBLASLT is searched for each soname", () => {
  const r = native.cublasLtProbe({ VRAMLAB_CUBLASLT: dir });
  assert.deepEqual(r.candidates.slice(0, 3), [join(dir, "libcublasLt.so.13"), join(dir, "libcublasLt.so.12"), join(dir, "libcublasLt.so")]);
});

test("a file that is not a library is skipped with dlopen's reason, and the error names VRAMLAB_CUBLASLT", () => {
  const fake = join(dir, "libcublasLt.so.13");
  writeFileSync(fake, "not an ELF file");
  const r = native.cublasLtProbe({ VRAMLAB_CUBLASLT: fake, HOME: dir });
  if (r.found) return; // a real cuBLASLt further down the list was found (GPU machine)
  assert.match(r.tried[0] ?? "", new RegExp(`^${fake.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: .*(invalid ELF header|too short|file too short)`));
  assert.match(r.error ?? "", /cuBLASLt not found: set VRAMLAB_CUBLASLT to libcublasLt\.so\.13 \(or \.12\) or the directory holding it/);
  assert.match(r.error ?? "", new RegExp(`VRAMLAB_CUBLASLT=${fake.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} did not load`));
  assert.match(r.error ?? "", /Tried: \[/);
});

test("a real library without cuBLASLt's entry points is rejected by name", (t) => {
  const other = ["/usr/local/cuda/lib64/libcudart.so.13", "/usr/local/cuda/lib64/libcudart.so", "/lib/x86_64-linux-gnu/libz.so.1"].find((p) => existsSync(p));
  if (!other) return t.skip("no shared library to stand in here");
  const r = native.cublasLtProbe({ VRAMLAB_CUBLASLT: other });
  if (r.found) return;
  assert.match(r.tried[0] ?? "", /loaded, but lacks cublasLtCreate, cublasLtDestroy, cublasLtGetVersion/);
});

test("the process-wide loader reports the same search when nothing is found", () => {
  const r = native.cublasLtProbe();
  if (r.found) {
    assert.ok((r.version ?? 0) > 0, "a found cuBLASLt reports its version");
    return;
  }
  assert.match(r.error ?? "", /cuBLASLt not found: set VRAMLAB_CUBLASLT/);
});

test("VRAMLAB_CUBLASLT=off disables cuBLASLt, so the fallback kernels can be compared", () => {
  const r = native.cublasLtProbe({ VRAMLAB_CUBLASLT: "off" });
  assert.equal(r.found, false);
  assert.deepEqual(r.candidates, []);
  assert.match(r.error ?? "", /cuBLASLt disabled by VRAMLAB_CUBLASLT=off/);
});
