// The front end of vramlab's TimelineWidget (widgets/timeline-widget.ts):
// an anywidget front-end module (AFM), bundled to dist/browser/timeline-widget.js
// and carried in the model's _esm, so any front end with anywidget (JupyterLab
// or Notebook 7 with the anywidget extension, VS Code, Colab, this repo's live
// page) draws it without a vramlab extension.
// Draws spans on lanes (one per stream) as SVG; spans arriving during a run
// come as small "append" messages, not as the whole list again; a click on a
// span sets `selected` in the kernel.

interface Span {
  lane: string;
  group: string;
  startMs: number;
  endMs: number;
  label?: string;
  color?: string;
}

type Callback = (...args: any[]) => void;
interface AnyModel {
  get(key: string): any;
  set(key: string, value: unknown): void;
  save_changes(): void;
  send(content: unknown): void;
  on(event: string, cb: Callback): void;
  off(event: string, cb: Callback): void;
}

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const LANE_HEIGHT = 26;
const LABEL_WIDTH = 110;
const AXIS_HEIGHT = 26;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, parent?: Element): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  parent?.appendChild(el);
  return el;
}

/** 1, 2 or 5 times a power of ten, about `count` ticks over [0, max]. */
function ticks(max: number, count: number): number[] {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let t = 0; t <= max * (1 + 1e-9); t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

function draw(el: HTMLElement, model: AnyModel, spans: Span[]): void {
  const lanes: string[] = [];
  for (const s of spans) if (!lanes.includes(s.lane)) lanes.push(s.lane);
  const groups: string[] = [];
  for (const s of spans) if (!groups.includes(s.group)) groups.push(s.group);
  const colorOf = (s: Span) => s.color ?? PALETTE[groups.indexOf(s.group) % PALETTE.length];
  const width = Math.max(320, el.clientWidth || Number(model.get("width")) || 800);
  const plotWidth = width - LABEL_WIDTH - 16;
  const height = AXIS_HEIGHT + Math.max(1, lanes.length) * LANE_HEIGHT + 8;
  const maxEnd = spans.reduce((m, s) => Math.max(m, s.endMs), 0);
  const x = (ms: number) => LABEL_WIDTH + (maxEnd > 0 ? (ms / maxEnd) * plotWidth : 0);
  const selected = model.get("selected") as number | null;

  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "vramlab-timeline-svg", "font-family": "sans-serif", "font-size": 11 });
  lanes.forEach((lane, i) => {
    const y = AXIS_HEIGHT + i * LANE_HEIGHT;
    svg("rect", { x: LABEL_WIDTH, y, width: plotWidth, height: LANE_HEIGHT, fill: i % 2 ? "#fafafa" : "#f2f2f2" }, root);
    const text = svg("text", { x: LABEL_WIDTH - 6, y: y + LANE_HEIGHT / 2 + 4, "text-anchor": "end", fill: "#333" }, root);
    text.textContent = lane;
  });
  for (const t of ticks(maxEnd, 8)) {
    svg("line", { x1: x(t), x2: x(t), y1: AXIS_HEIGHT - 4, y2: height - 8, stroke: "#ccc", "stroke-width": 0.5 }, root);
    const label = svg("text", { x: x(t), y: AXIS_HEIGHT - 8, "text-anchor": "middle", fill: "#555" }, root);
    label.textContent = `${t} ms`;
  }
  spans.forEach((s, i) => {
    const y = AXIS_HEIGHT + lanes.indexOf(s.lane) * LANE_HEIGHT + 3;
    const rect = svg("rect", {
      x: x(s.startMs), y, width: Math.max(1, x(s.endMs) - x(s.startMs)), height: LANE_HEIGHT - 6, fill: colorOf(s),
      class: "vramlab-timeline-span", "data-index": i, "data-group": s.group,
      stroke: i === selected ? "#000" : "none", "stroke-width": i === selected ? 2 : 0, cursor: "pointer",
    }, root);
    const title = svg("title", {}, rect);
    title.textContent = `${s.label ?? s.group}: ${s.startMs.toFixed(3)}–${s.endMs.toFixed(3)} ms`;
    rect.addEventListener("click", () => {
      model.set("selected", i === selected ? null : i);
      model.save_changes();
    });
  });

  const legend = document.createElement("div");
  legend.className = "vramlab-timeline-legend";
  legend.style.cssText = "display:flex;gap:12px;font:12px sans-serif;margin:2px 0 0 " + LABEL_WIDTH + "px";
  for (const g of groups) {
    const item = document.createElement("span");
    const swatch = spans.find((s) => s.group === g)!;
    item.innerHTML = `<span style="display:inline-block;width:10px;height:10px;margin-right:4px;background:${colorOf(swatch)}"></span>`;
    item.append(g);
    legend.append(item);
  }
  const title = document.createElement("div");
  title.className = "vramlab-timeline-title";
  title.style.cssText = "font:600 13px sans-serif;margin:4px 0";
  title.textContent = String(model.get("title") ?? "");
  const info = document.createElement("div");
  info.className = "vramlab-timeline-selection";
  info.style.cssText = "font:12px sans-serif;color:#444;min-height:1.2em;margin-left:" + LABEL_WIDTH + "px";
  const sel = selected !== null && selected !== undefined ? spans[selected] : undefined;
  info.textContent = sel ? `selected: ${sel.label ?? sel.group} on ${sel.lane}, ${sel.startMs.toFixed(3)}–${sel.endMs.toFixed(3)} ms` : "";
  el.replaceChildren(title, root, legend, info);
  el.dataset.spans = String(spans.length);
}

export default {
  render({ model, el }: { model: AnyModel; el: HTMLElement }) {
    el.classList.add("vramlab-timeline");
    // this view's copy: the creation state, then appends; a "reset" (answer to "sync") replaces it
    let spans: Span[] = [...((model.get("spans") as Span[]) ?? [])];
    let frame = 0;
    const redraw = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        draw(el, model, spans);
      });
    };
    const onCustom = (msg: { type?: string; spans?: Span[] }) => {
      if (msg.type === "append" && Array.isArray(msg.spans)) spans = spans.concat(msg.spans);
      else if (msg.type === "reset" && Array.isArray(msg.spans)) spans = [...msg.spans];
      else return;
      redraw();
    };
    model.on("msg:custom", onCustom);
    model.on("change:selected", redraw);
    model.on("change:title", redraw);
    draw(el, model, spans);
    // spans appended before this view existed are not in the model's state: ask for the full list
    model.send({ type: "sync" });
    return () => {
      cancelAnimationFrame(frame);
      model.off("msg:custom", onCustom);
      model.off("change:selected", redraw);
      model.off("change:title", redraw);
    };
  },
};
