// A progress bar that redraws one output in place (update_display_data),
// throttled so a tight loop does not flood the frontend.
import { display, escapeHtml, mimeBundle, type DisplayHandle } from "./display.js";

export interface ProgressOptions {
  label?: string;
  /** least time between redraws in milliseconds (default 100); the final state always draws */
  minIntervalMs?: number;
  /** width of the text bar in characters (default 30) */
  width?: number;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s - m * 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export class ProgressBar {
  private handle: DisplayHandle | null = null;
  private lastDraw = -Infinity;
  private readonly start = performance.now();
  private finished = false;
  private lastText = "";
  value = 0;
  label: string;

  constructor(readonly total: number | undefined, private readonly opts: ProgressOptions = {}) {
    if (total !== undefined && (!Number.isFinite(total) || total < 0)) throw new RangeError(`progress(): total must be a non-negative number, got ${total}`);
    this.label = opts.label ?? "";
    this.draw(true);
  }

  /** Sets the current value (and optionally the label). */
  update(value: number, label?: string): this {
    if (!Number.isFinite(value)) throw new RangeError(`progress.update(): value must be a finite number, got ${value}`);
    this.value = value;
    if (label !== undefined) this.label = label;
    this.draw(this.total !== undefined && value >= this.total);
    return this;
  }

  increment(by = 1): this {
    return this.update(this.value + by);
  }

  /** Draws the final state (call it when a loop ends early, too). */
  done(label?: string): void {
    if (label !== undefined) this.label = label;
    this.finished = true;
    this.draw(true);
  }

  /** The text and HTML of the current state. */
  render(): { text: string; html: string } {
    const elapsed = (performance.now() - this.start) / 1000;
    const width = this.opts.width ?? 30;
    const label = this.label ? `${this.label} ` : "";
    if (this.total === undefined || this.total === 0) {
      const rate = elapsed > 0 ? this.value / elapsed : 0;
      const text = `${label}${this.value} in ${formatSeconds(elapsed)} (${rate.toFixed(1)}/s)${this.finished ? " done" : ""}`;
      return { text, html: `<div style="font-family:monospace">${escapeHtml(text)}</div>` };
    }
    const frac = Math.min(1, Math.max(0, this.value / this.total));
    const filled = Math.round(frac * width);
    const eta = frac > 0 && frac < 1 ? elapsed * (1 / frac - 1) : 0;
    const pct = `${Math.floor(frac * 100)}%`;
    const timing = frac >= 1 || this.finished ? formatSeconds(elapsed) : `${formatSeconds(elapsed)}, ETA ${formatSeconds(eta)}`;
    const text = `${label}[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct} ${this.value}/${this.total} ${timing}`;
    const htmlText =
      `<div style="font-family:monospace">${escapeHtml(label)}<progress value="${this.value}" max="${this.total}" style="width:20em;vertical-align:middle"></progress> ` +
      `${escapeHtml(`${pct} ${this.value}/${this.total} ${timing}`)}</div>`;
    return { text, html: htmlText };
  }

  private draw(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.lastDraw < (this.opts.minIntervalMs ?? 100)) return;
    this.lastDraw = now;
    const { text, html } = this.render();
    if (text === this.lastText) return;
    this.lastText = text;
    const bundle = mimeBundle({ "text/html": html, "text/plain": text });
    if (this.handle) this.handle.update(bundle);
    else this.handle = display(bundle, { displayId: true });
  }
}

/** A progress bar: `const bar = progress(100, { label: "steps" }); bar.increment();` */
export function progress(total?: number, opts: ProgressOptions = {}): ProgressBar {
  return new ProgressBar(total, opts);
}

/** Iterates with a progress bar: `for (const x of trackProgress(items)) ...` (total from length/size when known). */
export function* trackProgress<T>(items: Iterable<T>, opts: ProgressOptions & { total?: number } = {}): Generator<T> {
  const known = opts.total ?? (Array.isArray(items) ? items.length : (items as { size?: unknown }).size);
  const bar = progress(typeof known === "number" ? known : undefined, opts);
  try {
    for (const item of items) {
      yield item;
      bar.increment();
    }
  } finally {
    bar.done();
  }
}
