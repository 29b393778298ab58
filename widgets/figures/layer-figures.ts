// Figures of a profiler Report (vl.profile): per-layer memory and time bars,
// the stream timeline (compute spans and copy spans per stream) and memory
// over time. Each takes the Report or its figures() columns.
import type { Report, ReportFigures } from "../../engine/profile/report.js";
import type { Resource, Span } from "../../engine/stream.js";
import { Figure, PALETTE, byteTicks, maxOf, type BarTrace } from "./figure.js";

export type FigureSource = Report | ReportFigures;

function columns(source: FigureSource): ReportFigures {
  return "figures" in source && typeof source.figures === "function" ? source.figures() : (source as ReportFigures);
}

function timeLabel(f: ReportFigures): string {
  return f.timeSource === "modelled" ? `modelled ms on ${f.device}` : `wall ms on ${f.device}`;
}

/** Per layer (outermost rows of the last step): weight bytes, peak rise above entry, bytes copied to the device. */
export function memoryBars(source: FigureSource): Figure {
  const f = columns(source);
  const { name, bytes, peakIncrease, h2dBytes } = f.layers;
  const bar = (label: string, values: number[], color: string): BarTrace => ({ type: "bar", name: label, x: [...name], y: [...values], marker: { color } });
  return new Figure(
    [bar("weights", bytes, PALETTE[0]), bar("peak above entry", peakIncrease, PALETTE[1]), bar("host→device", h2dBytes, PALETTE[2])],
    {
      title: { text: `Per-layer memory (${f.device})` },
      barmode: "group",
      xaxis: { title: { text: "layer" }, type: "category" },
      yaxis: { title: { text: "bytes" }, ...byteTicks(maxOf([...bytes, ...peakIncrease, ...h2dBytes])) },
    },
  );
}

/** Per layer: its time on its stream (stalls included) next to the time the compute units spent on its kernels. */
export function timeBars(source: FigureSource): Figure {
  const f = columns(source);
  const { name, timeMs, computeMs } = f.layers;
  return new Figure(
    [
      { type: "bar", name: "time", x: [...name], y: [...timeMs], marker: { color: PALETTE[0] } },
      { type: "bar", name: "compute busy", x: [...name], y: [...computeMs], marker: { color: PALETTE[3] } },
    ],
    {
      title: { text: `Per-layer time (${f.timeSource})` },
      barmode: "group",
      xaxis: { title: { text: "layer" }, type: "category" },
      yaxis: { title: { text: timeLabel(f) } },
    },
  );
}

/** How each resource's spans are named and coloured on the timeline. */
export const TIMELINE_GROUPS: Record<Resource, { name: string; color: string }> = {
  compute: { name: "compute", color: PALETTE[0] },
  h2d: { name: "copy host→device", color: PALETTE[1] },
  d2h: { name: "copy device→host", color: PALETTE[2] },
};

/** One span on a lane of a timeline. */
export interface TimelineItem {
  lane: string;
  group: string;
  startMs: number;
  endMs: number;
  label?: string;
  color?: string;
}

/** Horizontal bars from `base` startMs with length endMs - startMs, one trace per group, lanes as categories. */
export function spanTraces(items: TimelineItem[]): BarTrace[] {
  const traces = new Map<string, BarTrace>();
  for (const s of items) {
    let t = traces.get(s.group);
    if (!t) {
      t = { type: "bar", name: s.group, orientation: "h", x: [], y: [], base: [], hovertext: [], hoverinfo: "text" };
      if (s.color) t.marker = { color: s.color };
      traces.set(s.group, t);
    }
    appendSpan(t, s);
  }
  return [...traces.values()];
}

export function appendSpan(trace: BarTrace, s: TimelineItem): void {
  trace.x.push(s.endMs - s.startMs);
  trace.y.push(s.lane);
  (trace.base ??= []).push(s.startMs);
  (trace.hovertext ??= []).push(`${s.label ?? s.group}: ${s.startMs.toFixed(3)}–${s.endMs.toFixed(3)} ms`);
}

export function timelineLayout(title: string, xTitle: string): Figure["layout"] {
  return {
    title: { text: title },
    barmode: "overlay",
    xaxis: { title: { text: xTitle } },
    // the first stream on top, like a trace viewer
    yaxis: { type: "category", autorange: "reversed" },
  };
}

/** A span as a device queues it (Device.timeline.subscribe), timed from `originMs`, as a timeline item. */
export function liveSpanItem(s: Span, originMs: number): TimelineItem {
  const group = TIMELINE_GROUPS[s.resource];
  return {
    lane: s.stream, group: group.name, color: group.color, startMs: s.startMs - originMs, endMs: s.endMs - originMs,
    label: `${s.op} (${s.category}${s.module ? `, ${s.module}` : ""})`,
  };
}

/** The stream timeline: one lane per stream, compute spans and copy spans (each direction) as coloured bars. */
export function streamTimeline(source: FigureSource): Figure {
  const f = columns(source);
  const t = f.timeline;
  const items: TimelineItem[] = t.startMs.map((startMs, i) => {
    const group = TIMELINE_GROUPS[t.resource[i]!];
    return {
      lane: t.stream[i]!, group: group.name, color: group.color, startMs, endMs: t.endMs[i]!,
      label: `${t.op[i]} (${t.category[i]}${t.module[i] ? `, ${t.module[i]}` : ""}, step ${t.step[i]})`,
    };
  });
  return new Figure(spanTraces(items), timelineLayout(`Stream timeline (${f.device})`, timeLabel(f)));
}

/** Device memory allocated after each allocation and free, as a step line. */
export function memoryOverTime(source: FigureSource): Figure {
  const f = columns(source);
  const { timeMs, allocated } = f.memory;
  return new Figure(
    [{ type: "scatter", mode: "lines", name: "allocated", x: [...timeMs], y: [...allocated], line: { color: PALETTE[0], shape: "hv" } }],
    {
      title: { text: `Memory over time (${f.device})` },
      showlegend: false,
      xaxis: { title: { text: timeLabel(f) } },
      yaxis: { title: { text: "allocated" }, rangemode: "tozero", ...byteTicks(maxOf(allocated)) },
    },
  );
}
