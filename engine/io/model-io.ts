// loadModel / saveModel: diffusers-format model folders (config.json plus a
// single or sharded safetensors checkpoint). Loading reads one tensor at a
// time straight into the model's storage, so a model never sits twice in RAM.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getDevice, type DeviceSpec } from "../device.js";
import { dtypeInfo, type DType } from "../dtype.js";
import { Tensor, formatShape } from "../tensor.js";
import { keep, untracked } from "../scope.js";
import type { Module } from "../module.js";
import { readBytes } from "../ops/transfer.js";
import { openCheckpoint, writeCheckpoint, type CheckpointReader } from "./checkpoint-files.js";
import { safetensorsDType, vramlabDType } from "./safetensors.js";
import { createFlux, FluxTransformer2DModel } from "../models/flux/transformer.js";
import { fluxConfigFromDiffusers, fluxConfigToDiffusers } from "../models/flux/config.js";
import { isTensorSubclass } from "../weight.js";
import { getScheme } from "../quant/schemes.js";

/** safetensors header key holding {weightName: subclass metadata} for quantized weights. */
export const QUANTIZATION_METADATA_KEY = "vramlab.quantization";

export interface LoadOptions {
  device?: DeviceSpec;
  /** dtype for float parameters (default: the checkpoint's) */
  dtype?: DType;
  /** called after each tensor is read */
  onProgress?: (done: number, total: number, name: string) => void;
}

export interface SaveOptions {
  /** largest shard in bytes before the checkpoint is split (diffusers' default 10 GB) */
  maxShardBytes?: number;
}

interface ModelClass {
  create(config: Record<string, unknown>, source: string, device: DeviceSpec, dtype: DType): Module;
  config(model: Module): Record<string, unknown>;
  matches(model: Module): boolean;
}

const modelClasses = new Map<string, ModelClass>([
  ["FluxTransformer2DModel", {
    create: (json, source, device, dtype) => createFlux(fluxConfigFromDiffusers(json, source), { device, dtype, init: "empty" }),
    config: (m) => fluxConfigToDiffusers((m as FluxTransformer2DModel).config),
    matches: (m) => m instanceof FluxTransformer2DModel,
  }],
]);

/** Finds the model folder: the path itself, or its transformer/ subfolder (a pipeline folder). */
function modelFolder(path: string): string {
  if (!existsSync(path)) throw new Error(`loadModel: ${path} does not exist`);
  if (!statSync(path).isDirectory()) throw new Error(`loadModel: ${path} is a file; pass the model folder that holds config.json and the safetensors checkpoint`);
  if (existsSync(join(path, "config.json"))) return path;
  if (existsSync(join(path, "transformer", "config.json"))) return join(path, "transformer");
  throw new Error(`loadModel: ${path} has no config.json (nor transformer/config.json); it is not a diffusers model folder`);
}

function readConfig(folder: string): Record<string, unknown> {
  const file = join(folder, "config.json");
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`loadModel: ${file} is not valid JSON (${(e as Error).message})`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new Error(`loadModel: ${file} must hold a JSON object`);
  return json as Record<string, unknown>;
}

/** Loads a diffusers-format model folder onto a device. */
export async function loadModel<M extends Module = FluxTransformer2DModel>(path: string, options: LoadOptions = {}): Promise<M> {
  const folder = modelFolder(path);
  const config = readConfig(folder);
  const className = String(config["_class_name"] ?? "");
  const cls = modelClasses.get(className);
  if (!cls) throw new Error(`loadModel: ${join(folder, "config.json")} describes a "${className}"; vramlab loads ${[...modelClasses.keys()].join(", ")}`);
  const reader = openCheckpoint(folder);
  try {
    const device = getDevice(options.device ?? "cpu");
    const dtype = options.dtype ?? checkpointFloatDType(reader);
    const model = untracked(() => cls.create(config, join(folder, "config.json"), device, dtype));
    try {
      untracked(() => restructureQuantized(model, reader));
      await fillFromCheckpoint(model, reader, options.onProgress);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model as M;
  } finally {
    reader.close();
  }
}

function checkpointFloatDType(reader: CheckpointReader): DType {
  for (const t of reader.tensors) {
    const d = vramlabDType(t.dtype);
    if (d === "float32" || d === "float16" || d === "bfloat16") return d;
    if (t.dtype === "F64") return "float32";
  }
  return "float32";
}

/** Replaces the weights a quantized checkpoint stores quantized by empty QTensors of the same scheme. */
function restructureQuantized(model: Module, reader: CheckpointReader): void {
  const raw = reader.metadata[QUANTIZATION_METADATA_KEY];
  if (raw === undefined) return;
  let entries: Record<string, Record<string, unknown>>;
  try {
    entries = JSON.parse(raw);
  } catch (e) {
    throw new Error(`loadModel: the checkpoint's ${QUANTIZATION_METADATA_KEY} metadata is not valid JSON (${(e as Error).message})`);
  }
  const weights = new Map([...model.namedWeights()].map(([n, w, , m, local]) => [n, { w, m, local }]));
  for (const [name, meta] of Object.entries(entries)) {
    const slot = weights.get(name);
    if (!slot) throw new Error(`loadModel: the checkpoint has a quantized weight ${name}, which this model does not have; the checkpoint belongs to another model`);
    const shape = meta["shape"] as number[];
    if (!Array.isArray(shape) || shape.length !== slot.w.shape.length || shape.some((d, i) => d !== slot.w.shape[i])) {
      throw new Error(`loadModel: quantized weight ${name} is ${formatShape(shape ?? [])} in the checkpoint but ${formatShape(slot.w.shape)} in the model`);
    }
    const scheme = getScheme(String(meta["scheme"]));
    const groupSize = typeof meta["groupSize"] === "number" ? meta["groupSize"] : undefined;
    const q = scheme.empty(shape, slot.w.dtype, groupSize !== undefined ? { groupSize } : {}, slot.w.device, name);
    slot.m.setTensor(slot.local, q);
    slot.w.dispose();
  }
}

async function fillFromCheckpoint(model: Module, reader: CheckpointReader, onProgress?: LoadOptions["onProgress"]): Promise<void> {
  const inFile = new Map(reader.tensors.map((t) => [t.name, t]));
  const expected = [...model.namedTensors()];
  const missing = expected.filter(([n]) => !inFile.has(n)).map(([n]) => n);
  const names = new Set(expected.map(([n]) => n));
  const unexpected = reader.tensors.filter((t) => !names.has(t.name)).map((t) => t.name);
  if (missing.length || unexpected.length) {
    const show = (xs: string[]) => xs.slice(0, 8).join(", ") + (xs.length > 8 ? `, … (${xs.length} in all)` : "");
    throw new Error(
      `loadModel: the checkpoint does not match the model's parameters.` +
        (missing.length ? ` Missing: ${show(missing)}.` : "") +
        (unexpected.length ? ` Unexpected: ${show(unexpected)}.` : "") +
        ` Check that config.json belongs to these weights.`,
    );
  }
  let done = 0;
  for (const [name, param] of expected) {
    const info = inFile.get(name)!;
    const packedAsBytes = isPackedBytes(info.dtype, info.shape, param);
    if (!packedAsBytes && (info.shape.length !== param.shape.length || info.shape.some((d, i) => d !== param.shape[i]))) {
      throw new Error(`loadModel: ${name} is ${formatShape(info.shape)} in the checkpoint but the model expects ${formatShape(param.shape)}`);
    }
    if (param.device.hasData) readInto(param, reader, name, info.dtype);
    onProgress?.(++done, expected.length, name);
    if (done % 16 === 0) await new Promise<void>((r) => setImmediate(r));
  }
}

/** Reads one checkpoint tensor into a parameter, converting dtype through a host staging tensor. */
function readInto(param: Tensor, reader: CheckpointReader, name: string, fileDType: string): void {
  const bytes = reader.read(name);
  const srcDType = vramlabDType(fileDType);
  if (srcDType === param.dtype || (fileDType === "U8" && dtypeInfo(param.dtype).packed && bytes.byteLength === param.nbytes)) {
    param.device.backend.write(param, 0, bytes);
    return;
  }
  let staging: Tensor;
  if (srcDType) {
    staging = keep(Tensor.empty(param.shape, srcDType, param.device, "load-staging"));
    staging.device.backend.write(staging, 0, bytes);
  } else if (fileDType === "F64") {
    const f64 = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    staging = keep(Tensor.empty(param.shape, "float32", param.device, "load-staging"));
    staging.device.backend.write(staging, 0, new Uint8Array(Float32Array.from(f64).buffer));
  } else {
    throw new Error(`loadModel: ${name} is stored as ${fileDType}, which vramlab cannot load into a ${param.dtype} parameter`);
  }
  try {
    if (!dtypeInfo(staging.dtype).isFloat && dtypeInfo(param.dtype).isFloat) {
      throw new Error(`loadModel: ${name} is an integer tensor (${fileDType}) but the model expects ${param.dtype}`);
    }
    param.device.backend.cast(param, 0, staging, 0, param.numel, false);
  } finally {
    staging.dispose();
  }
}

/** Sub-byte dtypes have no safetensors name: they are stored as their packed bytes, U8 [nbytes]. */
function isPackedBytes(fileDType: string, shape: readonly number[], param: Tensor): boolean {
  return fileDType === "U8" && dtypeInfo(param.dtype).packed && shape.length === 1 && shape[0] === param.nbytes;
}

/** Saves a model as a diffusers-format folder: config.json plus safetensors (sharded when large). */
export async function saveModel(model: Module, path: string, options: SaveOptions = {}): Promise<void> {
  const cls = [...modelClasses.entries()].find(([, c]) => c.matches(model));
  if (!cls) throw new Error(`saveModel: ${model.className} is not a model class vramlab can save (${[...modelClasses.keys()].join(", ")})`);
  const tensors = [...model.namedTensors()];
  for (const [name, t] of tensors) {
    if (!t.device.hasData) throw new Error(`saveModel: ${name} is on ${t.device.name}, which holds no values; only models with real weights can be saved`);
  }
  const quantized: Record<string, Record<string, unknown>> = {};
  for (const [name, w] of model.namedWeights()) if (isTensorSubclass(w)) quantized[name] = w.metadata();
  const metadata = Object.keys(quantized).length ? { [QUANTIZATION_METADATA_KEY]: JSON.stringify(quantized) } : undefined;
  mkdirSync(path, { recursive: true });
  writeCheckpoint(path, tensors.map(([name, t]) => {
    const st = safetensorsDType(t.dtype);
    if (st) return { name, dtype: st, shape: t.shape, data: () => readBytes(t) };
    if (dtypeInfo(t.dtype).packed) return { name, dtype: "U8", shape: [t.nbytes], data: () => readBytes(t) };
    throw new Error(`saveModel: ${name} has dtype ${t.dtype}, which safetensors has no name for`);
  }), { maxShardBytes: options.maxShardBytes, metadata });
  writeFileSync(join(path, "config.json"), JSON.stringify(cls[1].config(model), null, 2) + "\n");
}
