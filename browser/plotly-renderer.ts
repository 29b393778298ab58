// Renders application/vnd.plotly.v1+json outputs with plotly.js, in place:
// a later update_display_data of the same figure goes through Plotly.react,
// which redraws without rebuilding the plot. If plotly cannot draw it, the
// bundle's image/svg+xml (the kernel's own SVG rendering) is shown instead.
import Plotly from "plotly.js-dist-min";
import { Widget } from "@lumino/widgets";
import type { IRenderMime } from "@jupyterlab/rendermime-interfaces";

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";
const SVG_MIME = "image/svg+xml";

interface PlotlyJson {
  data?: unknown[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

export class PlotlyRenderer extends Widget implements IRenderMime.IRenderer {
  /** how many times plotly drew into this output (the browser test reads it to see a redraw) */
  draws = 0;

  constructor() {
    super();
    this.addClass("vl-plotly");
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const figure = model.data[PLOTLY_MIME] as PlotlyJson | undefined;
    try {
      if (!figure || !Array.isArray(figure.data)) throw new Error(`${PLOTLY_MIME} has no data array`);
      this.node.querySelector(":scope > .vl-svg-fallback")?.remove();
      await Plotly.react(this.node, figure.data, { autosize: true, ...figure.layout }, { responsive: true, displaylogo: false, ...figure.config });
      this.draws++;
      this.node.dataset.draws = String(this.draws);
    } catch (e) {
      const svg = model.data[SVG_MIME];
      console.warn(`plotly could not draw the figure, showing its SVG: ${(e as Error).message}`);
      Plotly.purge(this.node);
      this.node.textContent = "";
      const fallback = document.createElement("div");
      fallback.className = "vl-svg-fallback";
      if (typeof svg === "string") fallback.innerHTML = svg;
      else fallback.textContent = `cannot draw this figure: ${(e as Error).message}`;
      this.node.appendChild(fallback);
    }
  }

  protected override onBeforeDetach(): void {
    Plotly.purge(this.node);
  }
}

export const plotlyRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [PLOTLY_MIME],
  defaultRank: 10,
  createRenderer: () => new PlotlyRenderer(),
};
