// `vramlab install` writes a kernelspec Debian's `jupyter kernelspec list`
// finds (--prefix and --user), with a valid logo; the CLI rejects bad
// arguments and bad connection files with clear messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { crc32, inflateSync } from "node:zlib";
import { packageRoot } from "./kernel-client.js";

const bin = join(packageRoot(), "bin", "vramlab.js");
const jupyter = existsSync("/usr/bin/jupyter") ? "/usr/bin/jupyter" : "jupyter";

function vramlab(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env, timeout: 30_000 });
}

function kernelspecs(env: NodeJS.ProcessEnv): Record<string, { resource_dir: string; spec: Record<string, unknown> }> {
  const r = spawnSync(jupyter, ["kernelspec", "list", "--json"], { encoding: "utf8", env, timeout: 30_000 });
  assert.equal(r.status, 0, `jupyter kernelspec list failed: ${r.stderr} ${r.error ?? ""}`);
  return (JSON.parse(r.stdout) as { kernelspecs: Record<string, { resource_dir: string; spec: Record<string, unknown> }> }).kernelspecs;
}

/** Checks PNG structure: signature, chunk CRCs, IHDR size, and that IDAT inflates to the pixel rows. */
function checkPng(bytes: Buffer, size: number): void {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let off = 8;
  const types: string[] = [];
  let idat = Buffer.alloc(0);
  while (off < bytes.length) {
    const len = bytes.readUInt32BE(off);
    const type = bytes.toString("ascii", off + 4, off + 8);
    const data = bytes.subarray(off + 8, off + 8 + len);
    assert.equal(bytes.readUInt32BE(off + 8 + len), crc32(bytes.subarray(off + 4, off + 8 + len)) >>> 0, `${type} CRC`);
    if (type === "IHDR") {
      assert.equal(data.readUInt32BE(0), size);
      assert.equal(data.readUInt32BE(4), size);
      assert.equal(data[9], 6, "RGBA");
    }
    if (type === "IDAT") idat = Buffer.concat([idat, data]);
    types.push(type);
    off += 12 + len;
  }
  assert.deepEqual(types, ["IHDR", "IDAT", "IEND"]);
  assert.equal(inflateSync(idat).length, size * (1 + size * 4));
}

test("install --prefix writes kernel.json and logos that jupyter kernelspec list finds", () => {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-install-"));
  try {
    const r = vramlab(["install", "--prefix", dir, "--name", "vramlab-prefix-test"]);
    assert.equal(r.status, 0, r.stderr);
    const specDir = join(dir, "share", "jupyter", "kernels", "vramlab-prefix-test");
    assert.match(r.stdout, new RegExp(`installed the vramlab kernelspec in ${specDir}`));
    const spec = JSON.parse(readFileSync(join(specDir, "kernel.json"), "utf8"));
    assert.equal(spec.argv.length, 5);
    assert.ok(isAbsolute(spec.argv[0]) && existsSync(spec.argv[0]), "argv[0] is the absolute node path");
    assert.equal(spec.argv[1], bin, "argv[1] is the absolute path of bin/vramlab.js");
    assert.deepEqual(spec.argv.slice(2), ["kernel", "--connection-file", "{connection_file}"]);
    assert.equal(spec.language, "typescript");
    assert.equal(spec.interrupt_mode, "message");
    assert.equal(spec.display_name, "TypeScript (vramlab)");
    checkPng(readFileSync(join(specDir, "logo-64x64.png")), 64);
    checkPng(readFileSync(join(specDir, "logo-32x32.png")), 32);
    const specs = kernelspecs({ ...process.env, JUPYTER_PATH: join(dir, "share", "jupyter"), JUPYTER_PLATFORM_DIRS: "1" });
    assert.equal(specs["vramlab-prefix-test"]?.resource_dir, specDir);
    assert.equal(specs["vramlab-prefix-test"]?.spec.language, "typescript");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("install --user goes to Jupyter's user data dir, where kernelspec list finds it", () => {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-install-user-"));
  try {
    const env = { ...process.env, JUPYTER_DATA_DIR: join(dir, "data"), JUPYTER_PLATFORM_DIRS: "1" };
    const r = vramlab(["install", "--user", "--display-name", "TS test"], env);
    assert.equal(r.status, 0, r.stderr);
    const specs = kernelspecs(env);
    assert.equal(specs.vramlab?.resource_dir, join(dir, "data", "kernels", "vramlab"));
    assert.equal(specs.vramlab?.spec.display_name, "TS test");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the CLI rejects bad arguments and connection files with clear errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "vramlab-cli-"));
  try {
    const both = vramlab(["install", "--user", "--prefix", dir]);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /choose one of --user, --prefix and --sys-prefix/);
    const unknown = vramlab(["install", "--bogus"]);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown argument "--bogus"/);
    const badName = vramlab(["install", "--prefix", dir, "--name", "bad name"]);
    assert.equal(badName.status, 1);
    assert.match(badName.stderr, /invalid kernel name "bad name"/);
    const noFile = vramlab(["kernel"]);
    assert.equal(noFile.status, 2);
    assert.match(noFile.stderr, /the connection file is missing/);
    const missing = vramlab(["kernel", "--connection-file", join(dir, "nope.json")]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read connection file .*nope\.json/);
    writeFileSync(join(dir, "bad.json"), "{ not json");
    const badJson = vramlab(["kernel", "--connection-file", join(dir, "bad.json")]);
    assert.equal(badJson.status, 1);
    assert.match(badJson.stderr, /bad\.json is not valid JSON/);
    writeFileSync(join(dir, "port.json"), JSON.stringify({ shell_port: "x", control_port: 1, iopub_port: 2, stdin_port: 3, hb_port: 4, key: "k" }));
    const badPort = vramlab(["kernel", "--connection-file", join(dir, "port.json")]);
    assert.equal(badPort.status, 1);
    assert.match(badPort.stderr, /shell_port must be an integer port number, got "x"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
