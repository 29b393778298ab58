// The engine control panel's settings as plain data: what each control can
// hold, which settings need a rebuilt model and which only new hooks, the
// VRAM budget text ("12 GB", "512 MiB"), and the checks that turn an invalid
// combination into a message before anything is touched.
import { SCHEME_NAMES, type SchemeName } from "../engine/quant/schemes.js";
import { simProfileNames } from "../engine/sim/profiles.js";
import { cudaInfo } from "../engine/devices.js";
import { formatBytes } from "../engine/format.js";

export const OFFLOAD_TYPES = ["none", "block_level", "leaf_level", "model_cpu_offload", "sequential_cpu_offload"] as const;
export type PanelOffloadType = (typeof OFFLOAD_TYPES)[number];

/** Layerwise-casting storage dtypes ("none": weights stay in the compute dtype). */
export const STORAGE_DTYPES = ["none", "float8_e4m3fn", "float8_e5m2", "bfloat16", "float16"] as const;
export type PanelStorageDType = (typeof STORAGE_DTYPES)[number];

export const COMPUTE_DTYPES = ["bfloat16", "float16", "float32"] as const;
export type PanelComputeDType = (typeof COMPUTE_DTYPES)[number];

export type PanelScheme = "none" | SchemeName;
export const PANEL_SCHEMES: readonly PanelScheme[] = ["none", ...SCHEME_NAMES];

/** Everything the panel's controls set. */
export interface PanelConfig {
  scheme: PanelScheme;
  storageDtype: PanelStorageDType;
  computeDtype: PanelComputeDType;
  offloadType: PanelOffloadType;
  /** block_level only */
  numBlocksPerGroup: number;
  /** block_level and leaf_level: prefetch on a copy stream */
  useStream: boolean;
  /** with useStream: groups onloaded ahead */
  prefetchDepth: number;
  /** "cpu", "sim:PROFILE", "sim:PROFILE:meta" or "cuda:N" */
  device: string;
  /** the device's memory limit while the panel profiles (simulated devices); null: the whole device */
  budgetBytes: number | null;
  /** groups kept on the device, as chosen by the plan action; cleared when an offload control changes */
  keepResident: string[];
}

export const DEFAULT_CONFIG: PanelConfig = {
  scheme: "none",
  storageDtype: "none",
  computeDtype: "bfloat16",
  offloadType: "none",
  numBlocksPerGroup: 1,
  useStream: true,
  prefetchDepth: 1,
  device: "sim:h100-sxm",
  budgetBytes: null,
  keepResident: [],
};

/** An invalid setting or combination: the panel shows the message and keeps its previous state. */
export class PanelConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PanelConfigError";
  }
}

/** The devices the panel offers: cpu, every simulated profile (with data and dataless), and CUDA devices found. */
export function defaultDevices(): string[] {
  const sims = simProfileNames();
  const out = ["cpu", ...sims.map((p) => `sim:${p}`), ...sims.map((p) => `sim:${p}:meta`)];
  try {
    const cuda = cudaInfo() as { available?: boolean; deviceCount?: number };
    if (cuda.available) for (let i = 0; i < (cuda.deviceCount ?? 0); i++) out.push(`cuda:${i}`);
  } catch {
    // an addon without CUDA: no cuda devices to offer
  }
  return out;
}

export function isSimDevice(device: string): boolean {
  return device.startsWith("sim:");
}

/** Where a model's weights rest for a compute device: meta for dataless devices, cpu otherwise. */
export function hostDeviceFor(device: string): "cpu" | "meta" {
  return device === "meta" || device.endsWith(":meta") ? "meta" : "cpu";
}

const UNITS: Record<string, number> = {
  "": 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4,
};

/** A byte count from text: "12 GB" (decimal), "11.2 GiB" (binary), "900000"; "" or "none" is no budget (null). */
export function parseBytes(text: string): number | null {
  const s = text.trim().toLowerCase();
  if (s === "" || s === "none" || s === "\u200b") return null;
  const m = /^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)$/.exec(s);
  const unit = m ? UNITS[m[2]!] : undefined;
  if (!m || unit === undefined) {
    throw new PanelConfigError(`VRAM budget "${text}" is not a size; write a number with a unit, e.g. "12 GB", "11.5 GiB" or "512 MiB" (empty for no budget)`);
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw new PanelConfigError(`VRAM budget "${text}" must be a positive size`);
  return bytes;
}

/** The settings that decide how the model is built: changing one means a new model. */
function buildKey(c: PanelConfig): string {
  return JSON.stringify([c.scheme, c.computeDtype, hostDeviceFor(c.device)]);
}

/** The settings that decide where the weights live while the model runs (the offload hooks), irrelevant ones normalized away. */
export function placementKey(c: PanelConfig): string {
  const grouped = c.offloadType === "block_level" || c.offloadType === "leaf_level";
  return JSON.stringify([
    c.device,
    c.offloadType,
    c.offloadType === "block_level" ? c.numBlocksPerGroup : 0,
    grouped ? c.useStream : false,
    grouped && c.useStream ? c.prefetchDepth : 0,
    grouped ? [...c.keepResident].sort() : [],
  ]);
}

/**
 * What going from one configuration to another takes: "rebuild" (scheme, compute dtype, a device
 * on another host, or a storage dtype that replaces or removes one already applied: casting rounds
 * the weights, so only a fresh model gives the exact weights back), "rehook" (offload settings,
 * the device on the same host, casting added), "reprofile" (the budget alone), or "none".
 */
export function changeKind(from: PanelConfig | null, to: PanelConfig): { kind: "rebuild" | "rehook" | "reprofile" | "none"; reasons: string[] } {
  if (!from) return { kind: "rebuild", reasons: ["first run"] };
  const reasons: string[] = [];
  if (from.scheme !== to.scheme) reasons.push(`scheme ${from.scheme} → ${to.scheme}`);
  if (from.computeDtype !== to.computeDtype) reasons.push(`compute dtype ${from.computeDtype} → ${to.computeDtype}`);
  if (hostDeviceFor(from.device) !== hostDeviceFor(to.device)) reasons.push(`weights rest on ${hostDeviceFor(to.device)} instead of ${hostDeviceFor(from.device)}`);
  if (from.storageDtype !== to.storageDtype && from.storageDtype !== "none") reasons.push(`storage dtype ${from.storageDtype} → ${to.storageDtype} (casting rounded the weights)`);
  if (reasons.length) return { kind: "rebuild", reasons };
  if (buildKey(from) !== buildKey(to)) return { kind: "rebuild", reasons: ["model settings changed"] };
  if (from.storageDtype !== to.storageDtype) reasons.push(`storage dtype ${to.storageDtype}`);
  if (placementKey(from) !== placementKey(to)) reasons.push(`placement ${describePlacement(to)}`);
  if (reasons.length) return { kind: "rehook", reasons };
  if (from.budgetBytes !== to.budgetBytes) return { kind: "reprofile", reasons: [`budget ${to.budgetBytes === null ? "none" : formatBytes(to.budgetBytes)}`] };
  return { kind: "none", reasons: [] };
}

export function describePlacement(c: PanelConfig): string {
  switch (c.offloadType) {
    case "none":
      return `resident on ${c.device}`;
    case "model_cpu_offload":
      return `model cpu offload to ${c.device}`;
    case "sequential_cpu_offload":
      return `sequential cpu offload to ${c.device}`;
    default: {
      const base = c.offloadType === "block_level" ? `block_level N=${c.numBlocksPerGroup}` : "leaf_level";
      const stream = c.useStream ? `stream, depth ${c.prefetchDepth}` : "no stream";
      const resident = c.keepResident.length ? `, ${c.keepResident.length} resident` : "";
      return `${base} (${stream}${resident}) on ${c.device}`;
    }
  }
}

/** One line naming every setting, e.g. "int8wo, storage float8_e4m3fn, compute bfloat16, block_level N=2 (stream, depth 1) on sim:h100-sxm". */
export function describeConfig(c: PanelConfig): string {
  const parts = [c.scheme === "none" ? "no quantization" : c.scheme];
  if (c.storageDtype !== "none") parts.push(`storage ${c.storageDtype}`);
  parts.push(`compute ${c.computeDtype}`, describePlacement(c));
  if (c.budgetBytes !== null) parts.push(`budget ${formatBytes(c.budgetBytes)}`);
  return parts.join(", ");
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new PanelConfigError(`${name} must be one of ${allowed.join(", ")}; got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/**
 * Checks a configuration against itself and the offered devices; throws a PanelConfigError saying
 * what is wrong and what to pick instead.
 */
export function validateConfig(c: PanelConfig, devices: readonly string[]): PanelConfig {
  oneOf("scheme", c.scheme, PANEL_SCHEMES);
  oneOf("storage dtype", c.storageDtype, STORAGE_DTYPES);
  oneOf("compute dtype", c.computeDtype, COMPUTE_DTYPES);
  oneOf("offload type", c.offloadType, OFFLOAD_TYPES);
  oneOf("device", c.device, devices);
  if (!Number.isInteger(c.numBlocksPerGroup) || c.numBlocksPerGroup < 1) throw new PanelConfigError(`blocks per group must be a positive integer, got ${c.numBlocksPerGroup}`);
  if (!Number.isInteger(c.prefetchDepth) || c.prefetchDepth < 0) throw new PanelConfigError(`prefetch depth must be a non-negative integer, got ${c.prefetchDepth}`);
  if (c.offloadType !== "none" && (c.device === "cpu" || c.device === "meta")) {
    throw new PanelConfigError(`${c.offloadType} moves weights between the host and an accelerator, but ${c.device} is the host; pick a sim:… or cuda device, or offload type "none"`);
  }
  if (c.budgetBytes !== null && !isSimDevice(c.device)) {
    throw new PanelConfigError(`a VRAM budget is a memory limit on a simulated device; ${c.device} is not one (clear the budget or pick a sim:… device)`);
  }
  if (c.storageDtype !== "none" && c.storageDtype === c.computeDtype) {
    throw new PanelConfigError(`storage dtype ${c.storageDtype} is the compute dtype: layerwise casting would change nothing; pick a smaller storage dtype or "none"`);
  }
  return c;
}
