// Model checkpoints as diffusers/transformers store them: a single .safetensors file, or shards
// `${base}-00001-of-0000N.safetensors` plus `${base}.safetensors.index.json`
// ({"metadata": {"total_size": bytes}, "weight_map": {tensor: shardFile}}).
// openCheckpoint gives one tensor list over all shards; data is still read lazily per tensor.
import {
  existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync,
} from "node:fs";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import {
  SafetensorsError, JsonNumber, JsonSyntaxError, openSafetensors, parseStrictJson, safetensorsByteLength,
  writeSafetensors, type JsonValue, type SafetensorsFile, type SafetensorsWriteEntry,
} from "./safetensors.js";

/** Base names tried in a folder, diffusers first (as diffusers resolves them). */
export const CHECKPOINT_BASE_NAMES = ["diffusion_pytorch_model", "model"] as const;
/** diffusers' default max_shard_size ("10GB"). */
export const DEFAULT_MAX_SHARD_BYTES = 10_000_000_000;
const MAX_INDEX_BYTES = 100_000_000;

export interface CheckpointTensorInfo {
  name: string;
  /** safetensors dtype string, e.g. "BF16" */
  dtype: string;
  shape: readonly number[];
  byteLength: number;
  /** path of the .safetensors file holding the tensor */
  shard: string;
}

/** One tensor list over a single file or all shards of a sharded checkpoint. */
export class CheckpointReader {
  readonly tensors: readonly CheckpointTensorInfo[];
  private readonly byName: Map<string, { info: CheckpointTensorInfo; file: SafetensorsFile }>;

  /** Use openCheckpoint(). */
  constructor(
    /** what was opened: a file, a folder, or an index json */
    readonly path: string,
    /** the open shard files, in shard order */
    readonly files: readonly SafetensorsFile[],
    /** the index json, for sharded checkpoints */
    readonly indexPath: string | undefined,
    /** the index's "metadata" (e.g. total_size), for sharded checkpoints */
    readonly indexMetadata: Readonly<Record<string, unknown>> | undefined,
  ) {
    const tensors: CheckpointTensorInfo[] = [];
    this.byName = new Map();
    for (const file of files) {
      for (const t of file.tensors) {
        const info = Object.freeze({ name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.byteLength, shard: file.path });
        tensors.push(info);
        this.byName.set(t.name, { info, file });
      }
    }
    this.tensors = Object.freeze(tensors);
  }

  /** The first shard's __metadata__ (writers put the same map in every shard). */
  get metadata(): Readonly<Record<string, string>> {
    return this.files[0]?.metadata ?? {};
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): CheckpointTensorInfo {
    return this.locate(name).info;
  }

  /** Reads one tensor's bytes into `target`, which must be exactly its byteLength long. */
  readInto(name: string, target: Uint8Array): void {
    this.locate(name).file.readInto(name, target);
  }

  read(name: string): Uint8Array {
    return this.locate(name).file.read(name);
  }

  close(): void {
    for (const f of this.files) f.close();
  }

  private locate(name: string): { info: CheckpointTensorInfo; file: SafetensorsFile } {
    const hit = this.byName.get(name);
    if (!hit) {
      const examples = this.tensors.slice(0, 5).map((t) => JSON.stringify(t.name)).join(", ");
      throw new SafetensorsError(
        `no such tensor in the checkpoint; it has ${this.tensors.length} tensors${examples ? ` (e.g. ${examples})` : ""}; check the name and prefix`,
        { path: this.path, tensor: name },
      );
    }
    return hit;
  }
}

/**
 * Opens a checkpoint: a .safetensors file, an index json, or a folder holding
 * diffusion_pytorch_model.safetensors / model.safetensors or their .index.json.
 * A single file is preferred over an index when a folder has both (as transformers does).
 * Every shard's header is validated and cross-checked against the index up front.
 */
export function openCheckpoint(pathOrDir: string): CheckpointReader {
  if (!existsSync(pathOrDir)) {
    throw new SafetensorsError("no such file or folder; check the path", { path: pathOrDir });
  }
  const stat = statSync(pathOrDir);
  if (stat.isFile()) {
    if (pathOrDir.endsWith(".index.json")) return openIndexed(pathOrDir, pathOrDir);
    return new CheckpointReader(pathOrDir, [openSafetensors(pathOrDir)], undefined, undefined);
  }
  if (!stat.isDirectory()) throw new SafetensorsError("neither a file nor a folder", { path: pathOrDir });

  for (const base of CHECKPOINT_BASE_NAMES) {
    const single = join(pathOrDir, `${base}.safetensors`);
    if (existsSync(single)) return new CheckpointReader(pathOrDir, [openSafetensors(single)], undefined, undefined);
    const index = join(pathOrDir, `${base}.safetensors.index.json`);
    if (existsSync(index)) return openIndexed(pathOrDir, index);
  }
  const found = readdirSync(pathOrDir, { withFileTypes: true })
    .map((d) => (d.isDirectory() ? `${d.name}/` : d.name))
    .sort();
  const expected = CHECKPOINT_BASE_NAMES.flatMap((b) => [`${b}.safetensors`, `${b}.safetensors.index.json`]).join(", ");
  const listing = found.length === 0 ? "the folder is empty" : `found: ${found.slice(0, 20).join(", ")}${found.length > 20 ? `, ... (${found.length} entries)` : ""}`;
  throw new SafetensorsError(
    `no checkpoint in this folder (looked for ${expected}); ${listing}. ` +
      "Pass the component subfolder (e.g. transformer/) or the path of a .safetensors file directly",
    { path: pathOrDir },
  );
}

function openIndexed(openedPath: string, indexPath: string): CheckpointReader {
  const dir = resolve(indexPath, "..");
  const { weightMap, indexMetadata } = readIndex(indexPath);

  const shardNames = [...new Set(weightMap.values())].sort();
  for (const shard of shardNames) {
    const full = resolve(dir, shard);
    const rel = relative(dir, full);
    if (rel.startsWith("..") || isAbsolute(rel)) {
      throw new SafetensorsError(`the index names shard ${JSON.stringify(shard)} outside the checkpoint folder; the index is damaged`, { path: indexPath });
    }
    if (!existsSync(full)) {
      const present = readdirSync(dir).filter((n) => n.endsWith(".safetensors")).sort();
      throw new SafetensorsError(
        `the index names shard ${JSON.stringify(shard)}, which does not exist in ${dir} (shards present: ${present.join(", ") || "none"}); the download is incomplete, fetch the missing shard`,
        { path: indexPath },
      );
    }
  }

  const files: SafetensorsFile[] = [];
  try {
    const holder = new Map<string, string>();
    for (const shard of shardNames) {
      const file = openSafetensors(resolve(dir, shard));
      files.push(file);
      for (const t of file.tensors) {
        const other = holder.get(t.name);
        if (other !== undefined) {
          throw new SafetensorsError(
            `present in two shards, ${JSON.stringify(other)} and ${JSON.stringify(shard)}; the checkpoint is inconsistent, re-download or re-export it`,
            { path: indexPath, tensor: t.name },
          );
        }
        holder.set(t.name, shard);
        const listed = weightMap.get(t.name);
        if (listed === undefined) {
          throw new SafetensorsError(`shard ${JSON.stringify(shard)} holds this tensor but the index does not list it; the index is out of date, regenerate it`, { path: indexPath, tensor: t.name });
        }
        if (listed !== shard) {
          throw new SafetensorsError(`the index puts this tensor in shard ${JSON.stringify(listed)} but it is in ${JSON.stringify(shard)}; the index is out of date, regenerate it`, { path: indexPath, tensor: t.name });
        }
      }
    }
    for (const [name, shard] of weightMap) {
      if (!holder.has(name)) {
        throw new SafetensorsError(`the index lists this tensor in shard ${JSON.stringify(shard)}, which does not contain it; the shard is from another version of the model, re-download it`, { path: indexPath, tensor: name });
      }
    }
    return new CheckpointReader(openedPath, files, indexPath, indexMetadata);
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }
}

function readIndex(indexPath: string): { weightMap: Map<string, string>; indexMetadata: Record<string, unknown> | undefined } {
  const size = statSync(indexPath).size;
  if (size > MAX_INDEX_BYTES) throw new SafetensorsError(`the index is ${size} bytes, above the ${MAX_INDEX_BYTES}-byte limit; it is not a checkpoint index`, { path: indexPath });
  let root: JsonValue;
  try {
    root = parseStrictJson(new TextDecoder("utf-8", { fatal: true }).decode(readFileSync(indexPath)));
  } catch (err) {
    const why = err instanceof JsonSyntaxError ? `not valid JSON: ${err.message}` : "not valid UTF-8";
    throw new SafetensorsError(`the index is ${why}; re-download it`, { path: indexPath, cause: err });
  }
  if (!(root instanceof Map)) throw new SafetensorsError("the index must be a JSON object with a weight_map; re-download it", { path: indexPath });
  const map = root.get("weight_map");
  if (!(map instanceof Map)) throw new SafetensorsError(`the index has no "weight_map" object (tensor name -> shard file); re-download it`, { path: indexPath });
  const weightMap = new Map<string, string>();
  for (const [name, shard] of map) {
    if (typeof shard !== "string" || shard.length === 0) {
      throw new SafetensorsError("weight_map entries must be shard file names", { path: indexPath, tensor: name });
    }
    weightMap.set(name, shard);
  }
  const meta = root.get("metadata");
  return { weightMap, indexMetadata: meta instanceof Map ? toPlain(meta) as Record<string, unknown> : undefined };
}

function toPlain(v: JsonValue): unknown {
  if (v instanceof JsonNumber) return Number(v.text);
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) Object.defineProperty(out, k, { value: toPlain(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (Array.isArray(v)) return v.map(toPlain);
  return v;
}

// ---------------------------------------------------------------------------------------------
// writing

export interface WriteCheckpointOptions {
  /** largest data size of one shard in bytes (headers not counted, as in transformers); default 10 GB */
  maxShardBytes?: number;
  /** file base name; default "diffusion_pytorch_model" (transformers uses "model") */
  baseName?: string;
  /** __metadata__ for every shard; {"format": "pt"} is added unless given, as transformers expects it */
  metadata?: Readonly<Record<string, string>>;
}

export interface WrittenCheckpoint {
  /** the .safetensors files written, in shard order */
  files: string[];
  /** the index json, when sharded */
  indexPath: string | undefined;
  /** sum of all tensor byte lengths */
  totalSize: number;
}

/**
 * Writes a checkpoint into `dir` (created if missing): one `${baseName}.safetensors` when the
 * tensors fit in maxShardBytes, else shards filled greedily in entry order plus the index json.
 * A tensor larger than maxShardBytes gets a shard of its own. Files of the same base name left
 * from an earlier write (other shard counts, a stale single file or index) are removed once the
 * new files are in place, so openCheckpoint cannot pick up old weights.
 */
export function writeCheckpoint(dir: string, entries: readonly SafetensorsWriteEntry[], options: WriteCheckpointOptions = {}): WrittenCheckpoint {
  const baseName = options.baseName ?? "diffusion_pytorch_model";
  const maxShardBytes = options.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!/^[^/\\]+$/.test(baseName) || baseName === "." || baseName === "..") {
    throw new SafetensorsError(`baseName ${JSON.stringify(baseName)} must be a plain file name`, { path: dir });
  }
  if (!(maxShardBytes > 0)) throw new SafetensorsError(`maxShardBytes must be positive, got ${maxShardBytes}`, { path: dir });
  const metadata = { format: "pt", ...options.metadata };

  const sizes = entries.map((e) => safetensorsByteLength(e.dtype, e.shape, { path: dir, tensor: e.name }));
  const names = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name)) throw new SafetensorsError("the name appears twice in the entries; tensor names must be unique", { path: dir, tensor: e.name });
    names.add(e.name);
  }
  const totalSize = sizes.reduce((a, b) => a + b, 0);

  const groups: SafetensorsWriteEntry[][] = [[]];
  let groupBytes = 0;
  entries.forEach((e, i) => {
    const size = sizes[i]!;
    if (groups[groups.length - 1]!.length > 0 && groupBytes + size > maxShardBytes) {
      groups.push([]);
      groupBytes = 0;
    }
    groups[groups.length - 1]!.push(e);
    groupBytes += size;
  });

  mkdirSync(dir, { recursive: true });
  const indexName = `${baseName}.safetensors.index.json`;
  const written: string[] = [];
  let indexPath: string | undefined;
  if (groups.length === 1) {
    const file = join(dir, `${baseName}.safetensors`);
    writeSafetensors(file, groups[0]!, metadata);
    written.push(file);
  } else {
    const count = groups.length;
    const pad = (k: number) => String(k).padStart(5, "0");
    const weightMap: Record<string, string> = {};
    groups.forEach((group, g) => {
      const shardName = `${baseName}-${pad(g + 1)}-of-${pad(count)}.safetensors`;
      writeSafetensors(join(dir, shardName), group, metadata);
      written.push(join(dir, shardName));
      for (const e of group) Object.defineProperty(weightMap, e.name, { value: shardName, enumerable: true, writable: true, configurable: true });
    });
    // Sorted keys like transformers; built as text so integer-like names keep their place.
    const mapText = Object.keys(weightMap).sort()
      .map((k) => `    ${JSON.stringify(k)}: ${JSON.stringify(weightMap[k])}`).join(",\n");
    const text = `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": {\n${mapText}\n  }\n}\n`;
    indexPath = join(dir, indexName);
    writeTextAtomically(indexPath, text);
  }

  // Remove leftovers of earlier writes under the same base name.
  const keep = new Set([...written.map((p) => basename(p)), ...(indexPath ? [indexName] : [])]);
  const escaped = baseName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const ours = new RegExp(`^${escaped}(?:-\\d{5}-of-\\d{5})?\\.safetensors(?:\\.index\\.json)?$`);
  for (const name of readdirSync(dir)) {
    if (ours.test(name) && !keep.has(name)) unlinkSync(join(dir, name));
  }
  return { files: written, indexPath, totalSize };
}

/** Index json via temp file + rename, so a failed write never leaves a truncated index. */
function writeTextAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new SafetensorsError(`writing the index failed: ${err instanceof Error ? err.message : String(err)}; check free disk space and permissions`, { path, cause: err });
  }
}
