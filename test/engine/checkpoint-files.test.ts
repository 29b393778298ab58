import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openCheckpoint, writeCheckpoint } from "../../engine/io/checkpoint-files.js";
import { SafetensorsError, openSafetensors, writeSafetensors, type SafetensorsWriteEntry } from "../../engine/io/safetensors.js";

const scratch = mkdtempSync(join(tmpdir(), "vl-checkpoint-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
let dirCounter = 0;
const freshDir = (label: string) => {
  const d = join(scratch, `${label}-${dirCounter++}`);
  mkdirSync(d);
  return d;
};

function seededBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

/** 10 tensors, 4400 bytes: blocks.i.weight F32 [i+10, 10] (400..560 bytes) and blocks.i.bias BF16 [200] (400 bytes). */
function modelEntries(seed = 1): (SafetensorsWriteEntry & { data: Uint8Array })[] {
  const out: (SafetensorsWriteEntry & { data: Uint8Array })[] = [];
  for (let i = 0; i < 5; i++) {
    out.push({ name: `blocks.${i}.weight`, dtype: "F32", shape: [i + 10, 10], data: seededBytes((i + 10) * 40, seed * 100 + i) });
    out.push({ name: `blocks.${i}.bias`, dtype: "BF16", shape: [200], data: seededBytes(400, seed * 100 + 50 + i) });
  }
  return out;
}

function assertFails(fn: () => unknown, pattern: RegExp): SafetensorsError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SafetensorsError, `expected SafetensorsError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  return caught;
}

function assertSameTensors(dirOrFile: string, entries: (SafetensorsWriteEntry & { data: Uint8Array })[]): void {
  const ckpt = openCheckpoint(dirOrFile);
  try {
    assert.deepEqual(ckpt.tensors.map((t) => t.name).sort(), entries.map((e) => e.name).sort());
    for (const e of entries) {
      const info = ckpt.get(e.name);
      assert.equal(info.dtype, e.dtype);
      assert.deepEqual(info.shape, e.shape);
      assert.equal(info.byteLength, e.data.length);
      const target = new Uint8Array(info.byteLength);
      ckpt.readInto(e.name, target);
      assert.deepEqual(target, e.data, e.name);
      assert.deepEqual(ckpt.read(e.name), e.data);
    }
  } finally {
    ckpt.close();
  }
}

test("single-file checkpoint: by file path and by folder, diffusers and transformers names", () => {
  const entries = modelEntries();
  const dir = freshDir("single");
  const written = writeCheckpoint(dir, entries, { metadata: { note: "x" } });
  assert.deepEqual(written.files, [join(dir, "diffusion_pytorch_model.safetensors")]);
  assert.equal(written.indexPath, undefined);
  assert.equal(written.totalSize, entries.reduce((a, e) => a + e.data.length, 0));
  assert.deepEqual(readdirSync(dir), ["diffusion_pytorch_model.safetensors"]);
  assertSameTensors(dir, entries);
  assertSameTensors(written.files[0]!, entries);
  const c = openCheckpoint(dir);
  assert.deepEqual(c.metadata, { format: "pt", note: "x" }, "format: pt is added for transformers compatibility");
  assert.equal(c.tensors[0]!.shard, written.files[0]);
  c.close();

  const tdir = freshDir("transformers");
  writeCheckpoint(tdir, entries, { baseName: "model" });
  assert.deepEqual(readdirSync(tdir), ["model.safetensors"]);
  assertSameTensors(tdir, entries);
});

test("sharded round trip: shard names, index contents, lazy reads across shards", () => {
  const entries = modelEntries();
  const dir = freshDir("sharded");
  const total = entries.reduce((a, e) => a + e.data.length, 0);
  assert.equal(total, 4400);
  // Greedy fill with a 1000-byte limit: each weight (400..560) + its bias (400) fits, a third tensor never does.
  const written = writeCheckpoint(dir, entries, { maxShardBytes: 1000 });
  const shardNames = written.files.map((f) => f.slice(dir.length + 1));
  const count = shardNames.length;
  assert.equal(count, 5);
  shardNames.forEach((n, i) => assert.equal(n, `diffusion_pytorch_model-${String(i + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.safetensors`));
  assert.equal(written.indexPath, join(dir, "diffusion_pytorch_model.safetensors.index.json"));

  const index = JSON.parse(readFileSync(written.indexPath!, "utf8"));
  assert.equal(index.metadata.total_size, total);
  assert.deepEqual(Object.keys(index.weight_map), entries.map((e) => e.name).sort(), "weight_map lists every tensor, sorted");
  let shardBytesSum = 0;
  for (const [i, shard] of written.files.entries()) {
    const f = openSafetensors(shard);
    assert.deepEqual(f.tensors.map((t) => t.name).sort(), [`blocks.${i}.bias`, `blocks.${i}.weight`]);
    const bytes = f.tensors.reduce((a, t) => a + t.byteLength, 0);
    assert.ok(bytes <= 1000, `${shard} holds ${bytes} bytes`);
    shardBytesSum += bytes;
    for (const t of f.tensors) assert.equal(index.weight_map[t.name], shard.slice(dir.length + 1));
    assert.equal(f.metadata.format, "pt");
    f.close();
  }
  assert.equal(shardBytesSum, total);

  assertSameTensors(dir, entries);
  assertSameTensors(written.indexPath!, entries);
  const c = openCheckpoint(dir);
  assert.equal(c.indexPath, written.indexPath);
  assert.deepEqual(c.indexMetadata, { total_size: total });
  assert.equal(c.files.length, count);
  assert.deepEqual(c.tensors.map((t) => t.name), entries.map((e) => e.name), "greedy sharding keeps entry order");
  assert.equal(c.get("blocks.4.bias").shard, written.files[count - 1]);
  assert.throws(() => c.get("blocks.9.bias"), /no such tensor in the checkpoint; it has 10 tensors/);
  c.close();
  assert.throws(() => c.read("blocks.0.bias"), /was closed/);
});

test("a tensor larger than maxShardBytes gets its own shard; rewriting removes stale files", () => {
  const entries = modelEntries();
  const dir = freshDir("rewrite");
  const sharded = writeCheckpoint(dir, entries, { maxShardBytes: 500 });
  // no two tensors fit in 500 bytes, and blocks.3/4.weight (520, 560 bytes) exceed the limit alone
  assert.equal(sharded.files.length, 10);
  for (const [i, f] of sharded.files.entries()) {
    const s = openSafetensors(f);
    assert.deepEqual(s.tensors.map((t) => t.name), [entries[i]!.name]);
    s.close();
  }
  assertSameTensors(dir, entries);

  // Rewrite as a single file: the old shards and index must go, or a reader could mix versions.
  const newer = modelEntries(2);
  writeCheckpoint(dir, newer);
  assert.deepEqual(readdirSync(dir), ["diffusion_pytorch_model.safetensors"]);
  assertSameTensors(dir, newer);

  // And back to 3 shards (1640 + 1800 + 960 bytes under an 1800-byte limit).
  const third = modelEntries(3);
  const r = writeCheckpoint(dir, third, { maxShardBytes: 1800 });
  assert.equal(r.files.length, 3);
  assert.deepEqual(readdirSync(dir).sort(), [...r.files.map((f) => f.slice(dir.length + 1)), "diffusion_pytorch_model.safetensors.index.json"].sort());
  assertSameTensors(dir, third);

  // Unrelated files in the folder are left alone.
  writeFileSync(join(dir, "config.json"), "{}");
  writeCheckpoint(dir, third);
  assert.ok(existsSync(join(dir, "config.json")));
});

test("writeCheckpoint validates its input", () => {
  const dir = freshDir("bad-write");
  const e = modelEntries();
  assertFails(() => writeCheckpoint(dir, [e[0]!, e[0]!]), /tensor "blocks.0.weight": the name appears twice/);
  assertFails(() => writeCheckpoint(dir, [{ ...e[0]!, dtype: "F99" }]), /tensor "blocks.0.weight": unknown dtype "F99"/);
  assertFails(() => writeCheckpoint(dir, e, { maxShardBytes: 0 }), /maxShardBytes must be positive/);
  assertFails(() => writeCheckpoint(dir, e, { baseName: "../x" }), /must be a plain file name/);
  assert.deepEqual(readdirSync(dir), []);
});

test("openCheckpoint errors: missing folder, empty or foreign folder, broken index, inconsistent shards", () => {
  assertFails(() => openCheckpoint(join(scratch, "does-not-exist")), /does-not-exist: no such file or folder/);

  const empty = freshDir("empty");
  assertFails(() => openCheckpoint(empty), /no checkpoint in this folder \(looked for diffusion_pytorch_model.safetensors, .*model.safetensors.index.json\); the folder is empty/);

  const foreign = freshDir("foreign");
  writeFileSync(join(foreign, "config.json"), "{}");
  mkdirSync(join(foreign, "transformer"));
  writeSafetensors(join(foreign, "diffusion_pytorch_model.fp16.safetensors"), []);
  assertFails(() => openCheckpoint(foreign), /found: config.json, diffusion_pytorch_model.fp16.safetensors, transformer\/\. Pass the component subfolder/);

  // A valid sharded checkpoint to break in different ways.
  const entries = modelEntries();
  const base = freshDir("base");
  const w = writeCheckpoint(base, entries, { maxShardBytes: 1800 }); // shards: blocks 0-1, 2-3, 4
  assert.equal(w.files.length, 3);
  const shard = (i: number) => w.files[i]!.slice(base.length + 1);
  const indexName = "diffusion_pytorch_model.safetensors.index.json";
  const index = JSON.parse(readFileSync(join(base, indexName), "utf8"));
  const variant = (label: string, edit: (dir: string, idx: typeof index) => void) => {
    const d = freshDir(label);
    for (const f of readdirSync(base)) copyFileSync(join(base, f), join(d, f));
    const idx = structuredClone(index);
    edit(d, idx);
    writeFileSync(join(d, indexName), JSON.stringify(idx));
    return d;
  };

  const missingShard = variant("missing-shard", (d) => rmSync(join(d, shard(1))));
  assertFails(() => openCheckpoint(missingShard), new RegExp(`index names shard "${shard(1)}", which does not exist in .*shards present: ${shard(0)}, ${shard(2)}.*fetch the missing shard`));

  const absent = variant("absent", (_d, idx) => { idx.weight_map["blocks.9.weight"] = shard(2); });
  assertFails(() => openCheckpoint(absent), new RegExp(`tensor "blocks.9.weight": the index lists this tensor in shard "${shard(2)}", which does not contain it`));

  const moved = variant("moved", (_d, idx) => { idx.weight_map["blocks.0.weight"] = shard(2); });
  assertFails(() => openCheckpoint(moved), new RegExp(`tensor "blocks.0.weight": the index puts this tensor in shard "${shard(2)}" but it is in "${shard(0)}"`));

  const unlisted = variant("unlisted", (_d, idx) => { delete idx.weight_map["blocks.0.bias"]; });
  assertFails(() => openCheckpoint(unlisted), /tensor "blocks.0.bias": shard .* holds this tensor but the index does not list it/);

  const twice = variant("twice", (d) => {
    // shard 3 gets a copy of a tensor that shard 1 already holds
    const f = openSafetensors(join(d, shard(2)));
    const extra = [...f.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: f.read(t.name) })), entries[0]!];
    f.close();
    writeSafetensors(join(d, shard(2)), extra);
  });
  assertFails(() => openCheckpoint(twice), new RegExp(`tensor "blocks.0.weight": present in two shards, "${shard(0)}" and "${shard(2)}"`));

  const escape = variant("escape", (_d, idx) => { idx.weight_map["blocks.0.weight"] = "../elsewhere/" + shard(0); });
  assertFails(() => openCheckpoint(escape), /outside the checkpoint folder/);

  const badJson = variant("bad-json", () => {});
  writeFileSync(join(badJson, indexName), `{"weight_map": {"a": "x", "a": "y"}}`);
  assertFails(() => openCheckpoint(badJson), /the index is not valid JSON: duplicate key "a"/);
  writeFileSync(join(badJson, indexName), `{"metadata": {}}`);
  assertFails(() => openCheckpoint(badJson), /the index has no "weight_map" object/);

  const damagedShard = variant("damaged-shard", (d) => {
    const p = join(d, shard(1));
    writeFileSync(p, readFileSync(p).subarray(0, 100));
  });
  assertFails(() => openCheckpoint(damagedShard), /truncated/);
});

function findFixture(rel: string): string | undefined {
  return ["../../../../shared/fixtures/", "../../../shared/fixtures/"]
    .map((p) => fileURLToPath(new URL(p + rel, import.meta.url)))
    .find((p) => existsSync(p));
}

test("interop: opens the diffusers transformer folder; its parent lists what it found", (t) => {
  const dir = findFixture("flux-diffusers-a/transformer");
  if (!dir) return t.skip("fixture ../shared/fixtures/flux-diffusers-a not present");
  const c = openCheckpoint(dir);
  try {
    assert.equal(c.files.length, 1);
    assert.equal(c.indexPath, undefined);
    assert.deepEqual(c.get("transformer_blocks.0.attn.to_q.weight").shape, [64, 64]);
    assert.equal(c.read("single_transformer_blocks.1.proj_out.weight").length, c.get("single_transformer_blocks.1.proj_out.weight").byteLength);

    // Resharding the real model and reading it back gives identical bytes.
    const out = freshDir("flux-resharded");
    const w = writeCheckpoint(out, c.tensors.map((x) => ({ name: x.name, dtype: x.dtype, shape: x.shape, data: () => c.read(x.name) })), { maxShardBytes: 400_000 });
    assert.ok(w.files.length >= 4, `${w.files.length} shards`);
    const r = openCheckpoint(out);
    for (const x of c.tensors) assert.deepEqual(r.read(x.name), c.read(x.name), x.name);
    r.close();
  } finally {
    c.close();
  }
  const parent = findFixture("flux-diffusers-a")!;
  assertFails(() => openCheckpoint(parent), /found: io.safetensors, transformer\//);
});
