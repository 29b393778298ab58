// Execution history for history_request (tail, range, search). Entries of
// every session are kept in a JSON-lines file, so a new kernel can offer
// the previous sessions' inputs (VRAMLAB_HISTORY_FILE overrides the path;
// "off" keeps history in memory only).
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export interface HistoryEntry {
  session: number;
  line: number;
  input: string;
  output: string | null;
}

export type HistoryTuple = [number, number, string] | [number, number, [string, string | null]];

export function defaultHistoryFile(): string | null {
  const env = process.env.VRAMLAB_HISTORY_FILE;
  if (env !== undefined) return env === "" || env === "off" ? null : env;
  const base = process.env.XDG_DATA_HOME || join(homedir(), ".local", "share");
  return join(base, "vramlab", "history.jsonl");
}

/** Converts a glob ("*" and "?") to an anchored regular expression, like IPython's history search. */
function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[\\s\\S]*").replace(/\?/g, "[\\s\\S]");
  return new RegExp(`^${body}$`);
}

export class History {
  readonly session: number;
  private readonly entries: HistoryEntry[] = [];
  private file: string | null;

  constructor(file: string | null, private readonly log: (text: string) => void = () => {}, private readonly keep = 10_000) {
    this.file = file;
    let maxSession = 0;
    if (file) {
      try {
        const lines = readFileSync(file, "utf8").split("\n");
        for (const l of lines.slice(-keep)) {
          if (!l) continue;
          try {
            const e = JSON.parse(l) as HistoryEntry;
            if (typeof e.session === "number" && typeof e.line === "number" && typeof e.input === "string") {
              this.entries.push({ session: e.session, line: e.line, input: e.input, output: typeof e.output === "string" ? e.output : null });
              maxSession = Math.max(maxSession, e.session);
            }
          } catch {
            // a torn line from a concurrent writer: skip it
          }
        }
      } catch {
        // no history yet
      }
    }
    this.session = maxSession + 1;
  }

  /** Records a finished execution (its text/plain result, if any). */
  add(line: number, input: string, output: string | null = null): void {
    const e: HistoryEntry = { session: this.session, line, input, output };
    this.entries.push(e);
    if (this.entries.length > this.keep) this.entries.splice(0, this.entries.length - this.keep);
    if (!this.file) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      appendFileSync(this.file, JSON.stringify(e) + "\n");
    } catch (err) {
      this.log(`history file ${this.file} is not writable (${(err as Error).message}); keeping history in memory`);
      this.file = null;
    }
  }

  private tuple(e: HistoryEntry, withOutput: boolean): HistoryTuple {
    return withOutput ? [e.session, e.line, [e.input, e.output]] : [e.session, e.line, e.input];
  }

  /** Answers a history_request's content. */
  query(c: Record<string, unknown>): HistoryTuple[] {
    const withOutput = c.output === true;
    const type = c.hist_access_type;
    const n = typeof c.n === "number" && c.n > 0 ? Math.floor(c.n) : undefined;
    if (type === "tail") {
      const list = n === undefined ? this.entries : this.entries.slice(-n);
      return list.map((e) => this.tuple(e, withOutput));
    }
    if (type === "range") {
      let session = typeof c.session === "number" ? c.session : 0;
      if (session <= 0) session += this.session; // 0: this session, -1: the one before, ...
      const start = typeof c.start === "number" ? c.start : 0;
      const stop = typeof c.stop === "number" ? c.stop : undefined;
      return this.entries.filter((e) => e.session === session && e.line >= start && (stop === undefined || e.line < stop)).map((e) => this.tuple(e, withOutput));
    }
    if (type === "search") {
      const pattern = typeof c.pattern === "string" ? c.pattern : "*";
      const re = globToRegExp(pattern);
      let list = this.entries.filter((e) => re.test(e.input));
      if (c.unique === true) {
        const seen = new Set<string>();
        list = list.reverse().filter((e) => (seen.has(e.input) ? false : (seen.add(e.input), true))).reverse();
      }
      if (n !== undefined) list = list.slice(-n);
      return list.map((e) => this.tuple(e, withOutput));
    }
    throw new Error(`history_request: unknown hist_access_type ${JSON.stringify(type)} (expected "tail", "range" or "search")`);
  }
}
