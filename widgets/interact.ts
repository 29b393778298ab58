// interact(fn, { param: spec }): controls built from short specs (as
// ipywidgets' abbreviations), in a VBox above an Output; fn runs into the
// Output once at the start and again whenever a control changes. The
// latest run wins: a run that a newer one overtook shows neither its
// result nor its error. A throwing fn shows its error in the Output and
// the controls stay usable.
import { Widget, isPromise } from "./widget.js";
import { Checkbox, FloatSlider, IntSlider, Text, VBox, type BoxOptions } from "./controls.js";
import { Dropdown, type SelectionOptions } from "./selection.js";
import { Output } from "./output.js";
import { display, mimeBundle, mimeBundleOf } from "../kernel/display.js";

/** A value passed to fn as is, with no control (ipywidgets' fixed). */
export class Fixed<T> {
  constructor(readonly value: T) {}
}
export function fixed<T>(value: T): Fixed<T> {
  return new Fixed(value);
}

/**
 * How a parameter is controlled:
 * - `[min, max]` or `[min, max, step]`: an IntSlider when all are integers, else a FloatSlider
 * - a number v: a slider around it (ipywidgets: [-v, 3v] for v > 0)
 * - an array of options (labels, or [label, value] pairs), a {label: value} object or a Map: a Dropdown
 * - a boolean: a Checkbox; a string: a Text box
 * - a widget with a value (any control, e.g. a RadioButtons): used as is
 * - fixed(x): x, no control
 */
export type InteractSpec =
  | number
  | boolean
  | string
  | readonly [number, number]
  | readonly [number, number, number]
  | SelectionOptions<unknown>
  | Widget
  | Fixed<unknown>;

/** The value fn receives for a spec. */
export type SpecValue<S> = S extends Fixed<infer V>
  ? V
  : S extends Widget
    ? S extends { value: infer V }
      ? V
      : unknown
    : S extends boolean
      ? boolean
      : S extends string
        ? string
        : S extends number
          ? number
          : S extends readonly [number, number] | readonly [number, number, number]
            ? number
            : S extends readonly (readonly [string, infer V])[]
              ? V
              : S extends readonly (infer O)[]
                ? O
                : S extends ReadonlyMap<string, infer V>
                  ? V
                  : S extends Readonly<Record<string, infer V>>
                    ? V
                    : unknown;

export type InteractValues<S extends Record<string, InteractSpec>> = { [K in keyof S]: SpecValue<S[K]> };

export interface InteractOptions extends BoxOptions {
  /** clear the Output before each run (default true) */
  clearOutput?: boolean;
  /** display fn's return value in the Output when it is not undefined (default true) */
  autoDisplay?: boolean;
}

function isNumberTuple(spec: unknown): spec is readonly number[] {
  return Array.isArray(spec) && (spec.length === 2 || spec.length === 3) && spec.every((v) => typeof v === "number" && Number.isFinite(v));
}

/** The control for one spec, labelled with the parameter's name (undefined for fixed values). */
export function widgetFromSpec(name: string, spec: InteractSpec): Widget | undefined {
  if (spec instanceof Fixed) return undefined;
  if (spec instanceof Widget) {
    if (!("value" in spec)) throw new TypeError(`interact(): the widget given for "${name}" (${spec.modelName}) has no value to pass`);
    return spec;
  }
  if (typeof spec === "boolean") return new Checkbox({ value: spec, description: name });
  if (typeof spec === "string") return new Text({ value: spec, description: name });
  if (typeof spec === "number") {
    if (!Number.isFinite(spec)) throw new TypeError(`interact(): "${name}": ${spec} is not a finite number`);
    const [min, max] = spec === 0 ? [0, 1] : spec > 0 ? [-spec, 3 * spec] : [3 * spec, -spec];
    return Number.isInteger(spec) ? new IntSlider({ value: spec, min, max, description: name }) : new FloatSlider({ value: spec, min, max, step: (max - min) / 100, description: name });
  }
  if (isNumberTuple(spec)) {
    const [min, max, step] = spec;
    if (min > max) throw new RangeError(`interact(): "${name}": [min, max] needs min <= max, got [${min}, ${max}]`);
    if (step !== undefined && step <= 0) throw new RangeError(`interact(): "${name}": the step must be positive, got ${step}`);
    const integer = spec.every((v) => Number.isInteger(v));
    if (integer) {
      const s = step ?? 1;
      // ipywidgets starts at the middle, on the step grid
      return new IntSlider({ min, max, step: s, value: min + Math.floor((max - min) / 2 / s) * s, description: name });
    }
    const s = step ?? (max - min) / 100;
    return new FloatSlider({ min, max, step: s, value: min + Math.round((max - min) / 2 / s) * s, description: name });
  }
  if (Array.isArray(spec) || spec instanceof Map || (spec !== null && typeof spec === "object")) {
    return new Dropdown({ options: spec as SelectionOptions<unknown>, description: name });
  }
  throw new TypeError(`interact(): cannot make a control for "${name}" from ${JSON.stringify(spec)}; give [min, max(, step)], a number, options, a boolean, a string, a widget or fixed(value)`);
}

/** The widget interact() returns: the controls and the Output in a VBox, plus the last result. */
export class Interactive<S extends Record<string, InteractSpec>, R> extends VBox {
  /** the controls by parameter name */
  readonly controls: Partial<Record<keyof S, Widget>>;
  readonly out: Output;
  /** the latest completed run's return value */
  result: Awaited<R> | undefined = undefined;
  private generation = 0;

  constructor(
    private readonly fn: (values: InteractValues<S>) => R,
    private readonly specs: S,
    private readonly opts: InteractOptions = {},
  ) {
    if (typeof fn !== "function") throw new TypeError("interact(fn, specs): fn must be a function");
    if (specs === null || typeof specs !== "object") throw new TypeError("interact(fn, specs): specs must be an object {param: spec}");
    const controls: Partial<Record<keyof S, Widget>> = {};
    for (const [name, spec] of Object.entries(specs)) {
      const w = widgetFromSpec(name, spec);
      if (w) controls[name as keyof S] = w;
    }
    const out = new Output();
    const { clearOutput: _c, autoDisplay: _a, ...boxOpts } = opts;
    super([...(Object.values(controls) as Widget[]), out], { _dom_classes: ["widget-interact"], ...boxOpts });
    this.controls = controls;
    this.out = out;
    for (const w of Object.values(controls) as Widget[]) {
      // a selection's value is derived from its index: observe the value itself
      w.observe("value", () => this.update());
    }
    void this.update();
  }

  /** The container itself, so `const { widget, result } = interactive(...)` reads as in ipywidgets' docs. */
  get widget(): this {
    return this;
  }

  /** The values fn receives now. */
  get kwargs(): InteractValues<S> {
    const values: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(this.specs)) {
      values[name] = spec instanceof Fixed ? spec.value : (this.controls[name as keyof S] as unknown as { value: unknown }).value;
    }
    return values as InteractValues<S>;
  }

  /** Runs fn with the current values into the Output (what a control change does). */
  update(): Promise<void> {
    const gen = ++this.generation;
    const latest = () => gen === this.generation;
    /** Shows the result in the Output; a bundle that resolves later is awaited, so it still lands inside the capture. */
    const show = (value: Awaited<R>): void | Promise<void> => {
      if (!latest()) return;
      this.result = value;
      if (this.opts.autoDisplay === false || value === undefined) return;
      const bundle = mimeBundleOf(value);
      if (!isPromise(bundle)) return void display(mimeBundle(bundle.data, bundle.metadata));
      return bundle.then((b) => {
        if (latest()) display(mimeBundle(b.data, b.metadata));
      });
    };
    const r = this.out.runCaptured(() => {
      if (this.opts.clearOutput !== false) this.out.clear_output({ wait: true });
      const v = this.fn(this.kwargs);
      if (isPromise(v)) {
        return v.then(
          (value) => show(value as Awaited<R>),
          (e: unknown) => {
            // an overtaken run's error is not news; the latest one's is shown (in the Output: still capturing)
            if (latest()) throw e;
          },
        );
      }
      return show(v as Awaited<R>);
    });
    return Promise.resolve(r).then(() => undefined);
  }
}

/**
 * Shows controls for fn's parameters and re-runs fn into an Output when one
 * changes: `interact(({ steps, scheme }) => ..., { steps: [1, 50], scheme: ["int8wo", "fp8wo"] })`.
 * Returns the container (display it, e.g. as a cell's last value).
 */
export function interact<S extends Record<string, InteractSpec>, R>(fn: (values: InteractValues<S>) => R, specs: S, opts: InteractOptions = {}): Interactive<S, R> {
  return new Interactive(fn, specs, opts);
}

/** interact() by its ipywidgets name for the object form: `const { widget, result } = interactive(fn, specs)` (result: the latest run's). */
export const interactive = interact;
