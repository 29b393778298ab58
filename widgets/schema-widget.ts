// A standard ipywidgets 8 model whose names, versions, defaults and value
// types come from @jupyter-widgets/schema (schema-defaults.ts). The
// layout and style children the schema asks for are made first, so the
// frontend knows them before the widget that references them; values are
// checked against the attribute's schema type on every set, from the
// kernel or from the frontend.
import { Widget } from "./widget.js";
import { isBinary } from "./buffers.js";
import { modelSchema, type ModelSchema, type SchemaAttribute } from "./schema-defaults.js";
import type { CallbackCapture } from "./widget.js";

/** Options every DOM widget takes: layout and style as widgets or as their options, and an Output for its callbacks. */
export interface DOMWidgetOptions {
  layout?: Layout | LayoutOptions;
  /** style keys of the control's style model, or a Style */
  style?: Style | Record<string, unknown>;
  tooltip?: string | null;
  tabbable?: boolean | null;
  _dom_classes?: string[];
  /** an Output widget (or other capture) that shows what this widget's callbacks print */
  output?: CallbackCapture;
}

export interface DescriptionOptions extends DOMWidgetOptions {
  description?: string;
  description_allow_html?: boolean;
}

function describeType(a: SchemaAttribute): string {
  const t = Array.isArray(a.type) ? a.type.join(" or ") : a.type;
  const article: Record<string, string> = { int: "an integer", float: "a number", bool: "a boolean", string: "a string", bytes: "binary data (a Uint8Array)", object: "an object", array: "an array", reference: "a widget" };
  const itemNames: Record<string, string> = { int: "integers", float: "numbers", bool: "booleans", string: "strings", object: "objects", reference: "widgets" };
  const parts = [a.enum ? `one of ${a.enum.map((e) => JSON.stringify(e)).join(", ")}` : t === "array" && a.items ? `an array of ${itemNames[a.items.type] ?? a.items.type}` : (article[t] ?? t)];
  if (a.allow_none) parts.push("or null");
  return parts.join(" ");
}

function matchesType(type: string, value: unknown, a: { enum?: unknown[]; items?: { type: string } }): boolean {
  if (a.enum && !a.enum.includes(value)) return false;
  switch (type) {
    case "string":
      return typeof value === "string";
    case "bool":
      return typeof value === "boolean";
    case "int":
      return typeof value === "number" && Number.isInteger(value);
    case "float":
      return typeof value === "number" && Number.isFinite(value);
    case "reference":
      return value instanceof Widget;
    case "bytes":
      return isBinary(value);
    case "object":
      return value !== null && typeof value === "object" && !Array.isArray(value);
    case "array":
      return Array.isArray(value) && (!a.items || value.every((v) => matchesType(a.items!.type, v, {})));
    default:
      return true; // Date, Datetime, Time: vramlab has no widget of these types
  }
}

/** Checks a value against its schema attribute; throws a TypeError that says what the key takes. */
export function checkAttribute(modelName: string, a: SchemaAttribute, value: unknown): void {
  if (value === null && a.allow_none) return;
  const ok = a.union_attributes ? a.union_attributes.some((u) => matchesType(u.type, value, u)) : matchesType(a.type as string, value, a);
  if (!ok) {
    const shown = value instanceof Widget ? value.modelName : isBinary(value) ? `${value.constructor.name}(${value.byteLength} bytes)` : JSON.stringify(value);
    throw new TypeError(`${modelName.replace(/Model$/, "")}.${a.name} must be ${describeType(a)}, got ${shown}`);
  }
}

/**
 * A widget of one of the schema's models: `new SchemaWidget("ColorPickerModel", { value: "red" })`
 * works for any of them; the classes in controls.ts, selection.ts and output.ts add typed options and behaviour.
 */
export class SchemaWidget extends Widget {
  private schemaCache?: ModelSchema;

  constructor(modelName: string, options: Record<string, unknown> = {}) {
    const schema = modelSchema(modelName);
    const { output, ...rest } = options as Record<string, unknown> & { output?: CallbackCapture };
    const defaults = { ...schema.defaults };
    const initial: Record<string, unknown> = {};
    // children first (their comm_open must precede this model's)
    for (const [key, childModel] of Object.entries(schema.children)) {
      const given = rest[key];
      delete rest[key];
      if (given instanceof Widget) {
        if (given.modelName !== childModel) throw new TypeError(`${modelName.replace(/Model$/, "")}.${key} must be a ${childModel.replace(/Model$/, "")}, got a ${given.modelName.replace(/Model$/, "")}`);
        defaults[key] = given;
      } else if (given === undefined || (given !== null && typeof given === "object" && !Array.isArray(given))) {
        defaults[key] = childModel === "LayoutModel" ? new Layout((given ?? {}) as LayoutOptions) : new Style(childModel, (given ?? {}) as Record<string, unknown>);
      } else {
        throw new TypeError(`${modelName.replace(/Model$/, "")}.${key} must be a ${childModel.replace(/Model$/, "")} or its options object, got ${JSON.stringify(given)}`);
      }
    }
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) initial[k] = v;
    super(schema.spec, defaults, initial);
    this.schemaCache = schema;
    if (output !== undefined) {
      if (typeof (output as CallbackCapture)?.runCaptured !== "function") throw new TypeError(`${modelName.replace(/Model$/, "")}: option "output" must be an Output widget`);
      this.callbackOutput = output;
    }
  }

  /** The schema of this widget's model (names, defaults, attribute types). */
  get schema(): ModelSchema {
    // validate() runs inside super(), before the field is set
    return (this.schemaCache ??= modelSchema(this.modelName));
  }

  protected override validate(key: string, value: unknown): unknown {
    const a = this.schema.attributes.get(key);
    if (a) checkAttribute(this.modelName, a, value);
    return value;
  }
}

/** The LayoutModel's CSS keys (the schema checks them at run time; this list gives editors completion). */
export type LayoutKey =
  | "align_content"
  | "align_items"
  | "align_self"
  | "border_bottom"
  | "border_left"
  | "border_right"
  | "border_top"
  | "bottom"
  | "display"
  | "flex"
  | "flex_flow"
  | "grid_area"
  | "grid_auto_columns"
  | "grid_auto_flow"
  | "grid_auto_rows"
  | "grid_column"
  | "grid_gap"
  | "grid_row"
  | "grid_template_areas"
  | "grid_template_columns"
  | "grid_template_rows"
  | "height"
  | "justify_content"
  | "justify_items"
  | "left"
  | "margin"
  | "max_height"
  | "max_width"
  | "min_height"
  | "min_width"
  | "object_fit"
  | "object_position"
  | "order"
  | "overflow"
  | "padding"
  | "right"
  | "top"
  | "visibility"
  | "width";
export type LayoutOptions = Partial<Record<LayoutKey, string | null>>;

/** CSS layout of a widget (LayoutModel): `new Layout({ width: "300px" })`. */
export class Layout extends SchemaWidget {
  declare width: string | null;
  declare height: string | null;
  constructor(opts: LayoutOptions = {}) {
    super("LayoutModel", opts);
  }
}

/** A control's style model (e.g. "SliderStyleModel"): `slider.style.set("handle_color", "red")`. */
export class Style extends SchemaWidget {
  constructor(modelName: string, opts: Record<string, unknown> = {}) {
    if (!/StyleModel$/.test(modelName)) throw new TypeError(`Style: "${modelName}" is not a style model (e.g. SliderStyleModel, ButtonStyleModel)`);
    super(modelName, opts);
  }
}
