// Loads anywidget's own front end (the npm package "anywidget", the same code
// its JupyterLab extension runs) for models with _model_module "anywidget":
// widgets whose view is an ES module carried in their state (_esm).
// The package registers itself through AMD define(["@jupyter-widgets/base"], factory),
// so define is provided for the moment it is evaluated.
import * as base from "@jupyter-widgets/base";

type AnywidgetExports = { AnyModel: typeof base.DOMWidgetModel; AnyView: typeof base.DOMWidgetView };
let loaded: Promise<AnywidgetExports> | undefined;

export const ANYWIDGET_MODULE = "anywidget";

export function loadAnywidget(): Promise<AnywidgetExports> {
  loaded ??= (async () => {
    const g = globalThis as { define?: unknown };
    const previous = g.define;
    let exports: AnywidgetExports | undefined;
    g.define = (deps: string[], factory: (...mods: unknown[]) => AnywidgetExports) => {
      exports = factory(...deps.map((d) => {
        if (d !== "@jupyter-widgets/base") throw new Error(`anywidget asks for ${d}; only @jupyter-widgets/base is provided`);
        return base;
      }));
    };
    try {
      await import("anywidget");
    } finally {
      g.define = previous;
    }
    if (!exports) throw new Error("the anywidget package did not register its models (expected an AMD define call)");
    return exports;
  })();
  return loaded;
}
