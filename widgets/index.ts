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

// Widgets (ipywidgets protocol 2.1): the model base class, the standard controls (defaults from @jupyter-widgets/schema),
// selection widgets, the Output widget and interact().
export { Widget, widgetById, liveWidgetList, sameValue, WIDGET_COMM_TARGET, WIDGET_CONTROL_TARGET, WIDGET_VIEW_MIME, type Change, type Observer, type ModelSpec, type CallbackCapture } from "./widget.js";
export { separateBuffers, putBuffers, type BufferPath } from "./buffers.js";
export { modelSchema, schemaModels, type ModelSchema, type SchemaModel, type SchemaAttribute } from "./schema-defaults.js";
export {
  SchemaWidget,
  checkAttribute,
  Layout as WidgetLayout, // "Layout" is the plotly figure layout type exported above
  Style,
  type LayoutOptions as WidgetLayoutOptions,
  type DOMWidgetOptions,
  type DescriptionOptions,
} from "./schema-widget.js";
export {
  IntSlider,
  FloatSlider,
  IntRangeSlider,
  FloatRangeSlider,
  IntProgress,
  FloatProgress,
  IntText,
  FloatText,
  BoundedIntText,
  BoundedFloatText,
  Checkbox,
  ToggleButton,
  Valid,
  Text,
  Textarea,
  Password,
  HTML,
  HTMLMath,
  Label,
  Image,
  Button,
  HBox,
  VBox,
  GridBox,
  Tab,
  Accordion,
  Stack,
  type NumberControlOptions,
  type BoundedNumberOptions,
  type SliderOptions,
  type IntSliderOptions,
  type FloatSliderOptions,
  type RangeSliderOptions,
  type ProgressOptions,
  type IntProgressOptions,
  type CheckboxOptions,
  type ToggleButtonOptions,
  type TextOptions,
  type HTMLOptions,
  type ImageOptions,
  type ButtonOptions,
  type ClickHandler,
  type BoxOptions,
  type SelectionContainerOptions,
} from "./controls.js";
export {
  Dropdown,
  RadioButtons,
  ToggleButtons,
  Select,
  SelectionSlider,
  SelectMultiple,
  SelectionRangeSlider,
  type MultipleSelectionWidgetOptions,
  type SelectionRangeSliderOptions,
  type SelectionOption,
  type SelectionOptions,
  type SelectionWidgetOptions,
  type DropdownOption,
  type DropdownOptions,
  type RadioButtonsOptions,
  type ToggleButtonsOptions,
  type SelectionSliderOptions,
} from "./selection.js";
export { jslink, jsdlink, link, dlink, type LinkEnd } from "./link.js";
export { Output, type OutputItem, type OutputOptions } from "./output.js";
export { interact, interactive, Interactive, fixed, Fixed, widgetFromSpec, type InteractSpec, type InteractValues, type SpecValue, type InteractOptions } from "./interact.js";

// The engine control panel.
export { panel, Panel, setDefaultPanelRecorder, parseBytes, changeKind, describeConfig, validateConfig, defaultDevices, DEFAULT_CONFIG, PanelConfigError, OFFLOAD_TYPES, STORAGE_DTYPES, COMPUTE_DTYPES, PANEL_SCHEMES, type PanelConfig, type PanelOptions, type PanelRun, type PanelRecorder, type PanelControls, type RunOutcome, type RunStatus, type ModelFactory, type InputsFactory, type ModelContext, type InputsContext } from "./panel.js";

// The live per-layer timeline: an anywidget model (its front-end module travels in the state).
export { TimelineWidget, timelineItems, timelineWidgetEsm, ANYWIDGET_MODULE, type TimelineWidgetOptions } from "./timeline-widget.js";
