// vramlab's engine: `import * as vl from "vramlab"`.
// (No top-level await anywhere in the entry points: tslab loads them through require().)
import "./devices.js";
import { native } from "./native-binding.js";
import * as ops from "./ops/index.js";
import * as nn from "./nn/index.js";
import * as models from "./models/index.js";

export { ops, nn, models };
export { Tensor, Storage } from "./tensor.js";
export { DTYPES, dtypeInfo, byteSize, isDType, type DType, type DTypeInfo } from "./dtype.js";
export { Device, getDevice, getDevice as device, listDevices, registerDeviceType, type DeviceSpec, type DeviceType } from "./device.js";
export { fusedOp, type Backend, type BinaryOp, type UnaryOp, type FusedOp, type TransferInfo } from "./backend.js";
export { Stream, Event, withStream, currentStream, traceSpans, ModelledTimeline, WallClockTimeline, type StreamKind, type Span, type SpanCategory, type Timeline, type Resource, type SyncMode } from "./stream.js";
export { hostMemory, resetHostMemoryPeak, type HostMemoryStats } from "./host-memory.js";
export * as sim from "./sim/index.js";
export { SimDevice, OutOfMemoryError, getSimProfile, simProfileNames, defineSimProfile, type SimProfile } from "./sim/index.js";
export { cudaInfo } from "./devices.js";
export { MemoryTracker, type MemoryStats, type OwnerBytes, type MemoryEvent } from "./memory.js";
export { memory, resetPeakMemory, memoryByOwner, hostCache, emptyCache } from "./memory-api.js";
export type { HostCacheStats } from "./native-binding.js";
export { scope, tidy, keep, untracked } from "./scope.js";
export { AbortedError } from "./context.js";
export { Module, Model, type RunOptions } from "./module.js";
export { HookRegistry, type ModelHook } from "./hooks.js";
export { tensor, zeros, ones, full, randn, rand, Random } from "./ops/creation.js";
export { cast, clone, copyInto, readBytes, type ToOptions } from "./ops/transfer.js";
export { loadModel, saveModel } from "./io/model-io.js";

/** Threads the CPU kernels use (default: all cores, or VRAMLAB_NUM_THREADS). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}
/** Which CPU kernel level runs here (avx512, avx2 or portable). */
export function cpuInfo() {
  return native.cpuInfo();
}
export { ModuleProfiler, type ModuleCallRecord } from "./profiler.js";
export { formatBytes, formatTable } from "./format.js";
export { flattenWeight, rebuildWeight, mapWeight, isTensorSubclass, weightBytes, weightNumel, type Weight, type TensorSubclass } from "./weight.js";
export * as quant from "./quant/index.js";
export { quantize, quantizeTensor, autoquant, QTensor, sqnrDb, type SchemeName } from "./quant/index.js";
export { applyLayerwiseCasting, removeLayerwiseCasting, DEFAULT_SKIP_MODULES_PATTERN, LAYERWISE_CASTING_HOOK, type LayerwiseCastingOptions, type LayerwiseCastingSummary } from "./techniques/layerwise-casting.js";
export { exportOnnx, onnxFeeds, type OnnxExportOptions, type OnnxExport, type OnnxFeed, type OnnxInputInfo, type OnnxValueInfo, type OnnxExportSummary } from "./io/onnx-export.js";
export { applyGroupOffloading, removeGroupOffloading, GROUP_OFFLOADING_HOOK, WeightGroup, type GroupOffloadingOptions, type GroupOffloadingSummary } from "./techniques/group-offloading.js";
export { applyModelCpuOffload, applySequentialCpuOffload, removeModelCpuOffload, MODEL_CPU_OFFLOAD_HOOK, type CpuOffloadOptions } from "./techniques/cpu-offload.js";
export { moduleSelector, PROFILER_HOOK, type ModuleSelection } from "./profiler.js";
export { profile, type ProfileOptions } from "./profile/profile.js";
export { Report, fromCSV as reportFromCSV, type ReportSummary, type ReportInfo, type ReportData, type ReportFigures, type ReportTable, type LayerRow, type TimelineSpan, type MemoryPoint, type TimeSource } from "./profile/report.js";
export { planOffload, applyOffloadSetting, defaultOffloadCandidates, describeSetting, OffloadPlan, type OffloadSetting, type PlanTrial, type PlanOffloadOptions } from "./profile/planner.js";
export * as experiments from "./experiments/index.js";
export { experiment } from "./experiments/index.js";
export { CudaDevice, cudaMemoryInfo } from "./backends/cuda.js";
