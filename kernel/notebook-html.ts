// An executed notebook as one self-contained HTML page (`vramlab run
// --html`): nothing is loaded from the network. Markdown is rendered with
// marked; each output shows its richest MIME type; plotly figures are
// interactive when the page inlines plotly.js (only when the notebook has
// plotly output) and otherwise their SVG drawing; widgets come alive from
// the widget state saved in the notebook through @jupyter-widgets/html-
// manager's embed mechanism (browser-embed/embed.ts, bundled into
// dist/browser/embed.js and .css by scripts/build-browser-embed.mjs, and
// inlined here only when the page shows a widget).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Marked, type Tokens } from "marked";
import { escapeHtml } from "./display.js";
import { ansiToHtml } from "./notebook-ansi.js";
import { WIDGET_STATE_MIME, WIDGET_VIEW_MIME, type SavedWidgetState } from "./notebook-outputs.js";
import { writeFileAtomic, type Cell, type JsonMap, type JsonValue, type MimeBundleData, type Notebook, type Output } from "./notebook-format.js";
import { packageRoot } from "./resolution.js";
import { jsonForScript, plotlyJsSource, PLOTLY_MIME } from "../widgets/figures/figure.js";

export interface NotebookHtmlOptions {
  /** the page title (default: the first markdown heading, else "notebook") */
  title?: string;
  /** "plotly": interactive figures with plotly.js inlined (default); "svg": the SVG drawings only, no plotly.js */
  figures?: "plotly" | "svg";
  /** show code cells' source (default true) */
  showCode?: boolean;
}

/** The bundled widget renderer: dist/browser/embed.js and embed.css. */
export function widgetEmbedAssets(): { js: string; css: string } {
  const dir = join(packageRoot(), "dist", "browser");
  const js = join(dir, "embed.js");
  const css = join(dir, "embed.css");
  if (!existsSync(js) || !existsSync(css)) {
    throw new Error(`the widget renderer for exported pages is not built (${js} is missing); run: node scripts/build-browser-embed.mjs`);
  }
  return { js: readFileSync(js, "utf8"), css: readFileSync(css, "utf8") };
}

/**
 * Makes script text safe inside <script>...</script>: "</script" would end
 * the element and "<!--" or "<script" would change how HTML parses the
 * rest. In the string, regex and comment positions where bundles hold
 * them, \x3C is the same "<".
 */
export function scriptSafe(js: string): string {
  return js.replace(/<(\/?script|!--)/gi, "\\x3C$1");
}

/** Style text safe inside <style>...</style>. */
function styleSafe(css: string): string {
  return css.replace(/<\/style/gi, "<\\/style");
}

function text(v: JsonValue | undefined): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.join("");
  return v === undefined || v === null ? "" : JSON.stringify(v, null, 2);
}

function dimensionAttrs(metadata: JsonMap, mime: string): string {
  const m = (metadata[mime] ?? metadata) as JsonMap;
  const attrs: string[] = [];
  if (typeof m.width === "number") attrs.push(`width="${m.width}"`);
  if (typeof m.height === "number") attrs.push(`height="${m.height}"`);
  return attrs.length ? " " + attrs.join(" ") : "";
}

const PAGE_CSS = `
:root { --vl-border: #e0e0e0; --vl-muted: #616161; --vl-code-bg: #f7f7f7; --vl-error-bg: #fdeaea; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #212121; background: #fff; }
main.vl-notebook { max-width: 1100px; margin: 0 auto; padding: 24px 16px 64px; }
.vl-cell { display: flex; margin: 6px 0; }
.vl-prompt { flex: 0 0 72px; padding: 6px 8px 0 0; text-align: right; font: 12px/1.6 monospace; color: var(--vl-muted); }
.vl-body { flex: 1 1 auto; min-width: 0; }
.vl-source { margin: 0; padding: 6px 10px; background: var(--vl-code-bg); border: 1px solid var(--vl-border); border-radius: 3px; overflow-x: auto; font: 13px/1.45 "SFMono-Regular", Menlo, Consolas, monospace; white-space: pre; }
.vl-outputs { padding: 4px 0; }
.vl-output { margin: 2px 0; overflow-x: auto; }
.vl-output pre { margin: 0; padding: 2px 10px; font: 13px/1.45 "SFMono-Regular", Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
.vl-stderr pre { background: var(--vl-error-bg); }
.vl-error pre { background: var(--vl-error-bg); color: #b71c1c; }
.vl-markdown { padding: 0 10px; }
.vl-markdown table, .vl-output table { border-collapse: collapse; margin: 6px 0; }
.vl-markdown th, .vl-markdown td, .vl-output th, .vl-output td { border: 1px solid var(--vl-border); padding: 3px 8px; text-align: right; }
.vl-markdown th, .vl-output th { background: #f5f5f5; }
.vl-markdown pre { background: var(--vl-code-bg); padding: 6px 10px; overflow-x: auto; }
.vl-markdown code { background: var(--vl-code-bg); padding: 0 3px; border-radius: 2px; }
.vl-markdown img, .vl-output img, .vl-output svg { max-width: 100%; height: auto; }
.vl-plotly { max-width: 100%; }
.vl-failed { border-left: 3px solid #d32f2f; }
`;

interface RenderContext {
  figures: "plotly" | "svg";
  widgetModels: Set<string>;
  /** set when a widget view was written (the embed bundle is then needed) */
  usedWidgets: boolean;
  usedPlotly: boolean;
  markdown: Marked;
  seq: number;
}

function renderBundle(data: MimeBundleData, metadata: JsonMap, ctx: RenderContext): string {
  const view = data[WIDGET_VIEW_MIME];
  if (view && typeof view === "object" && !Array.isArray(view) && typeof view.model_id === "string" && ctx.widgetModels.has(view.model_id)) {
    ctx.usedWidgets = true;
    return `<script type="${WIDGET_VIEW_MIME}">${jsonForScript(view)}</script>`;
  }
  const figure = data[PLOTLY_MIME];
  if (figure && typeof figure === "object" && !Array.isArray(figure)) {
    if (ctx.figures === "plotly") {
      ctx.usedPlotly = true;
      const id = `vl-plotly-${++ctx.seq}`;
      const fallback = typeof data["image/svg+xml"] === "string" ? (data["image/svg+xml"] as string) : "";
      return (
        `<div id="${id}" class="vl-plotly">${fallback}</div>` +
        `<script>(function(){var fig=${jsonForScript(figure)};var el=document.getElementById(${JSON.stringify(id)});` +
        `if(window.Plotly){el.innerHTML="";window.Plotly.newPlot(el,fig.data||[],fig.layout||{},{responsive:true});}})();</script>`
      );
    }
    if (typeof data["image/svg+xml"] === "string") return svgMarkup(data["image/svg+xml"] as string);
  }
  if (data["text/html"] !== undefined) return text(data["text/html"]);
  if (data["text/markdown"] !== undefined) return `<div class="vl-markdown">${ctx.markdown.parse(text(data["text/markdown"])) as string}</div>`;
  if (typeof data["image/svg+xml"] === "string") return svgMarkup(data["image/svg+xml"] as string);
  for (const mime of ["image/png", "image/jpeg", "image/gif", "image/webp"]) {
    if (typeof data[mime] === "string") return `<img src="data:${mime};base64,${(data[mime] as string).replace(/\s+/g, "")}"${dimensionAttrs(metadata, mime)} alt="">`;
  }
  if (data["text/latex"] !== undefined) return `<pre>${escapeHtml(text(data["text/latex"]))}</pre>`;
  if (data["application/json"] !== undefined) return `<pre>${escapeHtml(JSON.stringify(data["application/json"], null, 2))}</pre>`;
  if (data["text/plain"] !== undefined) return `<pre>${ansiToHtml(text(data["text/plain"]))}</pre>`;
  return "";
}

/** Inline SVG markup without its XML prolog (not allowed inside HTML). */
function svgMarkup(svg: string): string {
  return svg.replace(/^\s*<\?xml[^>]*\?>\s*/, "").replace(/^\s*<!DOCTYPE[^>]*>\s*/i, "");
}

function renderOutput(o: Output, ctx: RenderContext): string {
  switch (o.output_type) {
    case "stream":
      return `<div class="vl-output vl-stream vl-${o.name}"><pre>${ansiToHtml(o.text)}</pre></div>`;
    case "error":
      return `<div class="vl-output vl-error"><pre>${ansiToHtml(o.traceback.length ? o.traceback.join("\n") : `${o.ename}: ${o.evalue}`)}</pre></div>`;
    default:
      return `<div class="vl-output vl-${o.output_type.replace("_", "-")}">${renderBundle(o.data, o.metadata, ctx)}</div>`;
  }
}

function renderCell(cell: Cell, ctx: RenderContext, showCode: boolean, failed: boolean): string {
  if (cell.cell_type === "markdown") {
    const attachments = cell.attachments ?? {};
    const html = ctx.markdown.parse(cell.source, {
      walkTokens: (token) => {
        if (token.type !== "image") return;
        const image = token as Tokens.Image;
        if (!image.href.startsWith("attachment:")) return;
        const bundle = attachments[image.href.slice("attachment:".length)];
        const mime = bundle && Object.keys(bundle).find((m) => m.startsWith("image/"));
        if (mime) image.href = mime === "image/svg+xml" ? `data:${mime};charset=utf-8,${encodeURIComponent(text(bundle[mime]))}` : `data:${mime};base64,${text(bundle[mime]).replace(/\s+/g, "")}`;
      },
    }) as string;
    return `<div class="vl-cell vl-markdown-cell"><div class="vl-prompt"></div><div class="vl-body vl-markdown">${html}</div></div>`;
  }
  if (cell.cell_type !== "code") {
    const format = cell.metadata.format ?? cell.metadata.raw_mimetype;
    return format === "text/html" ? `<div class="vl-cell vl-raw-cell"><div class="vl-prompt"></div><div class="vl-body">${cell.source}</div></div>` : "";
  }
  const prompt = `In&nbsp;[${cell.execution_count ?? "&nbsp;"}]:`;
  const source = showCode ? `<pre class="vl-source"><code class="language-typescript">${escapeHtml(cell.source)}</code></pre>` : "";
  const outputs = cell.outputs.map((o) => renderOutput(o, ctx)).join("\n");
  return `<div class="vl-cell vl-code-cell${failed ? " vl-failed" : ""}"><div class="vl-prompt">${prompt}</div><div class="vl-body">${source}<div class="vl-outputs">${outputs}</div></div></div>`;
}

function savedWidgetState(nb: Notebook): SavedWidgetState | null {
  const widgets = nb.metadata.widgets as JsonMap | undefined;
  const state = widgets?.[WIDGET_STATE_MIME] as unknown as SavedWidgetState | undefined;
  return state && typeof state === "object" && state.state && typeof state.state === "object" ? state : null;
}

function pageTitle(nb: Notebook): string {
  for (const cell of nb.cells) {
    if (cell.cell_type !== "markdown") continue;
    const m = /^#{1,6}\s+(.+?)\s*#*\s*$/m.exec(cell.source);
    if (m) return m[1].replace(/[*_`]/g, "");
  }
  return "notebook";
}

/** The page's HTML text. */
export function renderNotebookHtml(nb: Notebook, options: NotebookHtmlOptions = {}): string {
  const widgetState = savedWidgetState(nb);
  const ctx: RenderContext = {
    figures: options.figures ?? "plotly",
    widgetModels: new Set(Object.keys(widgetState?.state ?? {})),
    usedWidgets: false,
    usedPlotly: false,
    markdown: new Marked({ gfm: true, async: false }),
    seq: 0,
  };
  const failedIndex = (nb.metadata.vramlab as { run?: { failure?: { cell_index?: number | null } } } | undefined)?.run?.failure?.cell_index ?? null;
  const body = nb.cells.map((c, i) => renderCell(c, ctx, options.showCode !== false, i === failedIndex)).join("\n");
  const title = options.title ?? pageTitle(nb);
  const head: string[] = [
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<meta name="generator" content="vramlab run">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${PAGE_CSS}</style>`,
  ];
  const tail: string[] = [];
  if (ctx.usedWidgets && widgetState) {
    const assets = widgetEmbedAssets();
    head.push(`<style>${styleSafe(assets.css)}</style>`);
    tail.push(`<script type="${WIDGET_STATE_MIME}">${jsonForScript(widgetState)}</script>`);
    tail.push(`<script>${scriptSafe(assets.js)}</script>`);
  }
  if (ctx.usedPlotly) head.push(`<script>${scriptSafe(plotlyJsSource())}</script>`);
  return `<!DOCTYPE html>\n<html lang="en">\n<head>\n${head.join("\n")}\n</head>\n<body>\n<main class="vl-notebook">\n${body}\n</main>\n${tail.join("\n")}\n</body>\n</html>\n`;
}

/** Writes the page atomically. */
export function writeNotebookHtml(path: string, nb: Notebook, options: NotebookHtmlOptions = {}): void {
  writeFileAtomic(path, renderNotebookHtml(nb, options));
}

