// The experiment store: one JSON-lines file, one record per line.
//
// Why JSON lines and not SQLite: Node 20 has no built-in SQLite, a native
// SQLite module would be one more build for every install, and a text file
// beside the notebook can be read, diffed and committed like the notebook.
//
// Appends: each record is one write() on a descriptor opened with O_APPEND,
// so the kernel places it at the end of the file in one piece; two
// processes (two notebooks, a notebook and a script) appending at once do
// not interleave their lines (local file systems; NFS does not honour
// O_APPEND). The data is flushed (fdatasync) before append returns.
// A crash in the middle of a write leaves a torn last line: reads skip it
// with a warning, and the next append starts on a fresh line, so no record
// before or after it is lost.
//
// Reads are incremental: the store remembers how far it has parsed and
// reads only what other writers appended since.
import { closeSync, fdatasyncSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { applyFilter, type ExperimentFilter } from "./filter.js";
import { ExperimentComparison } from "./compare.js";
import { ExperimentRecord, decodeRecord, encodeRecord, type ExperimentRecordData } from "./record.js";

/** A line that is not a record: skipped, with why. */
export interface SkippedLine {
  /** 1-based line number in the file */
  line: number;
  /** byte offset where the line starts */
  offset: number;
  reason: string;
}

const NEWLINE = 0x0a;

export class ExperimentStore {
  readonly path: string;
  private records: ExperimentRecord[] = [];
  private readonly skippedLines: SkippedLine[] = [];
  /** bytes parsed so far (always just after a newline) and the number of lines they held */
  private parsedBytes = 0;
  private parsedLines = 0;
  private fileId: string | null = null;
  /** offsets already warned about (a torn tail is re-read until something follows it) */
  private readonly warned = new Set<number>();

  constructor(path: string) {
    if (typeof path !== "string" || path === "") throw new TypeError("experiments: the store path must be a file name, e.g. \"vramlab-experiments.jsonl\"");
    this.path = resolve(path);
  }

  /** Lines that were not records (torn by a crash, edited by hand, another format), in file order. */
  get skipped(): readonly SkippedLine[] {
    return this.skippedLines;
  }

  /** Appends one record as one line. */
  append(record: ExperimentRecordData | ExperimentRecord): void {
    const data = record instanceof ExperimentRecord ? record.toJSON() : record;
    const line = encodeRecord(data);
    if (line.includes("\n")) throw new Error("experiments: an encoded record contains a newline"); // JSON.stringify escapes them; guard the line format
    mkdirSync(dirname(this.path), { recursive: true });
    let fd: number;
    try {
      fd = openSync(this.path, "a");
    } catch (e) {
      throw new Error(`experiments: cannot open ${this.path} for appending: ${(e as Error).message}. Open a store in a writable folder with vl.experiments.open(path).`);
    }
    try {
      // a torn line left by a crash must not swallow this record: start on a fresh line
      const size = fstatSync(fd).size;
      let prefix = "";
      if (size > 0) {
        const last = Buffer.alloc(1);
        const rfd = openSync(this.path, "r");
        try {
          readSync(rfd, last, 0, 1, size - 1);
        } finally {
          closeSync(rfd);
        }
        if (last[0] !== NEWLINE) prefix = "\n";
      }
      const bytes = Buffer.from(`${prefix}${line}\n`, "utf8");
      const written = writeSync(fd, bytes, 0, bytes.length);
      if (written !== bytes.length) throw new Error(`experiments: only ${written} of ${bytes.length} bytes reached ${this.path} (disk full?); the partial line will be skipped when reading`);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Reads what was appended since the last read (by any process). */
  refresh(): this {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        this.reset(null);
        return this;
      }
      throw new Error(`experiments: cannot read ${this.path}: ${(e as Error).message}`);
    }
    try {
      const st = fstatSync(fd);
      const id = `${st.dev}:${st.ino}`;
      if (id !== this.fileId || st.size < this.parsedBytes) this.reset(id); // replaced or truncated: start over
      if (st.size === this.parsedBytes) return this;
      const chunk = Buffer.alloc(st.size - this.parsedBytes);
      let got = 0;
      while (got < chunk.length) {
        const n = readSync(fd, chunk, got, chunk.length - got, this.parsedBytes + got);
        if (n === 0) break;
        got += n;
      }
      this.parse(chunk.subarray(0, got));
    } finally {
      closeSync(fd);
    }
    return this;
  }

  private reset(fileId: string | null): void {
    this.records = [];
    this.skippedLines.length = 0;
    this.parsedBytes = 0;
    this.parsedLines = 0;
    this.fileId = fileId;
    this.warned.clear();
  }

  private skip(line: number, offset: number, reason: string): void {
    const known = this.skippedLines.find((s) => s.offset === offset);
    if (known) known.reason = reason;
    else this.skippedLines.push({ line, offset, reason });
    if (!this.warned.has(offset)) {
      this.warned.add(offset);
      console.warn(`vramlab experiments: ${this.path} line ${line}: ${reason}; skipped (the other records are kept)`);
    }
  }

  private parse(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      const offset = this.parsedBytes + start;
      const lineNo = this.parsedLines + 1;
      if (end < 0) {
        // no newline yet: a crash tore it, or another process is writing it now; read it again next time
        if (start < chunk.length) this.skip(lineNo, offset, "incomplete last line (a crash while writing, or a write in progress)");
        break;
      }
      const text = chunk.toString("utf8", start, end).trim();
      if (text !== "") {
        try {
          this.records.push(new ExperimentRecord(decodeRecord(JSON.parse(text))));
          // it was still being written at the last read
          const pending = this.skippedLines.findIndex((s) => s.offset === offset);
          if (pending >= 0) this.skippedLines.splice(pending, 1);
        } catch (e) {
          this.skip(lineNo, offset, e instanceof SyntaxError ? `not valid JSON (${e.message})` : (e as Error).message);
        }
      }
      this.parsedLines++;
      start = end + 1;
    }
    this.parsedBytes += start;
  }

  /** Every record in file order (oldest first), or those that pass a filter. */
  list(filter?: ExperimentFilter): ExperimentRecord[] {
    return applyFilter(this.refresh().records, filter);
  }

  /** The record with this id (or the only one whose id starts with it). */
  get(id: string): ExperimentRecord {
    if (typeof id !== "string" || id === "") throw new TypeError("experiments.get: give the id of a record (record.id), e.g. \"20261122-215216-3fa2c1\"");
    const records = this.refresh().records;
    const exact = records.find((r) => r.id === id);
    if (exact) return exact;
    const prefixed = records.filter((r) => r.id.startsWith(id));
    if (prefixed.length === 1) return prefixed[0]!;
    if (prefixed.length > 1) throw new Error(`experiments.get: "${id}" starts ${prefixed.length} ids (${prefixed.slice(0, 5).map((r) => r.id).join(", ")}); give more of it`);
    const latest = records.slice(-3).map((r) => `${r.id} (${r.name})`).join(", ");
    throw new Error(`experiments.get: no experiment "${id}" in ${this.path} (${records.length} records${latest ? `; latest: ${latest}` : ""})`);
  }

  /** The records a filter takes, side by side: a table of the config fields that differ and the metrics, and a figure. */
  compare(filter?: ExperimentFilter, options: { title?: string } = {}): ExperimentComparison {
    const records = this.list(filter);
    if (records.length === 0) {
      const names = [...new Set(this.records.map((r) => r.name))];
      throw new Error(`experiments.compare: no record in ${this.path} matches the filter (${names.length ? `names there: ${names.slice(0, 10).map((n) => JSON.stringify(n)).join(", ")}` : "the store is empty"})`);
    }
    return new ExperimentComparison(records, options);
  }

  has(id: string): boolean {
    return this.refresh().records.some((r) => r.id === id);
  }

  get size(): number {
    return this.refresh().records.length;
  }
}
