// Jupyter notebooks (nbformat 4) as the runner reads and writes them:
// multi-line strings joined on read and split into lines on write, keys
// sorted and one-space indentation, as nbformat itself writes, so an
// executed notebook diffs cleanly against one saved by Jupyter.
import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonMap = { [key: string]: JsonValue };

/** A MIME bundle: text types as one string, JSON types (application/json, *+json) as values. */
export type MimeBundleData = Record<string, JsonValue>;

export interface StreamOutput {
  output_type: "stream";
  name: "stdout" | "stderr";
  text: string;
}
export interface DisplayDataOutput {
  output_type: "display_data";
  data: MimeBundleData;
  metadata: JsonMap;
  /** not saved: lets update_display_data find the output (nbclient keeps the same map) */
  transient?: { display_id?: string };
}
export interface ExecuteResultOutput {
  output_type: "execute_result";
  data: MimeBundleData;
  metadata: JsonMap;
  execution_count: number | null;
  transient?: { display_id?: string };
}
export interface ErrorOutput {
  output_type: "error";
  ename: string;
  evalue: string;
  traceback: string[];
}
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

export interface CodeCell {
  cell_type: "code";
  id?: string;
  source: string;
  metadata: JsonMap;
  execution_count: number | null;
  outputs: Output[];
}
export interface TextCell {
  cell_type: "markdown" | "raw";
  id?: string;
  source: string;
  metadata: JsonMap;
  attachments?: Record<string, MimeBundleData>;
}
export type Cell = CodeCell | TextCell;

export interface Notebook {
  nbformat: 4;
  nbformat_minor: number;
  metadata: JsonMap;
  cells: Cell[];
}

export class NotebookFormatError extends Error {
  override name = "NotebookFormatError";
}

function isMap(v: unknown): v is JsonMap {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** nbformat stores multi-line strings as lists of lines; either form is accepted. */
function joinLines(v: unknown, where: string): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v.join("");
  throw new NotebookFormatError(`${where} must be a string or a list of strings`);
}

function isJsonMime(mime: string): boolean {
  return mime === "application/json" || mime.endsWith("+json");
}

function readBundle(data: unknown, where: string): MimeBundleData {
  if (!isMap(data)) throw new NotebookFormatError(`${where} must be an object of MIME types`);
  const out: MimeBundleData = {};
  for (const [mime, value] of Object.entries(data)) out[mime] = isJsonMime(mime) ? value : joinLines(value, `${where}["${mime}"]`);
  return out;
}

function readOutput(o: unknown, where: string): Output {
  if (!isMap(o)) throw new NotebookFormatError(`${where} must be an object`);
  switch (o.output_type) {
    case "stream":
      return { output_type: "stream", name: o.name === "stderr" ? "stderr" : "stdout", text: joinLines(o.text, `${where}.text`) };
    case "display_data":
      return { output_type: "display_data", data: readBundle(o.data, `${where}.data`), metadata: isMap(o.metadata) ? o.metadata : {} };
    case "execute_result":
      return {
        output_type: "execute_result",
        data: readBundle(o.data, `${where}.data`),
        metadata: isMap(o.metadata) ? o.metadata : {},
        execution_count: typeof o.execution_count === "number" ? o.execution_count : null,
      };
    case "error":
      return {
        output_type: "error",
        ename: String(o.ename ?? ""),
        evalue: String(o.evalue ?? ""),
        traceback: Array.isArray(o.traceback) ? o.traceback.map(String) : [],
      };
    default:
      throw new NotebookFormatError(`${where} has an unknown output_type ${JSON.stringify(o.output_type)}`);
  }
}

/** Parses notebook JSON text; `source` names the file in errors. */
export function parseNotebook(text: string, source = "notebook"): Notebook {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new NotebookFormatError(`${source} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isMap(raw)) throw new NotebookFormatError(`${source}: a notebook is a JSON object with "cells"`);
  if (raw.nbformat !== 4) {
    throw new NotebookFormatError(`${source}: nbformat ${JSON.stringify(raw.nbformat)} is not supported; convert it to version 4 (jupyter nbconvert --to notebook --nbformat 4)`);
  }
  if (!Array.isArray(raw.cells)) throw new NotebookFormatError(`${source}: "cells" must be a list`);
  const cells = raw.cells.map((c, i): Cell => {
    const where = `${source}: cell ${i}`;
    if (!isMap(c)) throw new NotebookFormatError(`${where} must be an object`);
    const metadata = isMap(c.metadata) ? c.metadata : {};
    const id = typeof c.id === "string" ? c.id : undefined;
    const src = joinLines(c.source ?? "", `${where}.source`);
    if (c.cell_type === "code") {
      const outputs = Array.isArray(c.outputs) ? c.outputs.map((o, j) => readOutput(o, `${where} output ${j}`)) : [];
      return { cell_type: "code", ...(id !== undefined ? { id } : {}), source: src, metadata, execution_count: typeof c.execution_count === "number" ? c.execution_count : null, outputs };
    }
    if (c.cell_type === "markdown" || c.cell_type === "raw") {
      const cell: TextCell = { cell_type: c.cell_type, ...(id !== undefined ? { id } : {}), source: src, metadata };
      if (isMap(c.attachments)) {
        cell.attachments = {};
        for (const [name, bundle] of Object.entries(c.attachments)) cell.attachments[name] = readBundle(bundle, `${where}.attachments["${name}"]`);
      }
      return cell;
    }
    throw new NotebookFormatError(`${where} has an unknown cell_type ${JSON.stringify(c.cell_type)}`);
  });
  return { nbformat: 4, nbformat_minor: typeof raw.nbformat_minor === "number" ? raw.nbformat_minor : 0, metadata: isMap(raw.metadata) ? raw.metadata : {}, cells };
}

export function readNotebook(path: string): Notebook {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new NotebookFormatError(`cannot read the notebook ${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
  return parseNotebook(text, path);
}

/** Splits a string into lines keeping their endings (Python's splitlines(True) for "\n"). */
function splitLines(s: string): string[] {
  return s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function writeBundle(data: MimeBundleData): MimeBundleData {
  const out: MimeBundleData = {};
  for (const [mime, value] of Object.entries(data)) out[mime] = typeof value === "string" && !isJsonMime(mime) ? splitLines(value) : value;
  return out;
}

function writeOutput(o: Output): JsonMap {
  switch (o.output_type) {
    case "stream":
      return { output_type: "stream", name: o.name, text: splitLines(o.text) };
    case "display_data":
      return { output_type: "display_data", data: writeBundle(o.data), metadata: o.metadata };
    case "execute_result":
      return { output_type: "execute_result", data: writeBundle(o.data), metadata: o.metadata, execution_count: o.execution_count };
    case "error":
      return { output_type: "error", ename: o.ename, evalue: o.evalue, traceback: o.traceback };
  }
}

/** JSON.stringify with object keys sorted at every level, as nbformat writes. */
function sortedJson(value: unknown, indent: number): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (isMap(v)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) if (v[k] !== undefined) out[k] = sort(v[k]);
      return out;
    }
    return v;
  };
  return JSON.stringify(sort(value), null, indent);
}

/** The notebook as nbformat writes it: line lists, sorted keys, indent 1, final newline. */
export function serializeNotebook(nb: Notebook): string {
  const cells = nb.cells.map((c): JsonMap => {
    const base: JsonMap = { cell_type: c.cell_type, metadata: c.metadata, source: splitLines(c.source) };
    if (c.id !== undefined) base.id = c.id;
    if (c.cell_type === "code") return { ...base, execution_count: c.execution_count, outputs: c.outputs.map(writeOutput) };
    if (c.attachments) {
      const attachments: JsonMap = {};
      for (const [name, bundle] of Object.entries(c.attachments)) attachments[name] = writeBundle(bundle);
      base.attachments = attachments;
    }
    return base;
  });
  return sortedJson({ nbformat: nb.nbformat, nbformat_minor: nb.nbformat_minor, metadata: nb.metadata, cells }, 1) + "\n";
}

/** Writes through a temporary file in the same folder and a rename, so readers never see half a file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`cannot write ${path}: ${(e as Error).message}`);
  }
}

export function writeNotebook(path: string, nb: Notebook): void {
  writeFileAtomic(path, serializeNotebook(nb));
}

/** A new cell id as nbformat 4.5 makes them (8 hex characters here; the schema allows 1-64 of [a-zA-Z0-9-_]). */
export function newCellId(): string {
  return randomBytes(4).toString("hex");
}

/** Tags of a cell (metadata.tags), [] when absent. */
export function cellTags(cell: Cell): string[] {
  const tags = cell.metadata.tags;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === "string") : [];
}
