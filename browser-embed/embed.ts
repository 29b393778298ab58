// The widget renderer inlined into pages exported by `vramlab run --html`
// (kernel/notebook-html.ts). It is @jupyter-widgets/html-manager's embed
// mechanism: the page holds the saved widget state in a
// <script type="application/vnd.jupyter.widget-state+json"> tag and one
// <script type="application/vnd.jupyter.widget-view+json"> tag per
// displayed widget; renderWidgets() builds the models and puts a live view
// before each view tag. Only the standard modules (base, controls, output)
// are bundled: a page never loads code from the network, so a widget from
// another module is reported instead of fetched.
import { HTMLManager } from "@jupyter-widgets/html-manager/lib/htmlmanager";
import { renderWidgets } from "@jupyter-widgets/html-manager/lib/libembed";

function refuseRemoteModule(moduleName: string, moduleVersion: string): Promise<never> {
  return Promise.reject(
    new Error(`widget module ${moduleName}@${moduleVersion} is not bundled in this page (only @jupyter-widgets/base, controls and output are); the widget cannot be shown`),
  );
}

async function render(): Promise<void> {
  const root = document.documentElement;
  try {
    await renderWidgets(() => new HTMLManager({ loader: refuseRemoteModule }));
    root.dataset.vramlabWidgets = "rendered";
  } catch (e) {
    root.dataset.vramlabWidgets = "failed";
    console.error("vramlab: rendering the saved widgets failed:", e);
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => void render());
else void render();
