// The engine control panel: `await panel(() => vl.models.flux("tiny"), (m) =>
// vl.models.fluxInputs(m))` shows controls for quantization scheme, storage
// and compute dtype, offloading (type, blocks per group, streams, prefetch
// depth), device or simulated profile and VRAM budget. A change rebuilds the
// model or only re-hooks it (panel-session.ts decides), re-profiles with a
// progress bar and redraws four figures in place. A newer change aborts the
// running profile (AbortSignal) instead of queueing stale runs. A failed run
// (out of memory under the budget, an invalid combination) shows its message
// and puts the previous model, controls and figures back.
//
// Figures are HTML widgets holding the SVG that figures/svg.ts draws: an
// HTML widget's value is set as markup in JupyterLab, in Voila and in pages
// exported with the widget state (html-manager), with no kernel and no
// plotly.js needed, and a redraw is one `update` of that widget's state.
// Plotly output (<script> in an HTML widget does not run; an Output widget
// would need JupyterLab's plotly renderer) stays one call away:
// `p.figures.memory` is the Figure, which displays as plotly JSON.
import type { Module } from "../engine/module.js";
import type { Report } from "../engine/profile/report.js";
import type { OffloadPlan } from "../engine/profile/planner.js";
import { formatBytes } from "../engine/format.js";
import { recordRun } from "../engine/experiments/experiment.js";
import { escapeHtml, JUPYTER_DISPLAY, type MimeBundle } from "../kernel/display.js";
import { Button, Checkbox, HBox, HTML, IntProgress, IntSlider, Text, VBox } from "./controls.js";
import { Dropdown, type DropdownOption } from "./selection.js";
import type { Widget } from "./widget.js";
import type { Figure } from "./figures/figure.js";
import { memoryBars, memoryOverTime, streamTimeline, timeBars } from "./figures/layer-figures.js";
import {
  COMPUTE_DTYPES, DEFAULT_CONFIG, OFFLOAD_TYPES, PANEL_SCHEMES, STORAGE_DTYPES, PanelConfigError, changeKind, defaultDevices, describeConfig, isSimDevice, parseBytes, validateConfig,
  type PanelComputeDType, type PanelConfig, type PanelOffloadType, type PanelScheme, type PanelStorageDType,
} from "./panel-config.js";
import { ModelSession, type InputsFactory, type ModelFactory, type RealizeSummary, type SessionOptions } from "./panel-session.js";

export * from "./panel-config.js";
export type { ModelContext, InputsContext, ModelFactory, InputsFactory, RealizeSummary } from "./panel-session.js";

/** What the record button hands to the onRecord hook. */
export interface PanelRun {
  config: PanelConfig;
  report: Report;
  /** describeConfig(config): one line naming every setting */
  label: string;
}

export interface PanelOptions extends SessionOptions {
  /** starting settings (default: DEFAULT_CONFIG); `budget` as text ("12 GB") */
  initial?: Partial<Omit<PanelConfig, "budgetBytes">> & { budget?: string };
  /** devices offered (default: cpu, every sim profile with and without data, CUDA devices found) */
  devices?: string[];
  /** the record button calls this with the last successful run (e.g. to store it as an experiment) */
  onRecord?: PanelRecorder;
  /** size of each figure in pixels (default 560 x 340) */
  figureSize?: { width: number; height: number };
}

export type PanelRecorder = (run: PanelRun) => unknown | Promise<unknown>;

/** What record does for panels made without an onRecord option: store the run as an experiment named "panel" (vl.experiments' current store); null: nothing. */
let defaultRecorder: PanelRecorder | null = async (run) => (await recordRun("panel", run)).id;

/** Sets the recorder of panels made without an onRecord option; returns the previous one. */
export function setDefaultPanelRecorder(recorder: PanelRecorder | null): PanelRecorder | null {
  if (recorder !== null && typeof recorder !== "function") throw new TypeError("setDefaultPanelRecorder(): pass a function (run) => … or null");
  const previous = defaultRecorder;
  defaultRecorder = recorder;
  return previous;
}

export type RunStatus = "ok" | "failed" | "cancelled" | "unchanged";

/** How one run ended. */
export interface RunOutcome {
  /** 1, 2, … in the order runs started */
  run: number;
  job: "profile" | "plan";
  status: RunStatus;
  /** the settings the run was for (null when the controls could not be read, e.g. a budget that is not a size) */
  config: PanelConfig | null;
  action: RealizeSummary["action"] | "plan";
  message: string;
  error?: Error;
  report?: Report;
  plan?: OffloadPlan;
  seconds: number;
}

export interface PanelControls {
  scheme: Dropdown<PanelScheme>;
  storageDtype: Dropdown<PanelStorageDType>;
  computeDtype: Dropdown<PanelComputeDType>;
  offloadType: Dropdown<PanelOffloadType>;
  numBlocksPerGroup: IntSlider;
  useStream: Checkbox;
  prefetchDepth: IntSlider;
  device: Dropdown<string>;
  budget: Text;
  plan: Button;
  record: Button;
}

export type PanelFigureName = "memory" | "time" | "timeline" | "memoryOverTime";
const FIGURE_NAMES: PanelFigureName[] = ["memory", "time", "timeline", "memoryOverTime"];
const FIGURE_MAKERS: Record<PanelFigureName, (r: Report) => Figure> = { memory: memoryBars, time: timeBars, timeline: streamTimeline, memoryOverTime };

const OFFLOAD_LABELS: Record<PanelOffloadType, string> = {
  none: "none (resident)", block_level: "block_level", leaf_level: "leaf_level", model_cpu_offload: "model cpu offload", sequential_cpu_offload: "sequential cpu offload",
};
/** controls whose change invalidates resident groups chosen by the plan action */
const PLACEMENT_CONTROLS = new Set<keyof PanelControls>(["offloadType", "numBlocksPerGroup", "useStream", "prefetchDepth", "device"]);
const LABEL_STYLE = { description_width: "130px" };
/** least time between progress bar messages */
const PROGRESS_INTERVAL_MS = 50;

class Superseded extends Error {
  constructor() {
    super("superseded by a newer change");
    this.name = "Superseded";
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class Panel<M extends Module = Module, I = unknown> {
  /** the root widget (a VBox); displaying the panel displays it */
  readonly widget: VBox;
  readonly controls: PanelControls;
  readonly progress: IntProgress;
  /** the last run's summary, or its error */
  readonly status: HTML;
  /** messages of the plan and record actions */
  readonly notice: HTML;
  /** one HTML widget per figure, redrawn in place */
  readonly figureViews: Record<PanelFigureName, HTML>;
  /** the figures of the last successful run (plotly data; display one for the interactive version) */
  figures: Record<PanelFigureName, Figure> | null = null;
  /** every finished run, oldest first */
  readonly outcomes: RunOutcome[] = [];

  private readonly session: ModelSession<M, I>;
  private readonly devices: string[];
  private lastGood: { config: PanelConfig; report: Report; budgetText: string } | null = null;
  private plannedResident: string[] = [];
  private muted = false;
  private next: "profile" | "plan" | null = null;
  private active: { job: "profile" | "plan"; controller: AbortController } | null = null;
  private loop: Promise<RunOutcome | null> | null = null;
  private runCount = 0;
  /** the next profile runs even if nothing changed (refresh, the first run) */
  private forced = false;
  private disposed = false;
  private readonly runListeners = new Set<(o: RunOutcome) => void>();
  private readonly figureSize: { width: number; height: number };

  constructor(modelFactory: ModelFactory<M>, inputs: InputsFactory<M, I> | I, private readonly options: PanelOptions = {}) {
    if (typeof modelFactory !== "function") throw new TypeError("panel(modelFactory, inputs): modelFactory must be a function returning a model, e.g. () => vl.models.flux(\"tiny\")");
    const source = typeof inputs === "function" ? (inputs as InputsFactory<M, I>) : { value: inputs as I };
    this.session = new ModelSession<M, I>(modelFactory, source, options);
    this.figureSize = options.figureSize ?? { width: 560, height: 340 };

    const fixedDevice = this.session.fixedInputDevice();
    this.devices = fixedDevice ? [fixedDevice] : [...(options.devices ?? defaultDevices())];
    const { budget: budgetText = "", ...initial } = options.initial ?? {};
    const start: PanelConfig = { ...DEFAULT_CONFIG, ...initial, budgetBytes: null, keepResident: [...(initial.keepResident ?? [])] };
    if (fixedDevice) start.device = fixedDevice;
    else if (!this.devices.includes(start.device)) start.device = this.devices.find(isSimDevice) ?? this.devices[0]!;
    start.budgetBytes = parseBytes(budgetText);
    validateConfig(start, this.devices);
    this.plannedResident = [...start.keepResident];

    const dd = <T>(description: string, options: readonly DropdownOption<T>[], value: T) => new Dropdown<T>({ description, options, value, style: LABEL_STYLE });
    this.controls = {
      scheme: dd("quantization", PANEL_SCHEMES, start.scheme),
      storageDtype: dd("storage dtype", STORAGE_DTYPES, start.storageDtype),
      computeDtype: dd("compute dtype", COMPUTE_DTYPES, start.computeDtype),
      offloadType: dd<PanelOffloadType>("offload", OFFLOAD_TYPES.map((t) => [OFFLOAD_LABELS[t], t] as const), start.offloadType),
      numBlocksPerGroup: new IntSlider({ description: "blocks per group", value: start.numBlocksPerGroup, min: 1, max: Math.max(8, start.numBlocksPerGroup), continuous_update: false, style: LABEL_STYLE }),
      useStream: new Checkbox({ description: "use streams (prefetch)", value: start.useStream }),
      prefetchDepth: new IntSlider({ description: "prefetch depth", value: start.prefetchDepth, min: 0, max: Math.max(4, start.prefetchDepth), continuous_update: false, style: LABEL_STYLE }),
      device: dd("device", this.devices, start.device),
      budget: new Text({ description: "VRAM budget", value: budgetText, placeholder: "e.g. 12 GB (empty: whole device)", continuous_update: false, style: LABEL_STYLE }),
      plan: new Button({ description: "plan offload for budget", icon: "search", tooltip: "vl.planOffload: the fastest offload setting within the budget" }),
      record: new Button({ description: "record", icon: "save", button_style: "info", tooltip: "store this run (config + report)" }),
    };
    this.progress = new IntProgress({ description: "idle", value: 0, min: 0, max: 1, style: LABEL_STYLE, layout: { width: "560px" } });
    this.status = new HTML({ value: "" });
    this.notice = new HTML({ value: "" });
    this.figureViews = Object.fromEntries(FIGURE_NAMES.map((n) => [n, new HTML({ value: `<div class="vramlab-panel-figure" data-figure="${n}" data-run="0"><i>no run yet</i></div>` })])) as Record<PanelFigureName, HTML>;

    const c = this.controls;
    const column = (children: Widget[]) => new VBox(children, { layout: { margin: "0 12px 0 0" } });
    this.widget = new VBox([
      new HTML({ value: '<b>vramlab engine panel</b> <span style="color:#666">— a change re-hooks or rebuilds the model, re-profiles and redraws</span>' }),
      new HBox([
        column([c.scheme, c.storageDtype, c.computeDtype]),
        column([c.offloadType, c.numBlocksPerGroup, c.useStream, c.prefetchDepth]),
        column([c.device, c.budget, new HBox([c.plan, c.record])]),
      ], { layout: { flex_flow: "row wrap" } }),
      this.progress,
      this.status,
      this.notice,
      new HBox(FIGURE_NAMES.map((n) => this.figureViews[n]), { layout: { flex_flow: "row wrap" } }),
    ]);

    // observers and click handlers return at once: the kernel handles the next frontend message
    // (maybe a newer change, which must be able to cancel this run) only after they return
    for (const [key, control] of Object.entries(c) as [keyof PanelControls, Widget][]) {
      if (control instanceof Button) continue;
      const name = control instanceof Dropdown ? "index" : "value";
      control.observe(name, () => this.controlChanged(key));
    }
    // failures show in the panel; a click has no caller to reject to
    c.plan.onClick(() => void this.plan().catch(() => undefined));
    c.record.onClick(() => void this.record().catch(() => undefined));
    this.syncEnabled();
  }

  /** The model as the last run left it (null before the first successful build). */
  get model(): M | null {
    return this.session.model;
  }

  get inputs(): I | null {
    return this.session.inputs;
  }

  /** The settings of the last successful run (what the figures show). */
  get config(): PanelConfig | null {
    return this.lastGood ? { ...this.lastGood.config, keepResident: [...this.lastGood.config.keepResident] } : null;
  }

  /** The report of the last successful run. */
  get report(): Report | null {
    return this.lastGood?.report ?? null;
  }

  /** Whether a run is in progress or waiting. */
  get busy(): boolean {
    return this.loop !== null;
  }

  /** Resolves when no run is in progress or waiting, with the last run's outcome. */
  settled(): Promise<RunOutcome | null> {
    return this.loop ?? Promise.resolve(this.outcomes[this.outcomes.length - 1] ?? null);
  }

  /** Calls fn after every run (ok, failed, cancelled or unchanged); returns a function that removes it. */
  onRun(fn: (outcome: RunOutcome) => void): () => void {
    this.runListeners.add(fn);
    return () => this.runListeners.delete(fn);
  }

  /** Sets several controls at once, as a frontend would (one run follows); returns when it settled. */
  async set(values: Partial<Omit<PanelConfig, "budgetBytes" | "keepResident">> & { budget?: string }): Promise<RunOutcome | null> {
    const c = this.controls;
    for (const [k, v] of Object.entries(values)) {
      if (!(k in c) || k === "plan" || k === "record") throw new TypeError(`panel.set(): unknown setting "${k}" (settings: ${Object.keys(c).filter((x) => x !== "plan" && x !== "record").join(", ")})`);
      (c[k as keyof PanelControls] as unknown as { value: unknown }).value = v;
    }
    return this.settled();
  }

  /** Runs vl.planOffload for the budget, sets the offload controls to the fastest fitting setting, and profiles it. */
  async plan(): Promise<RunOutcome | null> {
    this.request("plan");
    return this.settled();
  }

  /** Hands the last successful run to the onRecord hook (after any run in progress settles); returns what the hook returned. */
  async record(): Promise<unknown> {
    await this.settled();
    const hook = this.options.onRecord ?? defaultRecorder;
    if (!this.lastGood) return this.say("notice", "warning", "nothing to record yet: no run has succeeded");
    if (!hook) return this.say("notice", "warning", "recording needs a recorder: panel(model, inputs, { onRecord: (run) => … }) or setDefaultPanelRecorder(…)");
    const run: PanelRun = { config: this.lastGood.config, report: this.lastGood.report, label: describeConfig(this.lastGood.config) };
    try {
      const result = await hook(run);
      this.say("notice", "ok", `recorded: ${run.label}${typeof result === "string" ? ` (${result})` : ""}`);
      return result;
    } catch (e) {
      this.say("notice", "error", `recording failed: ${messageOf(e)}`);
      throw e;
    }
  }

  /** Stops any run, frees the model and inputs the panel made, and closes its widgets. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.next = null;
    this.active?.controller.abort(new Superseded());
    await this.loop;
    this.session.dispose();
    const close = (w: Widget) => {
      const children = (w as unknown as { children?: unknown }).children;
      if (Array.isArray(children)) for (const k of children) close(k as Widget);
      w.close();
    };
    close(this.widget);
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return this.widget[JUPYTER_DISPLAY]();
  }

  // ---- scheduling -------------------------------------------------------------

  private controlChanged(key: keyof PanelControls): void {
    if (this.muted) return;
    if (PLACEMENT_CONTROLS.has(key)) this.plannedResident = [];
    this.syncEnabled();
    this.request("profile");
  }

  /** Profiles again with the current settings, even when they did not change. */
  async refresh(): Promise<RunOutcome | null> {
    this.forced = true;
    this.request("profile");
    return this.settled();
  }

  /** Asks for a run: a running profile is aborted, and one run with the newest settings follows. */
  private request(job: "profile" | "plan"): void {
    if (this.disposed) return;
    this.next = job === "plan" || this.next === "plan" ? "plan" : "profile";
    // planOffload takes no signal: an abort is noticed when it returns, and its result then discarded
    this.active?.controller.abort(new Superseded());
    this.loop ??= this.runLoop();
  }

  private async runLoop(): Promise<RunOutcome | null> {
    let last: RunOutcome | null = this.outcomes[this.outcomes.length - 1] ?? null;
    try {
      // changes made in the same turn (panel.set, a frontend sending several keys) make one run
      await new Promise<void>((r) => setImmediate(r));
      while (this.next && !this.disposed) {
        const job = this.next;
        this.next = null;
        const controller = new AbortController();
        this.active = { job, controller };
        const t0 = performance.now();
        const run = ++this.runCount;
        const partial = job === "plan" ? await this.runPlan(run, controller.signal) : await this.runProfile(run, controller.signal);
        this.active = null;
        last = { ...partial, run, job, seconds: (performance.now() - t0) / 1000 };
        this.outcomes.push(last);
        for (const fn of [...this.runListeners]) {
          try {
            fn(last);
          } catch (e) {
            console.error(`panel onRun listener failed: ${messageOf(e)}`);
          }
        }
      }
    } finally {
      this.active = null;
      this.loop = null;
    }
    return last;
  }

  // ---- runs -----------------------------------------------------------------

  private async runProfile(run: number, signal: AbortSignal): Promise<Omit<RunOutcome, "run" | "job" | "seconds">> {
    const checked = await this.readChecked(run, "none");
    if (!("scheme" in checked)) return checked;
    const config = checked;
    const kind = changeKind(this.session.current, config);
    const forced = this.forced;
    this.forced = false;
    if (!forced && kind.kind === "none" && this.lastGood && changeKind(this.lastGood.config, config).kind === "none") {
      return { status: "unchanged", config, action: "none", message: "settings unchanged" };
    }
    const progress = this.progressReporter(run);
    try {
      const { summary, report } = await this.session.underBudget(config, async () => {
        const summary = await this.session.realize(config, signal, (d, t, stage) => progress(d, t, stage));
        this.fitSliders();
        const report = await this.session.profile(config, signal, (d, t, stage) => progress(d, t, stage));
        return { summary, report };
      });
      this.lastGood = { config, report, budgetText: this.controls.budget.value };
      this.draw(report, run);
      const s = report.summary;
      const what = { rebuild: "rebuilt", rehook: "re-hooked", reprofile: "re-profiled", none: "re-profiled" }[summary.action];
      const message =
        `run ${run} (${what}${summary.reasons.length ? `: ${summary.reasons.join("; ")}` : ""}): model memory ${formatBytes(s.modelMemory)}, ` +
        `inference memory ${formatBytes(s.inferenceMemory)}, step ${s.timeMs.toFixed(3)} ms (${report.timeSource}), host→device ${formatBytes(s.h2dBytes)} per step`;
      this.say("status", "ok", message, [describeConfig(config), ...summary.notes], run);
      progress(1, 1, "done", "success");
      return { status: "ok", config, action: summary.action, message, report };
    } catch (e) {
      if (signal.aborted) {
        progress(0, 1, "cancelled: a newer change", "warning");
        return { status: "cancelled", config, action: kind.kind, message: "cancelled by a newer change", error: e as Error };
      }
      return this.fail(run, config, e, kind.kind);
    }
  }

  private async runPlan(run: number, signal: AbortSignal): Promise<Omit<RunOutcome, "run" | "job" | "seconds">> {
    const checked = await this.readChecked(run, "plan");
    if (!("scheme" in checked)) return checked;
    const config = checked;
    const progress = this.progressReporter(run);
    const all = Object.values(this.controls) as Widget[];
    for (const w of all) w.set("disabled", true);
    let trials = 0;
    try {
      // the model must exist (built and casting applied) before planning its placement
      if (!this.session.model || changeKind(this.session.current, config).kind === "rebuild") await this.session.realize({ ...config, budgetBytes: null }, signal);
      progress(0, 1, "planning");
      const plan = await this.session.plan(config, (t) => {
        trials++;
        progress(trials, Math.max(trials + 1, 12), `plan: ${t.label} ${t.fits ? "fits" : "does not fit"}`);
      });
      if (signal.aborted) throw signal.reason;
      const top = `<pre style="font-size:11px">${escapeHtml(plan.table({ top: 5 }))}</pre>`;
      if (!plan.best) {
        await this.restore();
        const message = `nothing fits ${formatBytes(config.budgetBytes!)} on ${config.device} (${plan.trials.length} settings tried); the previous settings and figures are kept. Raise the budget, quantize, or store weights in fp8.`;
        this.say("notice", "error", message, [], run, top);
        progress(0, 1, "plan: nothing fits", "danger");
        return { status: "failed", config, action: "plan", message, plan, error: new PanelConfigError(message) };
      }
      const s = plan.best.setting;
      this.muted = true;
      try {
        this.controls.offloadType.value = s.offloadType;
        if (s.offloadType !== "none") {
          this.controls.useStream.value = s.useStream;
          this.controls.prefetchDepth.value = s.prefetchDepth;
          if (s.offloadType === "block_level") this.controls.numBlocksPerGroup.value = s.numBlocksPerGroup;
        }
      } finally {
        this.muted = false;
      }
      this.plannedResident = s.offloadType === "none" ? [] : [...(s.keepResident ?? [])];
      const message = `plan for ${formatBytes(config.budgetBytes!)}: ${plan.best.label}, predicted peak ${formatBytes(plan.best.peakBytes!)}, step ${plan.best.timeMs!.toFixed(3)} ms`;
      this.say("notice", "ok", message, [], run, top);
      progress(1, 1, "planned", "success");
      // profile the chosen setting next (unless a newer change is already waiting)
      this.next ??= "profile";
      return { status: "ok", config, action: "plan", message, plan };
    } catch (e) {
      if (signal.aborted) {
        progress(0, 1, "plan cancelled: a newer change", "warning");
        return { status: "cancelled", config, action: "plan", message: "plan cancelled by a newer change", error: e as Error };
      }
      return this.fail(run, config, e, "plan");
    } finally {
      for (const w of all) w.set("disabled", false);
      this.syncEnabled();
    }
  }

  /**
   * A failed run: the message goes to the status line, and the model and the controls go back to
   * the last good settings. The budget text stays as typed (plan works to it) unless it was what
   * could not be read.
   */
  private async fail(run: number, config: PanelConfig | null, e: unknown, action: RunOutcome["action"], budgetUnreadable = false): Promise<Omit<RunOutcome, "run" | "job" | "seconds">> {
    const error = e instanceof Error ? e : new Error(String(e));
    let message = messageOf(error);
    if (error.name === "OutOfMemoryError" && config?.budgetBytes != null) {
      message = `out of memory under the ${formatBytes(config.budgetBytes)} budget: ${message} Press "plan" to find an offload setting that fits, or raise the budget.`;
    }
    const restoreError = await this.restore();
    this.revertControls(budgetUnreadable);
    const kept = restoreError !== null
      ? `restoring the previous settings failed too (${restoreError}); the next change sets the model up again`
      : this.lastGood ? `kept the previous settings and figures (${describeConfig(this.lastGood.config)})` : "no earlier run to go back to";
    this.say("status", "error", message, [kept], run);
    this.progressReporter(run)(0, 1, "failed", "danger");
    return { status: "failed", config, action, message, error };
  }

  /** Brings the model back to the last good settings (no profile: its report still holds); returns the error if that fails. */
  private async restore(): Promise<string | null> {
    try {
      if (this.lastGood) await this.session.realize(this.lastGood.config);
      else this.session.unplace();
      return null;
    } catch (e) {
      return messageOf(e);
    }
  }

  /** Reads and checks the controls; a failure is a finished run with its message. */
  private async readChecked(run: number, action: RunOutcome["action"]): Promise<PanelConfig | Omit<RunOutcome, "run" | "job" | "seconds">> {
    let config: PanelConfig;
    try {
      config = this.readControls();
    } catch (e) {
      return this.fail(run, null, e, action, true);
    }
    try {
      return validateConfig(config, this.devices);
    } catch (e) {
      return this.fail(run, config, e, action);
    }
  }

  // ---- widgets ----------------------------------------------------------------

  private readControls(): PanelConfig {
    const c = this.controls;
    return {
      scheme: c.scheme.value!,
      storageDtype: c.storageDtype.value!,
      computeDtype: c.computeDtype.value!,
      offloadType: c.offloadType.value!,
      numBlocksPerGroup: c.numBlocksPerGroup.value,
      useStream: c.useStream.value,
      prefetchDepth: c.prefetchDepth.value,
      device: c.device.value!,
      budgetBytes: parseBytes(c.budget.value),
      keepResident: [...this.plannedResident],
    };
  }

  /** Puts the controls back to the last good settings without starting a run; the budget text only when it could not be read. */
  private revertControls(budgetToo: boolean): void {
    const good = this.lastGood;
    if (!good) {
      if (budgetToo) this.withMuted(() => (this.controls.budget.value = ""));
      return;
    }
    const g = good.config;
    this.withMuted(() => {
      const c = this.controls;
      c.scheme.value = g.scheme;
      c.storageDtype.value = g.storageDtype;
      c.computeDtype.value = g.computeDtype;
      c.offloadType.value = g.offloadType;
      c.numBlocksPerGroup.value = g.numBlocksPerGroup;
      c.useStream.value = g.useStream;
      c.prefetchDepth.value = g.prefetchDepth;
      c.device.value = g.device;
      if (budgetToo) c.budget.value = good.budgetText;
    });
    this.plannedResident = [...g.keepResident];
    this.syncEnabled();
  }

  private withMuted(fn: () => void): void {
    this.muted = true;
    try {
      fn();
    } finally {
      this.muted = false;
    }
  }

  /** Greys out what does not apply to the chosen offload type. */
  private syncEnabled(): void {
    const c = this.controls;
    const type = c.offloadType.value;
    const grouped = type === "block_level" || type === "leaf_level";
    c.numBlocksPerGroup.set("disabled", type !== "block_level");
    c.useStream.set("disabled", !grouped);
    c.prefetchDepth.set("disabled", !(grouped && c.useStream.value));
    c.device.set("disabled", this.devices.length < 2);
    c.plan.set("disabled", !isSimDevice(c.device.value ?? ""));
  }

  /** The blocks-per-group slider goes up to the model's longest block list. */
  private fitSliders(): void {
    const m = this.session.model;
    if (!m) return;
    let longest = 1;
    for (const [, child] of m.namedChildren()) if (child.className === "ModuleList") longest = Math.max(longest, [...child.namedChildren()].length);
    const slider = this.controls.numBlocksPerGroup;
    if (slider.max !== longest && slider.value <= longest) this.withMuted(() => slider.set("max", longest));
  }

  private progressReporter(run: number): (done: number, total: number, stage: string, style?: "success" | "info" | "warning" | "danger") => void {
    let lastSent = 0;
    let lastStage = "";
    return (done, total, stage, style = "info") => {
      const now = performance.now();
      // a new stage and the end always show; counts within a stage at most every PROGRESS_INTERVAL_MS
      const shown = style !== "info" || done === total || stage !== lastStage;
      if (!shown && now - lastSent < PROGRESS_INTERVAL_MS) return;
      lastSent = now;
      lastStage = stage;
      this.progress.set({ max: Math.max(1, total), value: Math.min(done, Math.max(1, total)), description: `run ${run}: ${stage}`, bar_style: style });
    };
  }

  private draw(report: Report, run: number): void {
    const figures = Object.fromEntries(FIGURE_NAMES.map((n) => {
      const f = FIGURE_MAKERS[n](report);
      f.layout.width = this.figureSize.width;
      f.layout.height = this.figureSize.height;
      return [n, f];
    })) as Record<PanelFigureName, Figure>;
    this.figures = figures;
    for (const n of FIGURE_NAMES) {
      this.figureViews[n].value = `<div class="vramlab-panel-figure" data-figure="${n}" data-run="${run}">${figures[n].toSVG()}</div>`;
    }
  }

  private say(where: "status" | "notice", kind: "ok" | "warning" | "error", message: string, details: string[] = [], run = this.runCount, extraHtml = ""): undefined {
    const color = kind === "ok" ? "#1b5e20" : kind === "warning" ? "#8a6d00" : "#b71c1c";
    const body = `<div style="color:${color}">${kind === "error" ? "<b>error:</b> " : ""}${escapeHtml(message)}</div>` +
      details.filter(Boolean).map((d) => `<div style="color:#555;font-size:12px">${escapeHtml(d)}</div>`).join("") + extraHtml;
    this[where].value = `<div class="vramlab-panel-${where}" data-status="${kind}" data-run="${run}">${body}</div>`;
    return undefined;
  }
}

/**
 * The engine control panel: builds the model, profiles it once, and returns the panel (display it
 * as a cell's value). `inputs` is a factory `(model, { device, dtype }) => inputs` (the panel
 * moves what it returns to the device and frees it on rebuild) or fixed inputs on one device.
 */
export async function panel<M extends Module, I>(modelFactory: ModelFactory<M>, inputs: InputsFactory<M, I>, options?: PanelOptions): Promise<Panel<M, I>>;
export async function panel<M extends Module, I>(modelFactory: ModelFactory<M>, inputs: I, options?: PanelOptions): Promise<Panel<M, I>>;
export async function panel<M extends Module, I>(modelFactory: ModelFactory<M>, inputs: InputsFactory<M, I> | I, options: PanelOptions = {}): Promise<Panel<M, I>> {
  const p = new Panel<M, I>(modelFactory, inputs, options);
  await p.refresh();
  return p;
}
