// Standard ipywidgets 8 controls (@jupyter-widgets/controls 2.0.0 models).
// Names, versions, defaults and value types come from the schema
// (schema-widget.ts); the classes here add typed options and the rules the
// schema cannot say: bounded values are clamped, ranges stay ordered,
// container titles follow their children, buttons run click handlers.
import { Widget } from "./widget.js";
import { SchemaWidget, type DescriptionOptions, type DOMWidgetOptions } from "./schema-widget.js";
import type { JsonObject } from "../kernel/protocol.js";

export { SchemaWidget, Layout, Style, checkAttribute, type DOMWidgetOptions, type DescriptionOptions, type LayoutOptions } from "./schema-widget.js";

function name(w: Widget): string {
  return w.modelName.replace(/Model$/, "");
}

/** Keeps bounds before the value in an options object, so the value is clamped against the bounds the user gave. */
function boundsFirst<T extends object>(opts: T): T {
  const { value, ...rest } = opts as T & { value?: unknown };
  return (value === undefined ? rest : { ...rest, value }) as T;
}

function clamp(v: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, v));
}

// ---- numbers ------------------------------------------------------------------

/** Sliders, progress bars and bounded text boxes: value is clamped into [min, max], and min <= max, as ipywidgets' bounded traits. */
abstract class BoundedNumber extends SchemaWidget {
  declare value: number;
  declare min: number;
  declare max: number;

  protected override validate(key: string, value: unknown): unknown {
    super.validate(key, value);
    if (!this.has("min") || !this.has("max")) return value; // during construction, before the state exists
    const min = this.get<number>("min");
    const max = this.get<number>("max");
    if (key === "value") return clamp(value as number, min, max);
    if (key === "min" && (value as number) > max) throw new RangeError(`${name(this)}.min (${value}) must not exceed max (${max})`);
    if (key === "max" && (value as number) < min) throw new RangeError(`${name(this)}.max (${value}) must not be below min (${min})`);
    return value;
  }

  override set(keyOrValues: string | Record<string, unknown>, value?: unknown): void {
    const values = typeof keyOrValues === "string" ? { [keyOrValues]: value } : { ...keyOrValues };
    // new bounds can push the value out of range: clamp it in the same update, as ipywidgets does
    if (("min" in values || "max" in values) && !("value" in values)) values.value = this.value;
    super.set(boundsFirst(values));
  }
}

export interface NumberControlOptions extends DescriptionOptions {
  value?: number;
  disabled?: boolean;
  continuous_update?: boolean;
}
export interface BoundedNumberOptions extends NumberControlOptions {
  min?: number;
  max?: number;
  step?: number | null;
}
export interface SliderOptions extends BoundedNumberOptions {
  orientation?: "horizontal" | "vertical";
  readout?: boolean;
  readout_format?: string;
  behavior?: "drag-tap" | "drag-snap" | "tap" | "drag" | "snap";
}
export type IntSliderOptions = SliderOptions;
export type FloatSliderOptions = SliderOptions;

export class IntSlider extends BoundedNumber {
  declare step: number;
  constructor(opts: IntSliderOptions = {}) {
    super("IntSliderModel", boundsFirst(opts) as Record<string, unknown>);
  }
}

export class FloatSlider extends BoundedNumber {
  declare step: number | null;
  constructor(opts: FloatSliderOptions = {}) {
    super("FloatSliderModel", boundsFirst(opts) as Record<string, unknown>);
  }
}

export interface ProgressOptions extends DescriptionOptions {
  value?: number;
  min?: number;
  max?: number;
  bar_style?: "success" | "info" | "warning" | "danger" | "";
  orientation?: "horizontal" | "vertical";
}
export type IntProgressOptions = ProgressOptions;

export class IntProgress extends BoundedNumber {
  declare bar_style: string;
  constructor(opts: IntProgressOptions = {}) {
    super("IntProgressModel", boundsFirst(opts) as Record<string, unknown>);
  }
}

export class FloatProgress extends BoundedNumber {
  declare bar_style: string;
  constructor(opts: ProgressOptions = {}) {
    super("FloatProgressModel", boundsFirst(opts) as Record<string, unknown>);
  }
}

/** A number box clamped into [min, max]. */
export class BoundedIntText extends BoundedNumber {
  constructor(opts: BoundedNumberOptions = {}) {
    super("BoundedIntTextModel", boundsFirst(opts) as Record<string, unknown>);
  }
}

export class BoundedFloatText extends BoundedNumber {
  constructor(opts: BoundedNumberOptions = {}) {
    super("BoundedFloatTextModel", boundsFirst(opts) as Record<string, unknown>);
  }
}

export class IntText extends SchemaWidget {
  declare value: number;
  constructor(opts: NumberControlOptions & { step?: number } = {}) {
    super("IntTextModel", opts as Record<string, unknown>);
  }
}

export class FloatText extends SchemaWidget {
  declare value: number;
  constructor(opts: NumberControlOptions & { step?: number | null } = {}) {
    super("FloatTextModel", opts as Record<string, unknown>);
  }
}

export interface RangeSliderOptions extends Omit<SliderOptions, "value"> {
  /** [lower, upper]; default: the middle half of [min, max], as ipywidgets */
  value?: readonly [number, number];
}

/** A slider with two handles: value is [lower, upper], ordered and clamped into [min, max]. */
abstract class RangeSlider extends SchemaWidget {
  declare value: [number, number];
  declare min: number;
  declare max: number;

  constructor(modelName: string, opts: RangeSliderOptions, integer: boolean) {
    const o = { ...opts } as Record<string, unknown>;
    if (o.value === undefined) {
      const min = (o.min as number | undefined) ?? 0;
      const max = (o.max as number | undefined) ?? 100;
      const lo = 0.75 * min + 0.25 * max;
      const hi = 0.25 * min + 0.75 * max;
      o.value = integer ? [Math.round(lo), Math.round(hi)] : [lo, hi];
    }
    super(modelName, boundsFirst(o));
  }

  protected override validate(key: string, value: unknown): unknown {
    super.validate(key, value);
    const integer = this.modelName.startsWith("Int");
    if (key === "value") {
      const ok = Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "number" && Number.isFinite(v) && (!integer || Number.isInteger(v)));
      if (!ok) throw new TypeError(`${name(this)}.value must be [lower, upper] with two ${integer ? "integers" : "numbers"}, got ${JSON.stringify(value)}`);
      const [lo, hi] = value as number[];
      if (lo > hi) throw new RangeError(`${name(this)}.value: lower (${lo}) must not exceed upper (${hi})`);
      if (!this.has("min") || !this.has("max")) return [lo, hi];
      const min = this.get<number>("min");
      const max = this.get<number>("max");
      return [clamp(lo, min, max), clamp(hi, min, max)];
    }
    if (this.has("min") && this.has("max")) {
      if (key === "min" && (value as number) > this.get<number>("max")) throw new RangeError(`${name(this)}.min (${value}) must not exceed max (${this.get<number>("max")})`);
      if (key === "max" && (value as number) < this.get<number>("min")) throw new RangeError(`${name(this)}.max (${value}) must not be below min (${this.get<number>("min")})`);
    }
    return value;
  }

  override set(keyOrValues: string | Record<string, unknown>, value?: unknown): void {
    const values = typeof keyOrValues === "string" ? { [keyOrValues]: value } : { ...keyOrValues };
    if (("min" in values || "max" in values) && !("value" in values)) values.value = this.value;
    super.set(boundsFirst(values));
  }

  get lower(): number {
    return this.value[0];
  }
  get upper(): number {
    return this.value[1];
  }
}

export class IntRangeSlider extends RangeSlider {
  declare step: number;
  constructor(opts: RangeSliderOptions = {}) {
    super("IntRangeSliderModel", opts, true);
  }
}

export class FloatRangeSlider extends RangeSlider {
  declare step: number | null;
  constructor(opts: RangeSliderOptions = {}) {
    super("FloatRangeSliderModel", opts, false);
  }
}

// ---- booleans -------------------------------------------------------------------

export interface CheckboxOptions extends DescriptionOptions {
  value?: boolean;
  disabled?: boolean;
  indent?: boolean;
}

export class Checkbox extends SchemaWidget {
  declare value: boolean;
  declare disabled: boolean;
  constructor(opts: CheckboxOptions = {}) {
    super("CheckboxModel", opts as Record<string, unknown>);
  }
}

export interface ToggleButtonOptions extends DescriptionOptions {
  value?: boolean;
  disabled?: boolean;
  button_style?: "primary" | "success" | "info" | "warning" | "danger" | "";
  icon?: string;
}

/** A button that stays pressed: value is true while it is down. */
export class ToggleButton extends SchemaWidget {
  declare value: boolean;
  declare disabled: boolean;
  constructor(opts: ToggleButtonOptions = {}) {
    super("ToggleButtonModel", opts as Record<string, unknown>);
  }
}

/** A read-only valid/invalid mark. */
export class Valid extends SchemaWidget {
  declare value: boolean;
  constructor(opts: DescriptionOptions & { value?: boolean; readout?: string; disabled?: boolean } = {}) {
    super("ValidModel", opts as Record<string, unknown>);
  }
}

// ---- text -------------------------------------------------------------------------

export interface TextOptions extends DescriptionOptions {
  value?: string;
  placeholder?: string;
  disabled?: boolean;
  continuous_update?: boolean;
}

export class Text extends SchemaWidget {
  declare value: string;
  declare placeholder: string;
  constructor(opts: TextOptions = {}) {
    super("TextModel", opts as Record<string, unknown>);
  }
}

export class Textarea extends SchemaWidget {
  declare value: string;
  declare rows: number | null;
  constructor(opts: TextOptions & { rows?: number | null } = {}) {
    super("TextareaModel", opts as Record<string, unknown>);
  }
}

export class Password extends SchemaWidget {
  declare value: string;
  constructor(opts: TextOptions = {}) {
    super("PasswordModel", opts as Record<string, unknown>);
  }
}

export interface HTMLOptions extends DescriptionOptions {
  value?: string;
  placeholder?: string;
}

/** HTML text (HTMLModel). */
export class HTML extends SchemaWidget {
  declare value: string;
  constructor(opts: HTMLOptions = {}) {
    super("HTMLModel", opts as Record<string, unknown>);
  }
}

/** HTML with LaTeX math typeset by the frontend. */
export class HTMLMath extends SchemaWidget {
  declare value: string;
  constructor(opts: HTMLOptions = {}) {
    super("HTMLMathModel", opts as Record<string, unknown>);
  }
}

export class Label extends SchemaWidget {
  declare value: string;
  constructor(opts: HTMLOptions = {}) {
    super("LabelModel", opts as Record<string, unknown>);
  }
}

// ---- binary -----------------------------------------------------------------------

export interface ImageOptions extends DOMWidgetOptions {
  /** the encoded image bytes (sent as a binary buffer, not base64) */
  value?: Uint8Array | ArrayBuffer;
  format?: string;
  width?: string;
  height?: string;
}

/** An image from bytes (ImageModel): its value travels as a binary buffer. */
export class Image extends SchemaWidget {
  declare value: Uint8Array;
  declare format: string;
  constructor(opts: ImageOptions = {}) {
    super("ImageModel", opts as Record<string, unknown>);
  }
}

// ---- buttons ---------------------------------------------------------------------

export interface ButtonOptions extends DOMWidgetOptions {
  description?: string;
  button_style?: "primary" | "success" | "info" | "warning" | "danger" | "";
  icon?: string;
  disabled?: boolean;
}

export type ClickHandler = (button: Button) => void | Promise<void>;

/** A button; clicks arrive as custom {event: "click"} messages and run the onClick handlers. */
export class Button extends SchemaWidget {
  declare description: string;
  declare disabled: boolean;
  private readonly clickHandlers = new Set<ClickHandler>();

  constructor(opts: ButtonOptions = {}) {
    super("ButtonModel", opts as Record<string, unknown>);
  }

  /** Runs fn on every click (inside the button's output when it has one); returns a function that removes it. */
  onClick(fn: ClickHandler): () => void {
    this.clickHandlers.add(fn);
    return () => this.clickHandlers.delete(fn);
  }

  /** Clicks the button from code (runs the handlers as a frontend click does). */
  async click(): Promise<void> {
    for (const fn of [...this.clickHandlers]) await this.runCallback(`Button "${this.description}" click handler`, () => fn(this));
  }

  protected override async handleCustom(content: JsonObject): Promise<void> {
    if (content.event === "click") await this.click();
  }
}

// ---- containers -------------------------------------------------------------------

export interface BoxOptions extends DOMWidgetOptions {
  box_style?: "success" | "info" | "warning" | "danger" | "";
}

abstract class Box extends SchemaWidget {
  declare children: Widget[];
  constructor(modelName: string, children: readonly Widget[], opts: BoxOptions) {
    super(modelName, { ...opts, children: [...children] });
  }
}

/** Lays children out in a row. */
export class HBox extends Box {
  constructor(children: readonly Widget[] = [], opts: BoxOptions = {}) {
    super("HBoxModel", children, opts);
  }
}

/** Lays children out in a column. */
export class VBox extends Box {
  constructor(children: readonly Widget[] = [], opts: BoxOptions = {}) {
    super("VBoxModel", children, opts);
  }
}

/** Lays children out as the layout's CSS grid says. */
export class GridBox extends Box {
  constructor(children: readonly Widget[] = [], opts: BoxOptions = {}) {
    super("GridBoxModel", children, opts);
  }
}

export interface SelectionContainerOptions extends BoxOptions {
  /** one title per child (missing ones are "") */
  titles?: readonly string[];
  /** the open child; default: the first for Tab, none for Accordion and Stack */
  selected_index?: number | null;
}

/** Tab, Accordion and Stack: children with titles, one selected. Titles are kept as long as the children (padded with ""). */
abstract class SelectionContainer extends SchemaWidget {
  declare children: Widget[];
  declare titles: string[];
  declare selected_index: number | null;

  constructor(modelName: string, children: readonly Widget[], opts: SelectionContainerOptions, firstSelected: boolean) {
    const { titles, selected_index, ...rest } = opts;
    const index = selected_index !== undefined ? selected_index : firstSelected && children.length > 0 ? 0 : null;
    super(modelName, { ...rest, children: [...children], titles: [...(titles ?? [])], selected_index: index });
  }

  protected override validate(key: string, value: unknown): unknown {
    super.validate(key, value);
    const count = key === "children" ? (value as Widget[]).length : this.has("children") ? this.get<Widget[]>("children").length : 0;
    if (key === "titles") {
      const t = value as string[];
      if (t.length > count) throw new RangeError(`${name(this)}.titles has ${t.length} titles for ${count} children`);
      return [...t, ...Array<string>(count - t.length).fill("")];
    }
    if (key === "selected_index" && value !== null && ((value as number) < 0 || (value as number) >= count)) {
      throw new RangeError(`${name(this)}.selected_index must be null or in [0, ${count}), got ${value}`);
    }
    return value;
  }

  override set(keyOrValues: string | Record<string, unknown>, value?: unknown): void {
    const values = typeof keyOrValues === "string" ? { [keyOrValues]: value } : { ...keyOrValues };
    if ("children" in values) {
      // titles and the selection follow the children, in the same update
      const n = (values.children as Widget[]).length;
      const titles = ((values.titles as string[] | undefined) ?? this.titles).slice(0, n);
      const { children, ...rest } = values;
      const sel = "selected_index" in rest ? rest.selected_index : this.selected_index;
      super.set({ children, ...rest, titles, selected_index: sel !== null && (sel as number) >= n ? null : sel });
    } else super.set(values);
  }

  /** Sets the title of child i. */
  set_title(i: number, title: string): void {
    const t = [...this.titles];
    if (!Number.isInteger(i) || i < 0 || i >= t.length) throw new RangeError(`${name(this)}.set_title(): index ${i} is not one of the ${t.length} children`);
    t[i] = title;
    this.titles = t;
  }

  get_title(i: number): string {
    if (!Number.isInteger(i) || i < 0 || i >= this.titles.length) throw new RangeError(`${name(this)}.get_title(): index ${i} is not one of the ${this.titles.length} children`);
    return this.titles[i];
  }
}

/** Children as tabs (TabModel); the first tab is selected. */
export class Tab extends SelectionContainer {
  constructor(children: readonly Widget[] = [], opts: SelectionContainerOptions = {}) {
    super("TabModel", children, opts, true);
  }
}

/** Children as collapsible sections (AccordionModel); none open by default. */
export class Accordion extends SelectionContainer {
  constructor(children: readonly Widget[] = [], opts: SelectionContainerOptions = {}) {
    super("AccordionModel", children, opts, false);
  }
}

/** Shows only the selected child (StackModel). */
export class Stack extends SelectionContainer {
  constructor(children: readonly Widget[] = [], opts: SelectionContainerOptions = {}) {
    super("StackModel", children, opts, false);
  }
}
