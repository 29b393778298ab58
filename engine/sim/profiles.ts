// Hardware profiles for simulated accelerators. Every figure says where it
// comes from: the vendor datasheet (dense peaks, no sparsity), a measurement
// on this workplace's lent machines, a measurement published elsewhere, or an
// assumption. Sources: shared/hardware-profiles.md.

/** Where a number comes from. */
export type Provenance = "datasheet" | "measured" | "measured-elsewhere" | "assumed" | "user";

export interface Figure {
  value: number;
  source: Provenance;
  note?: string;
}

export interface SimProfile {
  name: string;
  description: string;
  /** device memory as the driver reports it (nvidia-smi's total) */
  memoryBytes: Figure;
  /** taken by the CUDA context and driver before any tensor is allocated */
  contextBytes: Figure;
  /** peak device-memory bandwidth, bytes/s */
  memoryBandwidth: Figure;
  /** fraction of memoryBandwidth a large streaming kernel achieves (bytes read + written) */
  memoryEfficiency: Figure;
  /** dense matmul peaks, FLOP/s (int8: OP/s); fp8 null where there are no fp8 tensor cores */
  matmulPeak: { fp32: Figure; bf16: Figure; fp8: Figure | null; int8: Figure };
  /** fraction of the peak a large (8192^3) GEMM achieves; the shape-dependent efficiency is scaled to hit it */
  matmulEfficiency: Figure;
  /** host<->device copy rate from/to pinned host memory, bytes/s per direction */
  hostLinkPinned: Figure;
  /** host<->device copy rate from/to pageable host memory, bytes/s per direction */
  hostLinkPageable: Figure;
  /** per-kernel (and per-copy) fixed cost: launch and ramp, seconds */
  launchOverhead: Figure;
}

const MiB = 1024 * 1024;
const T = 1e12;
const G = 1e9;

const CONTEXT: Figure = { value: 512 * MiB, source: "assumed", note: "CUDA context + driver reservation, typically 0.3-0.6 GiB" };
const LAUNCH: Figure = { value: 4e-6, source: "assumed", note: "eager PyTorch per-kernel cost for back-to-back small kernels" };
const H100_MEM_EFF: Figure = { value: 3.0 / 3.35, source: "measured", note: "device-to-device copy ~3.0 TB/s (bytes read + written) on the lent H100" };
const H100_GEMM_EFF: Figure = { value: 798 / 989, source: "measured", note: "bf16 8192^3 matmul 798 TFLOP/s on the lent H100" };
const MEM_EFF_ASSUMED: Figure = { value: H100_MEM_EFF.value, source: "assumed", note: "the H100's measured fraction (3.0 of 3.35 TB/s)" };
const GEMM_EFF_ASSUMED: Figure = { value: H100_GEMM_EFF.value, source: "assumed", note: "the H100's measured fraction (798 of 989 TFLOP/s)" };
const PCIE4_PINNED: Figure = { value: 25 * G, source: "assumed", note: "PCIe 4 x16 (31.5 GB/s theoretical); 24-26 GB/s measured on an RTX 4090 (nvbandwidth#15)" };
const PCIE4_PAGEABLE: Figure = { value: 12.5 * G, source: "assumed", note: "about half the pinned rate (driver bounce buffer)" };
const PCIE5_PINNED: Figure = { value: 50 * G, source: "assumed", note: "PCIe 5 x16 (63 GB/s theoretical); copy-engine ~50-55 GB/s commonly quoted, not verified; SM copies 35 GB/s (nvbandwidth#24)" };
const PCIE5_PAGEABLE: Figure = { value: 25 * G, source: "assumed", note: "about half the pinned rate (driver bounce buffer)" };

const builtin: SimProfile[] = [
  {
    name: "h100-sxm",
    description: "NVIDIA H100 SXM 80GB HBM3",
    memoryBytes: { value: 81559 * MiB, source: "assumed", note: "nvidia-smi total commonly shown for H100 80GB HBM3" },
    contextBytes: CONTEXT,
    memoryBandwidth: { value: 3.35 * T, source: "datasheet" },
    memoryEfficiency: H100_MEM_EFF,
    matmulPeak: {
      fp32: { value: 67 * T, source: "datasheet", note: "non-tensor-core FP32 (TF32 off, PyTorch's default for matmul)" },
      bf16: { value: 989 * T, source: "datasheet" },
      fp8: { value: 1979 * T, source: "datasheet" },
      int8: { value: 1979 * T, source: "datasheet" },
    },
    matmulEfficiency: H100_GEMM_EFF,
    hostLinkPinned: PCIE5_PINNED,
    hostLinkPageable: PCIE5_PAGEABLE,
    launchOverhead: LAUNCH,
  },
  {
    name: "h200",
    description: "NVIDIA H200 SXM 141GB HBM3e",
    memoryBytes: { value: 143771 * MiB, source: "assumed", note: "nvidia-smi total commonly shown for H200" },
    contextBytes: CONTEXT,
    memoryBandwidth: { value: 4.8 * T, source: "datasheet" },
    memoryEfficiency: { value: 4.3 / 4.8, source: "measured", note: "device-to-device copy ~4.3 TB/s on the lent H200" },
    matmulPeak: {
      fp32: { value: 67 * T, source: "datasheet" },
      bf16: { value: 989 * T, source: "datasheet" },
      fp8: { value: 1979 * T, source: "datasheet" },
      int8: { value: 1979 * T, source: "datasheet" },
    },
    matmulEfficiency: { value: 798 / 989, source: "measured", note: "bf16 matmul 769-798 TFLOP/s on the lent H200" },
    hostLinkPinned: PCIE5_PINNED,
    hostLinkPageable: PCIE5_PAGEABLE,
    launchOverhead: LAUNCH,
  },
  {
    name: "a100-80g",
    description: "NVIDIA A100 SXM 80GB HBM2e",
    memoryBytes: { value: 81920 * MiB, source: "assumed", note: "nvidia-smi total commonly shown for A100 80GB" },
    contextBytes: CONTEXT,
    memoryBandwidth: { value: 2.039 * T, source: "datasheet" },
    memoryEfficiency: MEM_EFF_ASSUMED,
    matmulPeak: {
      fp32: { value: 19.5 * T, source: "datasheet" },
      bf16: { value: 312 * T, source: "datasheet" },
      fp8: null,
      int8: { value: 624 * T, source: "datasheet" },
    },
    matmulEfficiency: GEMM_EFF_ASSUMED,
    hostLinkPinned: PCIE4_PINNED,
    hostLinkPageable: PCIE4_PAGEABLE,
    launchOverhead: LAUNCH,
  },
  {
    name: "rtx4090",
    description: "NVIDIA GeForce RTX 4090 24GB GDDR6X",
    memoryBytes: { value: 24564 * MiB, source: "assumed", note: "nvidia-smi total commonly shown for the RTX 4090" },
    contextBytes: CONTEXT,
    memoryBandwidth: { value: 1.008 * T, source: "datasheet" },
    memoryEfficiency: MEM_EFF_ASSUMED,
    matmulPeak: {
      fp32: { value: 82.6 * T, source: "datasheet" },
      bf16: { value: 165.2 * T, source: "datasheet", note: "fp32 accumulate" },
      fp8: { value: 330.3 * T, source: "datasheet", note: "fp32 accumulate" },
      int8: { value: 660.6 * T, source: "datasheet" },
    },
    matmulEfficiency: GEMM_EFF_ASSUMED,
    hostLinkPinned: { value: 25 * G, source: "measured-elsewhere", note: "pinned 24-26 GB/s (nvbandwidth#15)" },
    hostLinkPageable: PCIE4_PAGEABLE,
    launchOverhead: LAUNCH,
  },
  {
    name: "l4",
    description: "NVIDIA L4 24GB GDDR6",
    memoryBytes: { value: 23034 * MiB, source: "assumed", note: "nvidia-smi total commonly shown for the L4 (ECC on)" },
    contextBytes: CONTEXT,
    memoryBandwidth: { value: 0.3 * T, source: "datasheet" },
    memoryEfficiency: MEM_EFF_ASSUMED,
    matmulPeak: {
      fp32: { value: 30.3 * T, source: "datasheet" },
      bf16: { value: 121 * T, source: "datasheet" },
      fp8: { value: 242 * T, source: "datasheet" },
      int8: { value: 242 * T, source: "datasheet" },
    },
    matmulEfficiency: GEMM_EFF_ASSUMED,
    hostLinkPinned: PCIE4_PINNED,
    hostLinkPageable: PCIE4_PAGEABLE,
    launchOverhead: LAUNCH,
  },
];

const profiles = new Map<string, SimProfile>(builtin.map((p) => [p.name, p]));

/** Names of the known profiles, built-in first. */
export function simProfileNames(): string[] {
  return [...profiles.keys()];
}

/** A profile by name; unknown names list the known ones. */
export function getSimProfile(name: string): SimProfile {
  const p = profiles.get(name.trim().toLowerCase());
  if (!p) {
    const known = [...profiles.values()].map((q) => `${q.name} (${q.description})`).join(", ");
    throw new TypeError(`unknown sim profile "${name}"; known profiles: ${known}. Use "sim:PROFILE", or "sim:PROFILE:meta" to run without data.`);
  }
  return p;
}

type FigureInput = number | Figure;
export interface SimProfileOverrides {
  description?: string;
  memoryBytes?: FigureInput;
  contextBytes?: FigureInput;
  memoryBandwidth?: FigureInput;
  memoryEfficiency?: FigureInput;
  matmulPeak?: Partial<Record<"fp32" | "bf16" | "int8", FigureInput>> & { fp8?: FigureInput | null };
  matmulEfficiency?: FigureInput;
  hostLinkPinned?: FigureInput;
  hostLinkPageable?: FigureInput;
  launchOverhead?: FigureInput;
}

function figure(v: FigureInput, what: string): Figure {
  const f = typeof v === "number" ? { value: v, source: "user" as const } : v;
  if (!Number.isFinite(f.value) || f.value < 0) throw new RangeError(`sim profile: ${what} must be a non-negative number, got ${f.value}`);
  return f;
}

/**
 * Registers a profile: a built-in one with some figures changed (plain numbers are labelled
 * "user"), e.g. defineSimProfile("h100-12g", {base: "h100-sxm", memoryBytes: 12 * 2**30}).
 * Names are lowercase letters, digits, '-', '_' and '.'; built-in profiles cannot be replaced.
 */
export function defineSimProfile(name: string, overrides: SimProfileOverrides & { base?: string }): SimProfile {
  const key = name.trim().toLowerCase();
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(key) || key === "meta") throw new TypeError(`sim profile name "${name}" must be lowercase letters, digits, '.', '_' or '-', and not "meta"`);
  if (builtin.some((p) => p.name === key)) throw new TypeError(`"${key}" is a built-in profile; give the variant its own name`);
  const base = getSimProfile(overrides.base ?? "h100-sxm");
  const o = overrides;
  const peaks = base.matmulPeak;
  const p: SimProfile = {
    name: key,
    description: o.description ?? `${base.description} (modified)`,
    memoryBytes: o.memoryBytes !== undefined ? figure(o.memoryBytes, "memoryBytes") : base.memoryBytes,
    contextBytes: o.contextBytes !== undefined ? figure(o.contextBytes, "contextBytes") : base.contextBytes,
    memoryBandwidth: o.memoryBandwidth !== undefined ? figure(o.memoryBandwidth, "memoryBandwidth") : base.memoryBandwidth,
    memoryEfficiency: o.memoryEfficiency !== undefined ? figure(o.memoryEfficiency, "memoryEfficiency") : base.memoryEfficiency,
    matmulPeak: {
      fp32: o.matmulPeak?.fp32 !== undefined ? figure(o.matmulPeak.fp32, "fp32 peak") : peaks.fp32,
      bf16: o.matmulPeak?.bf16 !== undefined ? figure(o.matmulPeak.bf16, "bf16 peak") : peaks.bf16,
      fp8: o.matmulPeak && "fp8" in o.matmulPeak ? (o.matmulPeak.fp8 === null || o.matmulPeak.fp8 === undefined ? null : figure(o.matmulPeak.fp8, "fp8 peak")) : peaks.fp8,
      int8: o.matmulPeak?.int8 !== undefined ? figure(o.matmulPeak.int8, "int8 peak") : peaks.int8,
    },
    matmulEfficiency: o.matmulEfficiency !== undefined ? figure(o.matmulEfficiency, "matmulEfficiency") : base.matmulEfficiency,
    hostLinkPinned: o.hostLinkPinned !== undefined ? figure(o.hostLinkPinned, "hostLinkPinned") : base.hostLinkPinned,
    hostLinkPageable: o.hostLinkPageable !== undefined ? figure(o.hostLinkPageable, "hostLinkPageable") : base.hostLinkPageable,
    launchOverhead: o.launchOverhead !== undefined ? figure(o.launchOverhead, "launchOverhead") : base.launchOverhead,
  };
  for (const [what, f] of [["memoryEfficiency", p.memoryEfficiency], ["matmulEfficiency", p.matmulEfficiency]] as const) {
    if (f.value <= 0 || f.value > 1) throw new RangeError(`sim profile ${key}: ${what} must be in (0, 1], got ${f.value}`);
  }
  for (const [what, f] of [["memoryBandwidth", p.memoryBandwidth], ["hostLinkPinned", p.hostLinkPinned], ["hostLinkPageable", p.hostLinkPageable], ["bf16 peak", p.matmulPeak.bf16], ["fp32 peak", p.matmulPeak.fp32], ["int8 peak", p.matmulPeak.int8]] as const) {
    if (f.value <= 0) throw new RangeError(`sim profile ${key}: ${what} must be positive`);
  }
  if (p.contextBytes.value >= p.memoryBytes.value) throw new RangeError(`sim profile ${key}: contextBytes (${p.contextBytes.value}) must be below memoryBytes (${p.memoryBytes.value})`);
  const existing = profiles.get(key);
  if (existing && JSON.stringify(existing) !== JSON.stringify(p)) {
    throw new TypeError(`sim profile "${key}" is already defined with other figures; devices made from it would disagree. Pick a new name.`);
  }
  profiles.set(key, p);
  return p;
}
