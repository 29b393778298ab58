// Which records a list or a comparison takes: by name (exact, or a RegExp),
// id, status, config fields (nested objects or dot paths, compared as JSON),
// tags, a predicate, and the most recent N.
import { isDeepStrictEqual } from "node:util";
import { flattenConfig, type ExperimentRecord, type JsonValue } from "./record.js";

export interface ExperimentQuery {
  /** exact name, one of several names, or a pattern */
  name?: string | string[] | RegExp;
  /** ids (or unique id prefixes) */
  id?: string | string[];
  status?: "ok" | "error";
  /** every given field must equal the record's: { scheme: "int8wo" } or { "offload.numBlocksPerGroup": 2 } */
  config?: Record<string, JsonValue>;
  /** records carrying all of these tags */
  tags?: string[];
  /** any further test */
  where?: (record: ExperimentRecord) => boolean;
  /** only the most recent N that pass the other tests */
  last?: number;
}

/** A name (exact), a name pattern, a predicate or a query object. */
export type ExperimentFilter = string | RegExp | ((record: ExperimentRecord) => boolean) | ExperimentQuery;

function toQuery(filter: ExperimentFilter | undefined): ExperimentQuery {
  if (filter === undefined) return {};
  if (typeof filter === "string" || filter instanceof RegExp) return { name: filter };
  if (typeof filter === "function") return { where: filter };
  if (typeof filter !== "object" || filter === null) throw new TypeError(`experiments: a filter is a name, a RegExp, a function or {name, config, status, ...}, got ${String(filter)}`);
  const known = new Set(["name", "id", "status", "config", "tags", "where", "last"]);
  const unknown = Object.keys(filter).filter((k) => !known.has(k));
  if (unknown.length) throw new TypeError(`experiments: unknown filter field${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; fields: ${[...known].join(", ")} (config fields go under config: {...})`);
  return filter;
}

function configMatches(record: ExperimentRecord, wanted: Record<string, JsonValue>): boolean {
  const flat = flattenConfig(record.config);
  for (const [path, value] of Object.entries(flattenConfig(wanted as { [k: string]: JsonValue }))) {
    if (!(path in flat) || !isDeepStrictEqual(flat[path], value)) return false;
  }
  return true;
}

export function applyFilter(records: ExperimentRecord[], filter?: ExperimentFilter): ExperimentRecord[] {
  const q = toQuery(filter);
  const names = typeof q.name === "string" ? [q.name] : Array.isArray(q.name) ? q.name : null;
  const ids = q.id === undefined ? null : Array.isArray(q.id) ? q.id : [q.id];
  const out = records.filter((r) => {
    if (names && !names.includes(r.name)) return false;
    if (q.name instanceof RegExp && !q.name.test(r.name)) return false;
    if (ids && !ids.some((id) => r.id.startsWith(id))) return false;
    if (q.status && r.status !== q.status) return false;
    if (q.config && !configMatches(r, q.config)) return false;
    if (q.tags && !q.tags.every((t) => r.tags.includes(t))) return false;
    if (q.where && !q.where(r)) return false;
    return true;
  });
  if (q.last !== undefined) {
    if (!Number.isInteger(q.last) || q.last < 0) throw new TypeError(`experiments: last must be a whole number >= 0, got ${q.last}`);
    return q.last === 0 ? [] : out.slice(-q.last);
  }
  return out;
}
