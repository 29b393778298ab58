// vl.profile(model, inputs, {steps, warmup}): runs warm-up forwards, then
// measured ones with the profiling hook attached, and returns a Report.
//
// What the numbers mean:
// - a step is timed from a device synchronisation to the next, after the
//   forward: on sim that is the modelled time until every stream is idle, on
//   cpu the wall time of the forward;
// - model memory is what the model's weights hold on the device at rest,
//   right before the measured steps (after warm-up, so hooks that learn
//   something on the first forward are in their steady state);
// - inference memory is the device's peak allocation during a step;
// - transfers and the timeline come from the device's modelled spans (a
//   device whose work is not modelled, such as cpu, has none).
import { Tensor } from "../tensor.js";
import { getDevice, type Device, type DeviceSpec } from "../device.js";
import { Model, type Module } from "../module.js";
import { currentStream } from "../stream.js";
import { flattenWeight } from "../weight.js";
import { ModuleProfiler, type ModuleSelection } from "../profiler.js";
import { Report, overlapMs, type LayerRow, type MemoryPoint, type TimelineSpan } from "./report.js";

export interface ProfileOptions {
  /** measured forwards (default 1) */
  steps?: number;
  /** forwards run first and not measured (default 1): group offloading learns its order, caches fill */
  warmup?: number;
  /** the device to profile (default: the device of the first input tensor, else the model's) */
  device?: DeviceSpec;
  /** which module calls become rows (default "blocks": the root's children and the blocks of its lists) */
  layers?: ModuleSelection;
  /** keep the stream timeline's spans (default true; a full-size model at leaf level makes thousands per step) */
  timeline?: boolean;
  /** keep memory over time (default true) */
  memoryTrace?: boolean;
  signal?: AbortSignal;
}

/** Tensors anywhere inside a value (objects, arrays, Maps), each once. */
function tensorsIn(value: unknown, out = new Set<Tensor>(), seen = new Set<object>()): Set<Tensor> {
  if (value instanceof Tensor) out.add(value);
  else if (value && typeof value === "object" && !seen.has(value)) {
    seen.add(value);
    const items = value instanceof Map ? value.values() : Array.isArray(value) ? value : Object.values(value);
    for (const v of items) tensorsIn(v, out, seen);
  }
  return out;
}

/** Bytes of the model's leaf tensors on `device`, each storage once. */
export function weightBytesOn(model: Module, device: Device): number {
  const storages = new Set<object>();
  let n = 0;
  for (const [, w] of model.namedWeights()) {
    for (const [, t] of flattenWeight(w)) {
      if (t.isDisposed || t.device !== device || storages.has(t.storage)) continue;
      storages.add(t.storage);
      n += t.storage.nbytes;
    }
  }
  return n;
}

async function runForward(model: Module, inputs: unknown, signal?: AbortSignal): Promise<unknown> {
  if (model instanceof Model) return model.forward(inputs, { signal });
  return model.call(...(Array.isArray(inputs) ? inputs : [inputs]));
}

function disposeOutput(output: unknown, inputs: Set<Tensor>): void {
  for (const t of tensorsIn(output)) if (!inputs.has(t) && !t.isDisposed) t.dispose();
}

function selectionName(s: ModuleSelection): string {
  return typeof s === "function" ? "custom" : s;
}

function checkCount(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new TypeError(`profile: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/**
 * Profiles `steps` forwards of `model` on `inputs` after `warmup` unmeasured ones. The model runs
 * as it is set up (quantized, cast, offloaded); the profiling hooks are removed afterwards.
 */
export async function profile<I>(model: Module, inputs: I, options: ProfileOptions = {}): Promise<Report> {
  const steps = checkCount("steps", options.steps ?? 1, 1);
  const warmup = checkCount("warmup", options.warmup ?? 1, 0);
  const inputTensors = tensorsIn(inputs);
  const device = options.device !== undefined ? getDevice(options.device) : (inputTensors.values().next().value?.device ?? model.device);
  const selection = options.layers ?? "blocks";
  const timeline = device.timeline;

  for (let i = 0; i < warmup; i++) disposeOutput(await runForward(model, inputs, options.signal), inputTensors);

  device.synchronize();
  const modelMemory = weightBytesOn(model, device);
  const baselineMemory = device.memory.stats().allocated;
  const origin = timeline.hostTimeMs();
  const spans: TimelineSpan[] = [];
  const memory: MemoryPoint[] = [];
  const layers: LayerRow[] = [];
  const stepTimesMs: number[] = [];
  let step = 0;
  let inferenceMemory = 0;
  let inferenceReserved = 0;
  let lastMemoryMs = 0;

  const profiler = new ModuleProfiler(device).attach(model, selection);
  const offSpans = timeline.subscribe((s) => {
    spans.push({
      step, stream: s.stream, streamKind: s.streamKind, resource: s.resource, op: s.op, category: s.category, module: s.module,
      startMs: s.startMs - origin, endMs: s.endMs - origin, bytes: s.bytes, flops: s.flops, bound: s.bound,
    });
  });
  const offMemory = device.memory.subscribe((e) => {
    // stream-ordered time of the event (the host runs ahead of the streams on sim), never decreasing
    lastMemoryMs = Math.max(lastMemoryMs, timeline.eventTimeMs(currentStream(device)) - origin);
    memory.push({ step, timeMs: lastMemoryMs, allocated: e.allocated, change: e.kind === "alloc" ? e.bytes : -e.bytes, owner: e.owner });
  });
  try {
    for (; step < steps; step++) {
      device.synchronize();
      device.memory.resetPeak();
      const first = profiler.records.length;
      const t0 = timeline.hostTimeMs();
      const output = await runForward(model, inputs, options.signal);
      device.synchronize();
      stepTimesMs.push(timeline.hostTimeMs() - t0);
      const stats = device.memory.stats();
      inferenceMemory = Math.max(inferenceMemory, stats.peak);
      inferenceReserved = Math.max(inferenceReserved, stats.peakReserved);
      disposeOutput(output, inputTensors);
      for (const r of profiler.records.slice(first).sort((a, b) => a.index - b.index)) {
        layers.push({
          step, index: r.index, depth: r.depth, name: r.path, className: r.className, storageDtype: r.storageDtype, bytes: r.weightBytes,
          timeMs: r.deviceMs, wallMs: r.wallMs, computeMs: r.computeMs, flops: r.flops, startMs: r.startMs - origin, endMs: r.endMs - origin,
          memoryBefore: r.memoryBefore, memoryAfter: r.memoryAfter, peak: r.peak, peakIncrease: r.peakIncrease,
          h2dBytes: r.h2dBytes, h2dCount: r.h2dCount, h2dMs: r.h2dMs, d2hBytes: r.d2hBytes, d2hCount: r.d2hCount, d2hMs: r.d2hMs,
        });
      }
    }
  } finally {
    offSpans();
    offMemory();
    profiler.detach();
  }

  const perStep = (pick: (s: TimelineSpan) => number, resource?: TimelineSpan["resource"]) =>
    spans.reduce((a, s) => a + (resource === undefined || s.resource === resource ? pick(s) : 0), 0) / steps;
  const h2d = spans.filter((s) => s.resource === "h2d");
  const compute = spans.filter((s) => s.resource === "compute");
  const report = new Report({
    info: {
      device: device.name,
      model: model.className,
      timeSource: timeline.modelled ? "modelled" : "wall",
      steps,
      warmup,
      layerSelection: selectionName(selection),
      stepTimesMs,
      baselineMemory,
      inferenceReserved,
      flops: perStep((s) => s.flops, "compute"),
      computeMs: perStep((s) => s.endMs - s.startMs, "compute"),
      h2dCount: h2d.length / steps,
      d2hBytes: perStep((s) => s.bytes, "d2h"),
      d2hSeconds: perStep((s) => s.endMs - s.startMs, "d2h") / 1e3,
      overlapMs: overlapMs(h2d, compute) / steps,
    },
    summary: {
      modelMemory,
      inferenceMemory,
      timeMs: stepTimesMs.reduce((a, b) => a + b, 0) / steps,
      h2dBytes: perStep((s) => s.bytes, "h2d"),
      h2dSeconds: perStep((s) => s.endMs - s.startMs, "h2d") / 1e3,
    },
    layers,
    timeline: options.timeline === false ? [] : spans,
    memory: options.memoryTrace === false ? [] : memory,
  });
  return report;
}
