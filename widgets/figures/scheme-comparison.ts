// Quantization schemes side by side (bench/quant's rows): memory (model
// bytes and peak), forward time and output SQNR, three panels sharing the
// scheme axis.
import { Figure, PALETTE, byteTicks, maxOf } from "./figure.js";

export interface SchemeRow {
  scheme: string;
  modelBytes: number;
  peakBytes: number;
  forwardMs: number;
  /** output SQNR against the unquantized model in dB; null or Infinity for the reference itself */
  sqnrDb: number | null;
}

export function schemeComparison(rows: SchemeRow[], options: { title?: string } = {}): Figure {
  const schemes = rows.map((r) => r.scheme);
  const sqnr = rows.map((r) => (r.sqnrDb !== null && Number.isFinite(r.sqnrDb) ? r.sqnrDb : null));
  return new Figure(
    [
      { type: "bar", name: "model memory", x: [...schemes], y: rows.map((r) => r.modelBytes), marker: { color: PALETTE[0] } },
      { type: "bar", name: "peak memory", x: [...schemes], y: rows.map((r) => r.peakBytes), marker: { color: PALETTE[1] } },
      { type: "bar", name: "forward ms", x: [...schemes], y: rows.map((r) => r.forwardMs), marker: { color: PALETTE[2] }, xaxis: "x2", yaxis: "y2" },
      { type: "bar", name: "output SQNR dB", x: [...schemes], y: sqnr, marker: { color: PALETTE[4] }, xaxis: "x3", yaxis: "y3" },
    ],
    {
      title: { text: options.title ?? "Quantization schemes" },
      width: 960,
      height: 420,
      barmode: "group",
      xaxis: { domain: [0, 0.3], type: "category", anchor: "y" },
      yaxis: { title: { text: "bytes" }, ...byteTicks(maxOf([...rows.map((r) => r.modelBytes), ...rows.map((r) => r.peakBytes)])) },
      xaxis2: { domain: [0.38, 0.64], type: "category", anchor: "y2" },
      yaxis2: { title: { text: "forward ms" }, anchor: "x2" },
      xaxis3: { domain: [0.74, 1], type: "category", anchor: "y3" },
      yaxis3: { title: { text: "SQNR dB (higher is closer)" }, anchor: "x3" },
    },
  );
}
