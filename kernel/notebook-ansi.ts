// Terminal text (streams, tracebacks) to HTML for exported pages: SGR
// colours and bold/italic/underline become spans; every other escape
// sequence is dropped; carriage returns and backspaces overwrite the way a
// terminal (and JupyterLab) shows them.
import { escapeHtml } from "./display.js";

const BASIC = ["#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5"];
const BRIGHT = ["#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff"];

/** xterm's 256-colour palette entry n. */
function color256(n: number): string {
  if (n < 8) return BASIC[n];
  if (n < 16) return BRIGHT[n - 8];
  if (n < 232) {
    const i = n - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

/** Applies \r (back to line start, later text overwrites) and \b (erase one character) per line. */
export function collapseTerminalControls(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      let out: string[] = [];
      let col = 0;
      for (const ch of line) {
        if (ch === "\r") col = 0;
        else if (ch === "\b") col = Math.max(0, col - 1);
        else {
          out[col++] = ch;
        }
      }
      // "\r" at the very end of a line with nothing after it leaves the line as it was
      out = out.map((c) => c ?? " ");
      return out.join("");
    })
    .join("\n");
}

interface Style {
  fg?: string;
  bg?: string;
  bold?: boolean;
  italic?: boolean;
  underline?: boolean;
}

function styleCss(s: Style): string {
  const parts: string[] = [];
  if (s.fg) parts.push(`color:${s.fg}`);
  if (s.bg) parts.push(`background-color:${s.bg}`);
  if (s.bold) parts.push("font-weight:bold");
  if (s.italic) parts.push("font-style:italic");
  if (s.underline) parts.push("text-decoration:underline");
  return parts.join(";");
}

function applySgr(style: Style, params: number[]): Style {
  const s = { ...style };
  if (!params.length) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) Object.keys(s).forEach((k) => delete s[k as keyof Style]);
    else if (p === 1) s.bold = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 22) s.bold = false;
    else if (p === 23) s.italic = false;
    else if (p === 24) s.underline = false;
    else if (p >= 30 && p <= 37) s.fg = BASIC[p - 30];
    else if (p === 39) delete s.fg;
    else if (p >= 40 && p <= 47) s.bg = BASIC[p - 40];
    else if (p === 49) delete s.bg;
    else if (p >= 90 && p <= 97) s.fg = BRIGHT[p - 90];
    else if (p >= 100 && p <= 107) s.bg = BRIGHT[p - 100];
    else if ((p === 38 || p === 48) && params[i + 1] === 5 && i + 2 < params.length) {
      s[p === 38 ? "fg" : "bg"] = color256(params[i + 2]);
      i += 2;
    } else if ((p === 38 || p === 48) && params[i + 1] === 2 && i + 4 < params.length) {
      s[p === 38 ? "fg" : "bg"] = `rgb(${params[i + 2]},${params[i + 3]},${params[i + 4]})`;
      i += 4;
    }
  }
  return s;
}

// CSI sequences (ESC [ ... final byte), OSC sequences (ESC ] ... BEL or ESC \) and two-byte escapes.
const ESCAPE = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** Escaped HTML of terminal text, colours as inline-styled spans. */
export function ansiToHtml(text: string): string {
  const t = collapseTerminalControls(text);
  let html = "";
  let style: Style = {};
  let last = 0;
  const emit = (chunk: string) => {
    if (!chunk) return;
    const css = styleCss(style);
    html += css ? `<span style="${css}">${escapeHtml(chunk)}</span>` : escapeHtml(chunk);
  };
  for (let m = ESCAPE.exec(t); m; m = ESCAPE.exec(t)) {
    emit(t.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === "m") style = applySgr(style, m[1] ? m[1].split(";").map((x) => Number(x) || 0) : []);
  }
  emit(t.slice(last));
  ESCAPE.lastIndex = 0;
  return html;
}

/** Terminal text without escape sequences (for plain-text uses). */
export function stripAnsi(text: string): string {
  return collapseTerminalControls(text.replace(ESCAPE, ""));
}
