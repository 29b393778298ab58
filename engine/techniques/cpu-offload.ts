// Model-level and sequential CPU offload (diffusers' enable_model_cpu_offload
// and enable_sequential_cpu_offload), in the group-offloading options style.
// Model-level: the whole model comes to the device for its forward and goes
// back after. Sequential: one leaf at a time, synchronously (leaf-level
// group offloading without streams: the lowest memory, the slowest).
import type { Module } from "../module.js";
import type { ModelHook } from "../hooks.js";
import { getDevice, type DeviceSpec } from "../device.js";
import { untracked } from "../scope.js";
import { to as moveTensor } from "../ops/transfer.js";
import { flattenWeight, mapWeight } from "../weight.js";
import { WeightGroup, applyGroupOffloading, GROUP_OFFLOADING_HOOK, type GroupOffloadingSummary } from "./group-offloading.js";

export const MODEL_CPU_OFFLOAD_HOOK = "model_cpu_offload";

export interface CpuOffloadOptions {
  onloadDevice: DeviceSpec;
  offloadDevice?: DeviceSpec;
}

class ModelOffloadHook implements ModelHook {
  constructor(private readonly group: WeightGroup) {}
  preForward(): void {
    this.group.onload();
  }
  postForward(_m: Module, output: unknown): unknown {
    this.group.offload();
    return output;
  }
  onError(): void {
    this.group.offload();
  }
  deinitialize(): void {
    this.group.offload();
  }
}

function checkFree(module: Module): void {
  for (const [path, m] of module.namedModules()) {
    if (m.hooks.has(MODEL_CPU_OFFLOAD_HOOK) || m.hooks.has(GROUP_OFFLOADING_HOOK)) {
      throw new Error(`${path || "<root>"} is already offloaded; remove that offloading before applying another (they would move the same weights)`);
    }
  }
}

/** The whole model onloaded for each forward, offloaded after. Returns the bytes that move per forward. */
export function applyModelCpuOffload(module: Module, options: CpuOffloadOptions): { bytes: number } {
  const onload = getDevice(options.onloadDevice);
  const offload = getDevice(options.offloadDevice ?? "cpu");
  if (onload === offload) throw new Error(`model cpu offload: onloadDevice and offloadDevice are both ${onload.name}`);
  checkFree(module);
  for (const [, m] of module.namedModules()) {
    for (const [, w, , owner, local] of m.namedWeights("", false)) {
      if (flattenWeight(w).every(([, t]) => t.device === offload)) continue;
      owner.setTensor(local, untracked(() => mapWeight(w, (t) => moveTensor(t, offload))));
      w.dispose();
    }
  }
  const group = new WeightGroup("<model>", [...module.namedModules()].map(([, m]) => m), onload);
  module.hooks.register(MODEL_CPU_OFFLOAD_HOOK, new ModelOffloadHook(group));
  return { bytes: group.bytes };
}

/** One leaf at a time, synchronously: diffusers' sequential cpu offload. */
export function applySequentialCpuOffload(module: Module, options: CpuOffloadOptions): GroupOffloadingSummary {
  checkFree(module);
  return applyGroupOffloading(module, { onloadDevice: options.onloadDevice, offloadDevice: options.offloadDevice, offloadType: "leaf_level", useStream: false });
}

export function removeModelCpuOffload(module: Module): boolean {
  return module.hooks.remove(MODEL_CPU_OFFLOAD_HOOK);
}
