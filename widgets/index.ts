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

// Widgets (ipywidgets protocol 2.1): the model base class and the standard controls.
export { Widget, widgetById, WIDGET_COMM_TARGET, WIDGET_CONTROL_TARGET, WIDGET_VIEW_MIME, type Change, type Observer, type ModelSpec } from "./widget.js";
export {
  Layout as WidgetLayout, // "Layout" is the plotly figure layout type exported above
  Style,
  IntSlider,
  FloatSlider,
  IntProgress,
  Dropdown,
  Checkbox,
  Text,
  HTML,
  Label,
  Button,
  HBox,
  VBox,
  type LayoutOptions as WidgetLayoutOptions,
  type StyleModelName,
  type DOMWidgetOptions,
  type DescriptionOptions,
  type IntSliderOptions,
  type FloatSliderOptions,
  type IntProgressOptions,
  type DropdownOption,
  type DropdownOptions,
  type CheckboxOptions,
  type TextOptions,
  type HTMLOptions,
  type ButtonOptions,
  type ClickHandler,
  type BoxOptions,
} from "./controls.js";
