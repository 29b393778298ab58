// tslab rewrites a reference to an earlier cell's variable `x` into
// `exports.x`, but only where `x` is a plain identifier expression: in an
// object literal shorthand `{ x }` it leaves `x` alone, so the cell throws
// "x is not defined". Spelling every shorthand out as `{ x: x }` before
// tslab converts the cell means the same thing and gives tslab a plain
// identifier to rewrite. Inserted text never contains a newline, so line
// numbers are unchanged; diagnostics' columns are mapped back.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

interface TsNode {
  kind: number;
  pos: number;
  end: number;
  name?: TsNode;
  getStart(sf?: TsSourceFile): number;
}
interface TsSourceFile extends TsNode {
  text: string;
}
/** The slice of the TypeScript API (tslab's fork, 5.0) used here. */
interface TsForShorthand {
  createSourceFile(name: string, text: string, target: number, setParents: boolean, kind: number): TsSourceFile;
  forEachChild(node: TsNode, visit: (child: TsNode) => void): void;
  SyntaxKind: { ShorthandPropertyAssignment: number };
  ScriptTarget: { Latest: number };
  ScriptKind: { TS: number };
}
let tsApi: TsForShorthand | null = null;
function ts(): TsForShorthand {
  return (tsApi ??= require("@tslab/typescript-for-tslab") as TsForShorthand);
}

export interface ShorthandExpansion {
  /** The cell source with every `{ x }` written as `{ x: x }`. */
  text: string;
  /** Offsets in the ORIGINAL source where text was inserted, ascending, with the inserted length. */
  insertions: { at: number; length: number }[];
}

export function expandShorthandProperties(source: string): ShorthandExpansion {
  const api = ts();
  // Cheap exit: no braces, no object literals.
  if (!source.includes("{")) return { text: source, insertions: [] };
  const sf = api.createSourceFile("cell.ts", source, api.ScriptTarget.Latest, true, api.ScriptKind.TS);
  const insertions: { at: number; length: number; name: string }[] = [];
  const visit = (node: TsNode): void => {
    if (node.kind === api.SyntaxKind.ShorthandPropertyAssignment && node.name) {
      const name = source.slice(node.name.getStart(sf), node.name.end);
      // `{ x = 1 } = obj` becomes `{ x: x = 1 } = obj`: the insertion goes right after the name either way.
      insertions.push({ at: node.name.end, length: name.length + 2, name });
    }
    api.forEachChild(node, visit);
  };
  visit(sf);
  if (insertions.length === 0) return { text: source, insertions: [] };
  insertions.sort((a, b) => a.at - b.at);
  let text = "";
  let last = 0;
  for (const ins of insertions) {
    text += source.slice(last, ins.at) + `: ${ins.name}`;
    last = ins.at;
  }
  text += source.slice(last);
  return { text, insertions: insertions.map(({ at, length }) => ({ at, length })) };
}

/** Maps an offset in the expanded text back to the original source. */
export function originalOffset(expansion: ShorthandExpansion, expandedOffset: number): number {
  let shift = 0;
  for (const ins of expansion.insertions) {
    const start = ins.at + shift; // where this insertion begins in the expanded text
    if (expandedOffset <= start) break;
    // inside the inserted text: point at the shorthand name's end
    if (expandedOffset < start + ins.length) return ins.at;
    shift += ins.length;
  }
  return expandedOffset - shift;
}

/** Line (0-based) and character of an offset in `source`. */
export function lineAndCharacter(source: string, offset: number): { line: number; character: number } {
  let line = 0;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, character: offset - lineStart };
}
