// papermill's parameter conventions for TypeScript notebooks: the cell
// tagged `parameters` holds the defaults; the runner inserts a cell tagged
// `injected-parameters` right after it (at the top when there is none)
// with one `const name = value;` per parameter. tslab lets a later cell
// declare a name again, and the later declaration wins for the cells
// after it, so the defaults may use const or let.
import { cellTags, newCellId, type Cell, type JsonValue, type Notebook } from "./notebook-format.js";

export const PARAMETERS_TAG = "parameters";
export const INJECTED_TAG = "injected-parameters";

export class ParameterError extends Error {
  override name = "ParameterError";
}

const RESERVED = new Set(
  ("break case catch class const continue debugger default delete do else enum export extends false finally for function if import in " +
    "instanceof new null return super switch this throw true try typeof var void while with as implements interface let package private " +
    "protected public static yield await").split(" "),
);

export function isParameterName(name: string): boolean {
  return /^[A-Za-z_$][\w$]*$/.test(name) && !RESERVED.has(name);
}

/**
 * A command-line value as papermill's -p reads it, in TypeScript terms:
 * true/false (and Python's True/False), null (and None), numbers, JSON
 * arrays, objects and quoted strings; anything else is the string itself.
 */
export function parseParameterValue(text: string): JsonValue {
  const t = text.trim();
  if (t === "true" || t === "True") return true;
  if (t === "false" || t === "False") return false;
  if (t === "null" || t === "None") return null;
  if (t !== "" && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  if (/^[[{"]/.test(t)) {
    try {
      return JSON.parse(t) as JsonValue;
    } catch {
      // not JSON after all: the text itself
    }
  }
  return text;
}

/** Splits `name=value` (the value may contain "="); raw keeps the value as a string. */
export function parseParameterArgument(arg: string, raw = false): [string, JsonValue] {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new ParameterError(`parameter "${arg}" is not name=value (e.g. -p steps=8)`);
  const name = arg.slice(0, eq).trim();
  if (!isParameterName(name)) throw new ParameterError(`parameter name "${name}" is not a TypeScript identifier (letters, digits, _ and $, not starting with a digit, not a reserved word)`);
  const value = arg.slice(eq + 1);
  return [name, raw ? value : parseParameterValue(value)];
}

/** A TypeScript literal for a JSON value (JSON is valid TypeScript; line separators are escaped for older parsers). */
function literal(value: JsonValue): string {
  return JSON.stringify(value).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

export function injectedSource(parameters: Record<string, JsonValue>): string {
  return ["// Parameters", ...Object.entries(parameters).map(([name, value]) => `const ${name} = ${literal(value)};`)].join("\n");
}

/** Names declared at the top level of a parameters cell (const/let/var name ...). */
export function declaredNames(source: string): string[] {
  const names: string[] = [];
  const re = /^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)/gm;
  for (let m = re.exec(source); m; m = re.exec(source)) names.push(m[1]);
  return names;
}

export interface Injection {
  /** index of the injected cell in nb.cells */
  index: number;
  /** whether a cell tagged `parameters` was found */
  foundParametersCell: boolean;
  /** parameters the parameters cell does not declare (papermill warns about these too) */
  unknown: string[];
  /** the defaults the parameters cell declares, by name (their source text) */
  defaults: string[];
}

/**
 * Removes a previous run's injected cell and inserts a new one after the
 * parameters cell (at the top without one). Mutates nb.
 */
export function injectParameters(nb: Notebook, parameters: Record<string, JsonValue>): Injection {
  for (const name of Object.keys(parameters)) if (!isParameterName(name)) throw new ParameterError(`parameter name "${name}" is not a TypeScript identifier`);
  nb.cells = nb.cells.filter((c) => !cellTags(c).includes(INJECTED_TAG));
  const at = nb.cells.findIndex((c) => c.cell_type === "code" && cellTags(c).includes(PARAMETERS_TAG));
  const defaults = at >= 0 ? declaredNames(nb.cells[at].source) : [];
  const cell: Cell = {
    cell_type: "code",
    ...(nb.nbformat_minor >= 5 ? { id: newCellId() } : {}),
    source: injectedSource(parameters),
    metadata: { tags: [INJECTED_TAG] },
    execution_count: null,
    outputs: [],
  };
  const index = at + 1;
  nb.cells.splice(index, 0, cell);
  return { index, foundParametersCell: at >= 0, unknown: at >= 0 ? Object.keys(parameters).filter((n) => !defaults.includes(n)) : Object.keys(parameters), defaults };
}
