// vramlab/widgets: ipywidgets-protocol widgets and the engine control panel.
// This entry point grows with the widgets issue; the protocol it speaks is fixed.

/** ipywidgets message protocol version and the model modules vramlab's widgets name. */
export const WIDGET_PROTOCOL_VERSION = "2.1.0";
export const CONTROLS_MODULE = { name: "@jupyter-widgets/controls", version: "2.0.0" } as const;
export const BASE_MODULE = { name: "@jupyter-widgets/base", version: "2.0.0" } as const;
export const OUTPUT_MODULE = { name: "@jupyter-widgets/output", version: "1.0.0" } as const;

// Figures: plotly JSON + SVG fallback + HTML, built from profiler reports and benchmark rows.
export { Figure, PLOTLY_MIME, PALETTE, byteTicks, formatByteTick, plotlyJsSource, type Trace, type BarTrace, type ScatterTrace, type Layout, type AxisLayout, type PlotlyFigureJSON, type FigureBundle } from "./figures/figure.js";
export { renderSVG, escapeXml } from "./figures/svg.js";
export { memoryBars, timeBars, streamTimeline, memoryOverTime, spanTraces, TIMELINE_GROUPS, type FigureSource, type TimelineItem } from "./figures/layer-figures.js";
export { schemeComparison, type SchemeRow } from "./figures/scheme-comparison.js";
export { LiveFigure, type LiveFigureOptions, type UpdateListener } from "./figures/live-figure.js";
