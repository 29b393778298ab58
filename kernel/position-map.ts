// Maps positions in the JavaScript a cell ran as back to its TypeScript
// source. tslab's converter emits no source maps, so both texts are
// tokenized and the token sequences aligned with a diff (Myers' O(ND)
// algorithm): types, added `exports.` prefixes and helper code are
// insertions or deletions, while identifiers, literals and punctuation
// the runtime can fail on keep their order.

export interface Token {
  text: string;
  /** 0-based line and UTF-16 column */
  line: number;
  col: number;
  /** UTF-16 offset of the token start */
  pos: number;
}

/** Minimal scanner surface of the TypeScript API. */
export interface ScannerApi {
  createScanner(languageVersion: number, skipTrivia: boolean, variant?: number, text?: string): {
    scan(): number;
    getTokenText(): string;
    getTokenPos(): number;
    setText(text: string): void;
    reScanTemplateToken(isTaggedTemplate: boolean): number;
    reScanSlashToken(): number;
  };
  ScriptTarget: { Latest: number };
  SyntaxKind: Record<string, number>;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function lineOf(starts: number[], pos: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function tokenize(api: ScannerApi, text: string, limit = 50_000): Token[] {
  const K = api.SyntaxKind;
  const scanner = api.createScanner(api.ScriptTarget.Latest, true);
  scanner.setText(text);
  const starts = lineStarts(text);
  const out: Token[] = [];
  // The scanner has no parser context: track template substitutions and regex positions ourselves.
  const braces: ("brace" | "template")[] = [];
  let prev = -1;
  const endsExpression = (k: number) =>
    k === K.Identifier || k === K.NumericLiteral || k === K.StringLiteral || k === K.BigIntLiteral || k === K.CloseParenToken ||
    k === K.CloseBracketToken || k === K.CloseBraceToken || k === K.NoSubstitutionTemplateLiteral || k === K.TemplateTail ||
    k === K.RegularExpressionLiteral || k === K.ThisKeyword || k === K.TrueKeyword || k === K.FalseKeyword || k === K.NullKeyword;
  for (let kind = scanner.scan(); kind !== K.EndOfFileToken && out.length < limit; kind = scanner.scan()) {
    if (kind === K.CloseBraceToken && braces[braces.length - 1] === "template") {
      kind = scanner.reScanTemplateToken(false);
      if (kind === K.TemplateTail) braces.pop();
    } else if (kind === K.OpenBraceToken) braces.push("brace");
    else if (kind === K.CloseBraceToken) braces.pop();
    else if (kind === K.TemplateHead) braces.push("template");
    else if ((kind === K.SlashToken || kind === K.SlashEqualsToken) && !endsExpression(prev)) kind = scanner.reScanSlashToken();
    const pos = scanner.getTokenPos();
    const line = lineOf(starts, pos);
    out.push({ text: scanner.getTokenText(), line, col: pos - starts[line], pos });
    prev = kind;
  }
  return out;
}

/**
 * Matched index pairs (a[i] === b[j]) of a shortest edit script between a
 * and b, or null when the edit distance exceeds maxEdits.
 */
export function alignSequences(a: readonly string[], b: readonly string[], maxEdits = 2000): [number, number][] | null {
  // Common prefix and suffix are matched directly; the diff runs on the middle.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const n = a.length - head - tail;
  const m = b.length - head - tail;
  const A = (i: number) => a[head + i];
  const B = (j: number) => b[head + j];
  const max = Math.min(n + m, maxEdits);
  // trace[d] holds the furthest x per diagonal k in -(d+1)..d+1 at the start of round d.
  const trace: Int32Array[] = [];
  let v = new Int32Array(3);
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    const prev = v;
    const get = (k: number) => (k >= -d && k <= d ? prev[k + d] : 0); // prev covers k in -d..d (round d-1 wrote -(d-1)..d-1)
    trace.push(prev);
    const next = new Int32Array(2 * d + 3); // k in -(d+1)..d+1
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && get(k - 1) < get(k + 1)) ? get(k + 1) : get(k - 1) + 1;
      let y = x - k;
      while (x < n && y < m && A(x) === B(y)) {
        x++;
        y++;
      }
      next[k + d + 1] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    v = next;
  }
  if (found < 0) return null;
  const pairs: [number, number][] = [];
  for (let i = 0; i < tail; i++) pairs.push([a.length - 1 - i, b.length - 1 - i]);
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const prev = trace[d];
    const get = (k: number) => (k >= -d && k <= d ? prev[k + d] : 0);
    const k = x - y;
    const prevK = k === -d || (k !== d && get(k - 1) < get(k + 1)) ? k + 1 : k - 1;
    const prevX = get(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      pairs.push([head + x, head + y]);
    }
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    x--;
    y--;
    pairs.push([head + x, head + y]);
  }
  for (let i = head - 1; i >= 0; i--) pairs.push([i, i]);
  return pairs.reverse();
}

export interface SourcePosition {
  /** 0-based line and column in the TypeScript source */
  line: number;
  col: number;
  /** true when the exact token was matched, false when a neighbour's line was used */
  exact: boolean;
}

export class PositionMap {
  private readonly jsTokens: Token[];
  private readonly tsTokens: Token[];
  private readonly jsToTs: Int32Array;
  private readonly jsLineStarts: number[];

  constructor(api: ScannerApi, tsSource: string, jsCode: string) {
    this.tsTokens = tokenize(api, tsSource);
    this.jsTokens = tokenize(api, jsCode);
    this.jsLineStarts = lineStarts(jsCode);
    this.jsToTs = new Int32Array(this.jsTokens.length).fill(-1);
    const pairs = alignSequences(this.jsTokens.map((t) => t.text), this.tsTokens.map((t) => t.text));
    if (pairs) for (const [j, t] of pairs) this.jsToTs[j] = t;
  }

  /** The TypeScript position of a 1-based JS line and column (as in stack traces), or null. */
  lookup(jsLine1: number, jsCol1: number): SourcePosition | null {
    const line = jsLine1 - 1;
    if (line < 0 || line >= this.jsLineStarts.length) return null;
    const pos = this.jsLineStarts[line] + Math.max(0, jsCol1 - 1);
    // The token starting at or before pos.
    let lo = 0;
    let hi = this.jsTokens.length - 1;
    if (hi < 0) return null;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.jsTokens[mid].pos <= pos) lo = mid;
      else hi = mid - 1;
    }
    const at = (j: number): SourcePosition | null => {
      const t = this.jsToTs[j];
      return t >= 0 ? { line: this.tsTokens[t].line, col: this.tsTokens[t].col, exact: false } : null;
    };
    const direct = at(lo);
    if (direct) return { ...direct, exact: true };
    // Nearest matched token on the same JS line (after, then before), else the one before.
    for (let j = lo + 1; j < this.jsTokens.length && this.jsTokens[j].line === line; j++) {
      const p = at(j);
      if (p) return p;
    }
    for (let j = lo - 1; j >= 0; j--) {
      const p = at(j);
      if (p) return p;
    }
    return null;
  }
}
