// Single-choice widgets (Dropdown, RadioButtons, ToggleButtons, Select,
// SelectionSlider). As in ipywidgets 8 the frontend only knows the labels
// (`_options_labels`) and the selected `index`; the kernel keeps the
// values and derives `value` and `label` from the index. Setting any one
// of index, value or label moves the other two, from either side, and
// observers of "value" and "label" run when the index moves.
import { sameValue, type Change, type Widget } from "./widget.js";
import { SchemaWidget, type DescriptionOptions } from "./schema-widget.js";

/** A label (its own value), a [label, value] pair; or pass a {label: value} object or a Map as the options. */
export type SelectionOption<T> = string | number | boolean | readonly [label: string, value: T];
export type SelectionOptions<T> = readonly SelectionOption<T>[] | Readonly<Record<string, T>> | ReadonlyMap<string, T>;

export interface SelectionWidgetOptions<T> extends DescriptionOptions {
  options: SelectionOptions<T>;
  /** the selected value (default: the first option) */
  value?: T | null;
  label?: string | null;
  index?: number | null;
  disabled?: boolean;
}

interface Choice<T> {
  label: string;
  value: T;
}

function normalizeOptions<T>(model: string, options: SelectionOptions<T>): Choice<T>[] {
  if (options instanceof Map) return [...options].map(([label, value]) => ({ label: String(label), value }));
  if (Array.isArray(options)) {
    return options.map((o, i) => {
      if (Array.isArray(o)) {
        if (o.length !== 2) throw new TypeError(`${model}: option ${i} must be a label or a [label, value] pair, got an array of ${o.length}`);
        return { label: String(o[0]), value: o[1] as T };
      }
      if (typeof o === "string" || typeof o === "number" || typeof o === "boolean") return { label: String(o), value: o as unknown as T };
      throw new TypeError(`${model}: option ${i} must be a label or a [label, value] pair, got ${JSON.stringify(o)}`);
    });
  }
  if (options !== null && typeof options === "object") return Object.entries(options as Record<string, T>).map(([label, value]) => ({ label, value }));
  throw new TypeError(`${model}: options must be an array of labels or [label, value] pairs, an object {label: value} or a Map; got ${JSON.stringify(options)}`);
}

/**
 * Shared by every selection widget: the options (labels go to the front end as
 * `_options_labels`, values stay in the kernel) and `value` / `label`, derived
 * from `index`, reported to their observers when index or the options change.
 */
abstract class ChoiceWidget<T, V, L> extends SchemaWidget {
  protected choices: Choice<T>[] = [];
  /** value and label as observers last saw them (for change.old) */
  private seen!: { value: V; label: L };

  abstract get value(): V;
  abstract get label(): L;

  /** The options (required) of opts, checking that at most one of value, label and index picks the start. */
  protected static choicesOf<T>(modelName: string, opts: { options?: SelectionOptions<T>; value?: unknown; label?: unknown; index?: unknown }): { model: string; choices: Choice<T>[] } {
    const model = modelName.replace(/Model$/, "");
    if (opts.options === undefined) throw new TypeError(`${model}: the "options" option is required (labels, [label, value] pairs, or {label: value})`);
    const choices = normalizeOptions<T>(model, opts.options);
    const given = [opts.value !== undefined && "value", opts.label !== undefined && "label", opts.index !== undefined && "index"].filter(Boolean);
    if (given.length > 1) throw new TypeError(`${model}: give one of value, label or index, not ${given.join(" and ")}`);
    return { model, choices };
  }

  /** Takes the options after super() (validate() runs inside it, before fields exist). */
  protected adopt(choices: Choice<T>[]): void {
    this.choices = choices;
    this.seen = { value: this.value, label: this.label };
  }

  protected override derivedKeys(): readonly string[] {
    return ["value", "label"];
  }

  protected override derivedChanges(changes: readonly Change[]): Change[] {
    const r = valueLabelChanges(this, changes, this.seen, { value: this.value, label: this.label });
    this.seen = r.seen;
    return r.out;
  }
}

/** Shared by the single-selection widgets. */
abstract class SingleSelection<T> extends ChoiceWidget<T, T | null, string | null> {
  declare index: number | null;
  declare disabled: boolean;

  /** SelectionSlider: options never empty, index never null (a getter: validate() runs inside super(), before fields exist) */
  protected get nonEmpty(): boolean {
    return false;
  }

  constructor(modelName: string, opts: SelectionWidgetOptions<T> & Record<string, unknown>) {
    const { options: _options, value, label, index, ...rest } = opts;
    const { model, choices } = ChoiceWidget.choicesOf<T>(modelName, opts);
    if (modelName === "SelectionSliderModel" && choices.length === 0) throw new TypeError(`${model}: options must not be empty`);
    let start: number | null = choices.length > 0 ? 0 : null;
    if (index !== undefined) start = index;
    if (value !== undefined) start = value === null ? null : SingleSelection.find(model, choices, (c) => sameValue(c.value, value), `value ${JSON.stringify(value)}`);
    if (label !== undefined) start = label === null ? null : SingleSelection.find(model, choices, (c) => c.label === label, `label ${JSON.stringify(label)}`);
    super(modelName, { ...rest, _options_labels: choices.map((c) => c.label), index: start });
    this.adopt(choices);
  }

  private static find<T>(model: string, choices: Choice<T>[], match: (c: Choice<T>) => boolean, what: string): number {
    const i = choices.findIndex(match);
    if (i < 0) throw new TypeError(`${model}: ${what} is not one of the options (${choices.map((c) => JSON.stringify(c.label)).join(", ")})`);
    return i;
  }

  protected override validate(key: string, value: unknown): unknown {
    super.validate(key, value);
    if (key !== "index") return value;
    const n = this.get<string[]>("_options_labels").length;
    if (value === null) {
      if (this.nonEmpty) throw new TypeError(`${this.modelName.replace(/Model$/, "")}.index must be an integer in [0, ${n}), got null`);
      return value;
    }
    if ((value as number) < 0 || (value as number) >= n) throw new RangeError(`${this.modelName.replace(/Model$/, "")}.index must be ${this.nonEmpty ? "" : "null or "}an integer in [0, ${n}), got ${value}`);
    return value;
  }

  /** The options as {label, value} pairs. */
  get options(): Choice<T>[] {
    return this.choices.map((c) => ({ ...c }));
  }

  /** Replaces the options; the selection stays on the same value when it is still there, else moves to the first option (or none). */
  set options(options: SelectionOptions<T>) {
    const model = this.modelName.replace(/Model$/, "");
    const choices = normalizeOptions<T>(model, options);
    if (this.nonEmpty && choices.length === 0) throw new TypeError(`${model}: options must not be empty`);
    const current = this.value;
    const kept = this.index === null ? -1 : choices.findIndex((c) => sameValue(c.value, current));
    this.choices = choices;
    this.set({ _options_labels: choices.map((c) => c.label), index: kept >= 0 ? kept : choices.length > 0 ? 0 : null });
  }

  /** The selected option's value (null when nothing is selected). */
  get value(): T | null {
    const i = this.index;
    return i === null || i >= this.choices.length ? null : this.choices[i].value;
  }

  set value(v: T | null) {
    this.index = v === null ? null : SingleSelection.find(this.modelName.replace(/Model$/, ""), this.choices, (c) => sameValue(c.value, v), `value ${JSON.stringify(v)}`);
  }

  /** The selected option's label (null when nothing is selected). */
  get label(): string | null {
    const i = this.index;
    return i === null || i >= this.choices.length ? null : this.choices[i].label;
  }

  set label(l: string | null) {
    this.index = l === null ? null : SingleSelection.find(this.modelName.replace(/Model$/, ""), this.choices, (c) => c.label === l, `label ${JSON.stringify(l)}`);
  }

  /** Same as observe("value", ...) with the value type. */
  observeValue(fn: (change: Change<T | null>) => void | Promise<void>): () => void {
    return this.observe<T | null>("value", fn);
  }
}

export type DropdownOption<T> = SelectionOption<T>;
export type DropdownOptions<T> = SelectionWidgetOptions<T>;

/** A drop-down list. */
/**
 * value and label are derived from index and the options: after a change to
 * either, the Change records observers of value/label should see.
 */
function valueLabelChanges<S extends { value: unknown; label: unknown }>(owner: Widget, changes: readonly Change[], seen: S, now: S): { out: Change[]; seen: S } {
  if (!changes.some((c) => c.name === "index" || c.name === "_options_labels")) return { out: [], seen };
  const out: Change[] = [];
  if (!sameValue(now.value, seen.value)) out.push({ name: "value", old: seen.value, new: now.value, owner, type: "change" });
  if (!sameValue(now.label, seen.label)) out.push({ name: "label", old: seen.label, new: now.label, owner, type: "change" });
  return { out, seen: now };
}

export class Dropdown<T = string> extends SingleSelection<T> {
  constructor(opts: SelectionWidgetOptions<T>) {
    super("DropdownModel", opts as SelectionWidgetOptions<T> & Record<string, unknown>);
  }
}

export interface RadioButtonsOptions<T> extends SelectionWidgetOptions<T> {
  orientation?: "horizontal" | "vertical";
}

/** A column (or row) of radio buttons. */
export class RadioButtons<T = string> extends SingleSelection<T> {
  constructor(opts: RadioButtonsOptions<T>) {
    super("RadioButtonsModel", opts as RadioButtonsOptions<T> & Record<string, unknown>);
  }
}

export interface ToggleButtonsOptions<T> extends SelectionWidgetOptions<T> {
  button_style?: "primary" | "success" | "info" | "warning" | "danger" | "" | null;
  /** a tooltip per option */
  tooltips?: string[];
  /** a Font Awesome icon name per option */
  icons?: string[];
}

/** A row of buttons, one pressed. */
export class ToggleButtons<T = string> extends SingleSelection<T> {
  constructor(opts: ToggleButtonsOptions<T>) {
    super("ToggleButtonsModel", opts as ToggleButtonsOptions<T> & Record<string, unknown>);
  }
}

/** A list box showing `rows` options. */
export class Select<T = string> extends SingleSelection<T> {
  constructor(opts: SelectionWidgetOptions<T> & { rows?: number }) {
    super("SelectModel", opts as SelectionWidgetOptions<T> & Record<string, unknown>);
  }
}

export interface SelectionSliderOptions<T> extends SelectionWidgetOptions<T> {
  orientation?: "horizontal" | "vertical";
  readout?: boolean;
  continuous_update?: boolean;
  behavior?: "drag-tap" | "drag-snap" | "tap" | "drag" | "snap";
}

/** A slider over the options (never empty, always one selected). */
export class SelectionSlider<T = string> extends SingleSelection<T> {
  constructor(opts: SelectionSliderOptions<T>) {
    super("SelectionSliderModel", opts as SelectionSliderOptions<T> & Record<string, unknown>);
  }

  protected override get nonEmpty(): boolean {
    return true;
  }
}

// ---- several options -----------------------------------------------------------------

export interface MultipleSelectionWidgetOptions<T> extends DescriptionOptions {
  options: SelectionOptions<T>;
  /** the selected values */
  value?: readonly T[];
  label?: readonly string[];
  index?: readonly number[];
  disabled?: boolean;
}

/** SelectMultiple and SelectionRangeSlider: `index` is an array; value and label are the arrays it picks. */
abstract class MultipleSelection<T> extends ChoiceWidget<T, T[], string[]> {
  declare index: number[];
  declare disabled: boolean;

  constructor(modelName: string, opts: MultipleSelectionWidgetOptions<T> & Record<string, unknown>, defaultIndex: (n: number) => number[]) {
    const { options: _options, value, label, index, ...rest } = opts;
    const { model, choices } = ChoiceWidget.choicesOf<T>(modelName, opts);
    let start = index !== undefined ? [...index] : defaultIndex(choices.length);
    if (value !== undefined) start = MultipleSelection.indicesOf(model, choices, value, (c, v) => sameValue(c.value, v), "value");
    if (label !== undefined) start = MultipleSelection.indicesOf(model, choices, label, (c, l) => c.label === l, "label");
    super(modelName, { ...rest, _options_labels: choices.map((c) => c.label), index: start });
    this.adopt(choices);
  }

  private static indicesOf<T, V>(model: string, choices: Choice<T>[], wanted: readonly V[], match: (c: Choice<T>, v: V) => boolean, what: string): number[] {
    if (!Array.isArray(wanted)) throw new TypeError(`${model}: ${what} must be an array, got ${JSON.stringify(wanted)}`);
    return wanted.map((v) => {
      const i = choices.findIndex((c) => match(c, v));
      if (i < 0) throw new TypeError(`${model}: ${what} ${JSON.stringify(v)} is not one of the options (${choices.map((c) => JSON.stringify(c.label)).join(", ")})`);
      return i;
    });
  }

  protected override validate(key: string, value: unknown): unknown {
    super.validate(key, value);
    if (key !== "index") return value;
    const n = this.get<string[]>("_options_labels").length;
    const idx = value as unknown[];
    const model = this.modelName.replace(/Model$/, "");
    if (!idx.every((i) => typeof i === "number" && Number.isInteger(i) && i >= 0 && i < n)) throw new RangeError(`${model}.index must hold integers in [0, ${n}), got ${JSON.stringify(value)}`);
    this.checkIndex(idx as number[]);
    return [...idx];
  }

  /** Extra rules on the index array (SelectionRangeSlider: two ordered ends). */
  protected checkIndex(_index: number[]): void {}

  get options(): Choice<T>[] {
    return this.choices.map((c) => ({ ...c }));
  }

  /** Replaces the options; selected values that are still options stay selected (a range slider goes back to its first option otherwise). */
  set options(options: SelectionOptions<T>) {
    const model = this.modelName.replace(/Model$/, "");
    const choices = normalizeOptions<T>(model, options);
    if (this.modelName === "SelectionRangeSliderModel" && choices.length === 0) throw new TypeError(`${model}: options must not be empty`);
    const kept = this.value.map((v) => choices.findIndex((c) => sameValue(c.value, v)));
    const index = kept.every((i) => i >= 0) ? kept : this.modelName === "SelectionRangeSliderModel" ? [0, 0] : kept.filter((i) => i >= 0);
    this.choices = choices;
    this.set({ _options_labels: choices.map((c) => c.label), index });
  }

  /** The selected values, in index order. */
  get value(): T[] {
    return this.index.filter((i) => i < this.choices.length).map((i) => this.choices[i].value);
  }

  set value(values: readonly T[]) {
    this.index = MultipleSelection.indicesOf(this.modelName.replace(/Model$/, ""), this.choices, values, (c, v) => sameValue(c.value, v), "value");
  }

  get label(): string[] {
    return this.index.filter((i) => i < this.choices.length).map((i) => this.choices[i].label);
  }

  set label(labels: readonly string[]) {
    this.index = MultipleSelection.indicesOf(this.modelName.replace(/Model$/, ""), this.choices, labels, (c, l) => c.label === l, "label");
  }
}

/** A list box where several options can be selected (value is an array). */
export class SelectMultiple<T = string> extends MultipleSelection<T> {
  constructor(opts: MultipleSelectionWidgetOptions<T> & { rows?: number }) {
    super("SelectMultipleModel", opts as MultipleSelectionWidgetOptions<T> & Record<string, unknown>, () => []);
  }
}

export interface SelectionRangeSliderOptions<T> extends MultipleSelectionWidgetOptions<T> {
  orientation?: "horizontal" | "vertical";
  readout?: boolean;
  continuous_update?: boolean;
  behavior?: "drag-tap" | "drag-snap" | "tap" | "drag" | "snap";
}

/** A slider with two handles over the options: value is [lower, upper] (never empty). */
export class SelectionRangeSlider<T = string> extends MultipleSelection<T> {
  constructor(opts: SelectionRangeSliderOptions<T>) {
    if (opts.options !== undefined && normalizeOptions("SelectionRangeSlider", opts.options).length === 0) throw new TypeError("SelectionRangeSlider: options must not be empty");
    super("SelectionRangeSliderModel", opts as SelectionRangeSliderOptions<T> & Record<string, unknown>, () => [0, 0]);
  }

  protected override checkIndex(index: number[]): void {
    if (index.length !== 2) throw new RangeError(`SelectionRangeSlider.index must be [lower, upper], got ${JSON.stringify(index)}`);
    if (index[0] > index[1]) throw new RangeError(`SelectionRangeSlider.index: lower (${index[0]}) must not exceed upper (${index[1]})`);
  }
}
