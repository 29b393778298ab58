// The ipywidgets 8 model specifications (@jupyter-widgets/schema,
// jupyterwidgetmodels.latest.json) are the source of every standard
// model's names, versions, attribute list, defaults and value types.
// They are read at run time rather than generated into a checked-in file:
// the package is a runtime dependency anyway, the JSON (190 kB, parsed once
// on the first widget) cannot drift from a generated copy, and updating
// @jupyter-widgets/schema updates the defaults with no script to rerun.
import { createRequire } from "node:module";
import type { ModelSpec } from "./widget.js";

/** One attribute of a model, as the schema lists it. */
export interface SchemaAttribute {
  name: string;
  type: string | string[];
  default: unknown;
  allow_none?: boolean;
  enum?: unknown[];
  items?: { type: string; widget?: string };
  widget?: string;
  union_attributes?: { type: string; enum?: unknown[] }[];
  help?: string;
}

export interface SchemaModel {
  model: { name: string; module: string; version: string };
  view: { name: string | null; module: string; version: string };
  attributes: SchemaAttribute[];
}

export interface ModelSchema {
  spec: ModelSpec;
  /** every attribute except the model and view names and modules, with fresh default values (binary defaults as empty Uint8Arrays) */
  defaults: Record<string, unknown>;
  /** attributes whose default is a new child widget (layout, style): key -> the child's model name, e.g. "SliderStyleModel" */
  children: Record<string, string>;
  attributes: Map<string, SchemaAttribute>;
}

const SCHEMA_FILE = "@jupyter-widgets/schema/jupyterwidgetmodels.latest.json";
/** the schema writes "a new instance of the widget" like this */
const NEW_INSTANCE = "reference to new instance";
const SPEC_KEYS = new Set(["_model_name", "_model_module", "_model_module_version", "_view_name", "_view_module", "_view_module_version"]);

let models: Map<string, SchemaModel> | null = null;

/** Every model of the ipywidgets 8 schema, by model name. */
export function schemaModels(): Map<string, SchemaModel> {
  if (!models) {
    let list: SchemaModel[];
    try {
      list = createRequire(import.meta.url)(SCHEMA_FILE) as SchemaModel[];
    } catch (e) {
      throw new Error(`vramlab widgets need ${SCHEMA_FILE} (the @jupyter-widgets/schema package, a dependency of vramlab): ${(e as Error).message}. Reinstall vramlab's dependencies (npm install).`);
    }
    models = new Map(list.map((m) => [m.model.name, m]));
  }
  return models;
}

function freshDefault(a: SchemaAttribute): unknown {
  if (a.type === "bytes") return new Uint8Array(0); // the schema writes Python's b''
  const d = a.default;
  return d !== null && typeof d === "object" ? structuredClone(d) : d;
}

/** A model's spec (names, modules, versions) and default state, from the schema. */
export function modelSchema(modelName: string): ModelSchema {
  const m = schemaModels().get(modelName);
  if (!m) throw new TypeError(`"${modelName}" is not an ipywidgets 8 model (the @jupyter-widgets/schema models are: ${[...schemaModels().keys()].join(", ")})`);
  const attributes = new Map(m.attributes.map((a) => [a.name, a]));
  const defaults: Record<string, unknown> = {};
  const children: Record<string, string> = {};
  for (const a of m.attributes) {
    if (SPEC_KEYS.has(a.name)) continue;
    if (a.type === "reference" && a.default === NEW_INSTANCE) {
      children[a.name] = `${a.widget}Model`;
      defaults[a.name] = null; // replaced by the child widget the constructor makes
    } else defaults[a.name] = freshDefault(a);
  }
  const viewName = attributes.get("_view_name")?.default;
  return {
    spec: {
      modelName: m.model.name,
      modelModule: m.model.module,
      modelModuleVersion: m.model.version,
      viewName: typeof viewName === "string" ? viewName : null,
      viewModule: m.view.module,
      viewModuleVersion: m.view.version,
    },
    defaults,
    children,
    attributes,
  };
}
