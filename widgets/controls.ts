// Standard ipywidgets 8 controls (@jupyter-widgets/controls 2.0.0 models,
// @jupyter-widgets/base 2.0.0 Layout and style views). Default states are
// those of ipywidgets 8.1 (the @jupyter-widgets/schema JSON), written out
// here for the models vramlab ships.
import { Widget, type ModelSpec } from "./widget.js";
import type { JsonObject } from "../kernel/protocol.js";

const CONTROLS = "@jupyter-widgets/controls";
const BASE = "@jupyter-widgets/base";
const VERSION = "2.0.0";

function controlsSpec(modelName: string, viewName: string | null): ModelSpec {
  return { modelName, modelModule: CONTROLS, modelModuleVersion: VERSION, viewName, viewModule: CONTROLS, viewModuleVersion: VERSION };
}

const LAYOUT_KEYS = [
  "align_content", "align_items", "align_self", "border_bottom", "border_left", "border_right", "border_top", "bottom", "display", "flex", "flex_flow",
  "grid_area", "grid_auto_columns", "grid_auto_flow", "grid_auto_rows", "grid_column", "grid_gap", "grid_row", "grid_template_areas",
  "grid_template_columns", "grid_template_rows", "height", "justify_content", "justify_items", "left", "margin", "max_height", "max_width",
  "min_height", "min_width", "object_fit", "object_position", "order", "overflow", "padding", "right", "top", "visibility", "width",
] as const;
export type LayoutOptions = Partial<Record<(typeof LAYOUT_KEYS)[number], string | null>>;

/** CSS layout of a widget (LayoutModel): `new Layout({ width: "300px" })`. */
export class Layout extends Widget {
  declare width: string | null;
  declare height: string | null;
  constructor(opts: LayoutOptions = {}) {
    super(
      { modelName: "LayoutModel", modelModule: BASE, modelModuleVersion: VERSION, viewName: "LayoutView", viewModule: BASE, viewModuleVersion: VERSION },
      Object.fromEntries(LAYOUT_KEYS.map((k) => [k, null])),
      opts,
    );
  }
}

const STYLE_DEFAULTS: Record<string, Record<string, unknown>> = {
  DescriptionStyleModel: { description_width: "" },
  SliderStyleModel: { description_width: "", handle_color: null },
  ProgressStyleModel: { description_width: "", bar_color: null },
  CheckboxStyleModel: { description_width: "", background: null },
  TextStyleModel: { description_width: "", background: null, font_size: null, text_color: null },
  HTMLStyleModel: { description_width: "", background: null, font_size: null, text_color: null },
  LabelStyleModel: { description_width: "", background: null, font_family: null, font_size: null, font_style: null, font_variant: null, font_weight: null, text_color: null, text_decoration: null },
  ButtonStyleModel: { button_color: null, font_family: null, font_size: null, font_style: null, font_variant: null, font_weight: null, text_color: null, text_decoration: null },
};
export type StyleModelName = keyof typeof STYLE_DEFAULTS;

/** A control's style model (e.g. SliderStyleModel): `slider.style.set("handle_color", "red")`. */
export class Style extends Widget {
  constructor(modelName: StyleModelName, opts: Record<string, unknown> = {}) {
    const defaults = STYLE_DEFAULTS[modelName];
    if (!defaults) throw new TypeError(`unknown style model "${modelName}" (known: ${Object.keys(STYLE_DEFAULTS).join(", ")})`);
    super({ modelName, modelModule: CONTROLS, modelModuleVersion: VERSION, viewName: "StyleView", viewModule: BASE, viewModuleVersion: VERSION }, defaults, opts);
  }
}

export interface DOMWidgetOptions {
  layout?: Layout | LayoutOptions;
  /** style keys of the control's style model, or a Style */
  style?: Style | Record<string, unknown>;
  tooltip?: string | null;
  tabbable?: boolean | null;
  _dom_classes?: string[];
}
export interface DescriptionOptions extends DOMWidgetOptions {
  description?: string;
  description_allow_html?: boolean;
}

/** Builds the layout and style children first: the frontend must know them before the widget that references them. */
function domDefaults(styleModel: StyleModelName | null, opts: DOMWidgetOptions, own: Record<string, unknown>): { defaults: Record<string, unknown>; initial: Record<string, unknown> } {
  const { layout, style, ...rest } = opts as DOMWidgetOptions & Record<string, unknown>;
  const defaults: Record<string, unknown> = {
    _dom_classes: [],
    layout: layout instanceof Layout ? layout : new Layout(layout ?? {}),
    tabbable: null,
    tooltip: null,
    ...own,
  };
  if (styleModel) defaults.style = style instanceof Style ? style : new Style(styleModel, style ?? {});
  else if (style !== undefined) throw new TypeError("this widget has no style model");
  return { defaults, initial: rest };
}

function describedDefaults(own: Record<string, unknown>): Record<string, unknown> {
  return { description: "", description_allow_html: false, ...own };
}

function requireNumber(model: string, key: string, v: unknown, integer: boolean): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new TypeError(`${model}.${key} must be a finite number, got ${JSON.stringify(v)}`);
  if (integer && !Number.isInteger(v)) throw new TypeError(`${model}.${key} must be an integer, got ${v}`);
  return v;
}

/** Shared by the sliders and the progress bar: value is clamped into [min, max] like ipywidgets' bounded traits. */
abstract class BoundedNumber extends Widget {
  declare value: number;
  declare min: number;
  declare max: number;
  protected override validate(key: string, value: unknown): unknown {
    if (key !== "value" && key !== "min" && key !== "max" && key !== "step") return value;
    if (key === "step" && value === null) return value;
    // validate runs during construction too, before subclass fields exist: the model name says which kind
    const integer = this.modelName.startsWith("Int");
    const v = requireNumber(this.modelName, key, value, integer);
    // during construction the state is being filled in; clamping uses what is there
    const min = this.peek("min");
    const max = this.peek("max");
    if (key === "value" && min !== undefined && max !== undefined) return Math.min(max, Math.max(min, v));
    return v;
  }

  override set(keyOrValues: string | Record<string, unknown>, value?: unknown): void {
    const values = typeof keyOrValues === "string" ? { [keyOrValues]: value } : { ...keyOrValues };
    super.set(values);
    // a new bound can push the value out of range: clamp it (and sync that) as ipywidgets does
    if ("min" in values || "max" in values) {
      const clamped = Math.min(this.max, Math.max(this.min, this.value));
      if (clamped !== this.value) super.set("value", clamped);
    }
  }

  private peek(key: string): number | undefined {
    try {
      return this.get<number>(key);
    } catch {
      return undefined;
    }
  }
}

export interface IntSliderOptions extends DescriptionOptions {
  value?: number;
  min?: number;
  max?: number;
  step?: number;
  orientation?: "horizontal" | "vertical";
  readout?: boolean;
  readout_format?: string;
  continuous_update?: boolean;
  disabled?: boolean;
  behavior?: "drag-tap" | "drag-snap" | "tap" | "drag" | "snap";
}

/** Orders bounds before the value, so the value is clamped against the bounds the user gave. */
function boundsFirst(initial: Record<string, unknown>): Record<string, unknown> {
  const { value, ...rest } = initial;
  return value === undefined ? rest : { ...rest, value };
}

export class IntSlider extends BoundedNumber {
  declare step: number;
  constructor(opts: IntSliderOptions = {}) {
    const { defaults, initial } = domDefaults("SliderStyleModel", opts, describedDefaults({
      behavior: "drag-tap", continuous_update: true, disabled: false, max: 100, min: 0, orientation: "horizontal", readout: true, readout_format: "d", step: 1, value: 0,
    }));
    super(controlsSpec("IntSliderModel", "IntSliderView"), defaults, boundsFirst(initial));
  }
}

export type FloatSliderOptions = IntSliderOptions;

export class FloatSlider extends BoundedNumber {
  declare step: number | null;
  constructor(opts: FloatSliderOptions = {}) {
    const { defaults, initial } = domDefaults("SliderStyleModel", opts, describedDefaults({
      behavior: "drag-tap", continuous_update: true, disabled: false, max: 100.0, min: 0.0, orientation: "horizontal", readout: true, readout_format: ".2f", step: 0.1, value: 0.0,
    }));
    super(controlsSpec("FloatSliderModel", "FloatSliderView"), defaults, boundsFirst(initial));
  }
}

export interface IntProgressOptions extends DescriptionOptions {
  value?: number;
  min?: number;
  max?: number;
  bar_style?: "success" | "info" | "warning" | "danger" | "";
  orientation?: "horizontal" | "vertical";
}

export class IntProgress extends BoundedNumber {
  declare bar_style: string;
  constructor(opts: IntProgressOptions = {}) {
    const { defaults, initial } = domDefaults("ProgressStyleModel", opts, describedDefaults({ bar_style: "", max: 100, min: 0, orientation: "horizontal", value: 0 }));
    super(controlsSpec("IntProgressModel", "ProgressView"), defaults, boundsFirst(initial));
  }
}

export type DropdownOption<T> = string | readonly [label: string, value: T];

export interface DropdownOptions<T> extends DescriptionOptions {
  /** labels (each its own value) or [label, value] pairs */
  options: readonly DropdownOption<T>[];
  /** initial value (default: the first option) */
  value?: T;
  index?: number | null;
  disabled?: boolean;
}

/**
 * A drop-down list. The frontend only knows labels and the selected index
 * (`_options_labels`, `index`); `value` and `label` map through them here.
 */
export class Dropdown<T = string> extends Widget {
  declare index: number | null;
  declare disabled: boolean;
  private choices: { label: string; value: T }[];

  constructor(opts: DropdownOptions<T>) {
    const { options, value, index, ...restOpts } = opts;
    const choices = Dropdown.normalize(options);
    let start: number | null = choices.length > 0 ? 0 : null;
    if (index !== undefined) start = index;
    if (value !== undefined) {
      start = choices.findIndex((c) => c.value === value);
      if (start < 0) throw new TypeError(`Dropdown: value ${JSON.stringify(value)} is not one of the options`);
    }
    const { defaults, initial } = domDefaults("DescriptionStyleModel", restOpts, describedDefaults({ _options_labels: [], disabled: false, index: null }));
    super(controlsSpec("DropdownModel", "DropdownView"), defaults, { ...initial, _options_labels: choices.map((c) => c.label), index: start });
    this.choices = choices;
  }

  private static normalize<T>(options: readonly DropdownOption<T>[]): { label: string; value: T }[] {
    if (!Array.isArray(options)) throw new TypeError("Dropdown: options must be an array of labels or [label, value] pairs");
    return options.map((o) => (typeof o === "string" ? { label: o, value: o as unknown as T } : { label: String(o[0]), value: o[1] }));
  }

  protected override validate(key: string, value: unknown): unknown {
    if (key !== "index" || value === null) return value;
    const n = this.get<string[]>("_options_labels").length;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value >= n) throw new TypeError(`Dropdown.index must be null or an integer in [0, ${n}), got ${JSON.stringify(value)}`);
    return value;
  }

  get options(): { label: string; value: T }[] {
    return this.choices.map((c) => ({ ...c }));
  }

  /** Replaces the options; the selection moves to the first one (or none). */
  set options(options: readonly DropdownOption<T>[]) {
    const choices = Dropdown.normalize(options);
    this.choices = choices;
    this.set({ _options_labels: choices.map((c) => c.label), index: choices.length > 0 ? 0 : null });
  }

  /** The selected option's value (null when nothing is selected). */
  get value(): T | null {
    const i = this.index;
    return i === null ? null : this.choices[i].value;
  }

  set value(v: T | null) {
    const i = v === null ? -1 : this.choices.findIndex((c) => c.value === v);
    if (v !== null && i < 0) throw new TypeError(`Dropdown: value ${JSON.stringify(v)} is not one of the options`);
    this.index = i < 0 ? null : i;
  }

  get label(): string | null {
    const i = this.index;
    return i === null ? null : this.choices[i].label;
  }

  /** Like observe("index", ...) but with values: the frontend changes the index. */
  observeValue(fn: (change: { old: T | null; new: T | null }) => void | Promise<void>): () => void {
    return this.observe<number | null>("index", (c) => fn({ old: c.old === null ? null : this.choices[c.old]?.value ?? null, new: c.new === null ? null : this.choices[c.new].value }));
  }
}

export interface CheckboxOptions extends DescriptionOptions {
  value?: boolean;
  disabled?: boolean;
  indent?: boolean;
}

export class Checkbox extends Widget {
  declare value: boolean;
  declare disabled: boolean;
  constructor(opts: CheckboxOptions = {}) {
    const { defaults, initial } = domDefaults("CheckboxStyleModel", opts, describedDefaults({ disabled: false, indent: true, value: false }));
    super(controlsSpec("CheckboxModel", "CheckboxView"), defaults, initial);
  }

  protected override validate(key: string, value: unknown): unknown {
    if (key === "value" && typeof value !== "boolean") throw new TypeError(`Checkbox.value must be a boolean, got ${JSON.stringify(value)}`);
    return value;
  }
}

export interface TextOptions extends DescriptionOptions {
  value?: string;
  placeholder?: string;
  disabled?: boolean;
  continuous_update?: boolean;
}

export class Text extends Widget {
  declare value: string;
  declare placeholder: string;
  constructor(opts: TextOptions = {}) {
    const { defaults, initial } = domDefaults("TextStyleModel", opts, describedDefaults({ continuous_update: true, disabled: false, placeholder: "\u200b", value: "" }));
    super(controlsSpec("TextModel", "TextView"), defaults, initial);
  }
}

export interface HTMLOptions extends DescriptionOptions {
  value?: string;
  placeholder?: string;
}

/** HTML text (HTMLModel). */
export class HTML extends Widget {
  declare value: string;
  constructor(opts: HTMLOptions = {}) {
    const { defaults, initial } = domDefaults("HTMLStyleModel", opts, describedDefaults({ placeholder: "\u200b", value: "" }));
    super(controlsSpec("HTMLModel", "HTMLView"), defaults, initial);
  }
}

export class Label extends Widget {
  declare value: string;
  constructor(opts: HTMLOptions = {}) {
    const { defaults, initial } = domDefaults("LabelStyleModel", opts, describedDefaults({ placeholder: "\u200b", value: "" }));
    super(controlsSpec("LabelModel", "LabelView"), defaults, initial);
  }
}

export interface ButtonOptions extends DOMWidgetOptions {
  description?: string;
  button_style?: "primary" | "success" | "info" | "warning" | "danger" | "";
  icon?: string;
  disabled?: boolean;
}

export type ClickHandler = (button: Button) => void | Promise<void>;

/** A button; clicks arrive as custom {event: "click"} messages and run the onClick handlers. */
export class Button extends Widget {
  declare description: string;
  declare disabled: boolean;
  private readonly clickHandlers = new Set<ClickHandler>();

  constructor(opts: ButtonOptions = {}) {
    const { defaults, initial } = domDefaults("ButtonStyleModel", opts, { button_style: "", description: "", disabled: false, icon: "" });
    super(controlsSpec("ButtonModel", "ButtonView"), defaults, initial);
  }

  /** Runs fn on every click; returns a function that removes it. */
  onClick(fn: ClickHandler): () => void {
    this.clickHandlers.add(fn);
    return () => this.clickHandlers.delete(fn);
  }

  /** Clicks the button from code (runs the handlers as a frontend click does). */
  async click(): Promise<void> {
    for (const fn of [...this.clickHandlers]) {
      try {
        await fn(this);
      } catch (e) {
        console.error(`Button "${this.description}" click handler failed: ${(e as Error)?.stack ?? e}`);
      }
    }
  }

  protected override async handleCustom(content: JsonObject): Promise<void> {
    if (content.event === "click") await this.click();
  }
}

export interface BoxOptions extends DOMWidgetOptions {
  box_style?: "success" | "info" | "warning" | "danger" | "";
}

abstract class Box extends Widget {
  declare children: Widget[];
  protected override validate(key: string, value: unknown): unknown {
    if (key === "children") {
      if (!Array.isArray(value) || !value.every((c) => c instanceof Widget)) throw new TypeError(`${this.modelName}.children must be an array of widgets`);
      return [...value];
    }
    return value;
  }
}

/** Lays children out in a row. */
export class HBox extends Box {
  constructor(children: Widget[] = [], opts: BoxOptions = {}) {
    const { defaults, initial } = domDefaults(null, opts, { box_style: "", children: [] });
    super(controlsSpec("HBoxModel", "HBoxView"), defaults, { ...initial, children });
  }
}

/** Lays children out in a column. */
export class VBox extends Box {
  constructor(children: Widget[] = [], opts: BoxOptions = {}) {
    const { defaults, initial } = domDefaults(null, opts, { box_style: "", children: [] });
    super(controlsSpec("VBoxModel", "VBoxView"), defaults, { ...initial, children });
  }
}
