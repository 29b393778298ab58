// What the experiments' notebook displays share with the kernel: the plotly
// MIME type and the slot where the kernel draws a bundle's plotly figure as
// SVG inside its text/html. The engine cannot import the SVG renderer
// (widgets/figures/svg.ts) and frontends that prefer text/html (nbconvert,
// GitHub, JupyterLab without the plotly extension) would otherwise show the
// table without the figure. This file imports nothing, so the kernel's
// display code can use it without loading the engine.

/** JupyterLab's plotly renderer reads {data, layout} under this MIME type. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/**
 * A text/html part may hold this comment once; the kernel replaces it with the SVG drawing of the
 * bundle's plotly figure (and adds image/svg+xml) when the bundle carries plotly JSON and no SVG.
 */
export const FIGURE_SVG_SLOT = "<!-- vramlab:plotly-svg -->";

/** A MIME bundle: MIME type to JSON-safe content. */
export type MimeBundle = Record<string, unknown>;

/** A plotly figure as plain data (traces and layout). */
export interface PlotlyFigure {
  data: Record<string, unknown>[];
  layout: Record<string, unknown>;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
