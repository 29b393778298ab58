// The part of plotly.js the live page uses (plotly.js-dist-min ships no types).
declare module "plotly.js-dist-min" {
  interface PlotlyStatic {
    react(root: HTMLElement, data: unknown[], layout?: Record<string, unknown>, config?: Record<string, unknown>): Promise<HTMLElement>;
    purge(root: HTMLElement): void;
  }
  const Plotly: PlotlyStatic;
  export default Plotly;
}
