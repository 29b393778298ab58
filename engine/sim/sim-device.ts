// The "sim" device type: sim:PROFILE is a simulated accelerator with real
// data (cpu kernels) and modelled time and memory; sim:PROFILE:meta is its
// dataless twin (storage is null, as on meta), for planning full-size models:
// shapes, memory and modelled time, no values.
import { Device, registerDeviceType } from "../device.js";
import { ModelledTimeline } from "../stream.js";
import { CostModel } from "./cost-model.js";
import { SimBackend } from "./sim-backend.js";
import { getSimProfile, simProfileNames, type SimProfile } from "./profiles.js";

/** The CUDA caching allocator's rounding: every block is a multiple of 512 bytes. */
export const SIM_ALLOCATION_ALIGNMENT = 512;

export class SimDevice extends Device {
  declare readonly timeline: ModelledTimeline;
  declare readonly backend: SimBackend;
  private limitOverride: number | null = null;

  constructor(readonly profile: SimProfile, readonly dataless: boolean) {
    const name = `sim:${profile.name}${dataless ? ":meta" : ""}`;
    const backend = new SimBackend(new CostModel(profile), dataless);
    super(name, "sim", backend, { alignment: SIM_ALLOCATION_ALIGNMENT, timeline: new ModelledTimeline(name) });
    backend.attach(this);
  }

  get costModel(): CostModel {
    return this.backend.cost;
  }

  /** Bytes available to tensors: device memory less the CUDA context. */
  get capacityBytes(): number {
    return this.profile.memoryBytes.value - this.profile.contextBytes.value;
  }

  /** The limit allocations are checked against: the capacity, or a lower setMemoryLimit(). */
  get memoryLimit(): number {
    return this.limitOverride === null ? this.capacityBytes : Math.min(this.limitOverride, this.capacityBytes);
  }
  /** The setMemoryLimit() value, or null. */
  get memoryLimitOverride(): number | null {
    return this.limitOverride;
  }

  /**
   * Caps the bytes tensors may hold (like torch.cuda.set_per_process_memory_fraction), for
   * budget planning and tests; null restores the full capacity. Live tensors are not touched.
   */
  setMemoryLimit(bytes: number | null): void {
    if (bytes !== null && (!Number.isSafeInteger(bytes) || bytes < 0)) throw new RangeError(`setMemoryLimit: expected a non-negative integer number of bytes or null, got ${bytes}`);
    this.limitOverride = bytes;
  }

  /** Bytes still allocatable under the limit. */
  get freeBytes(): number {
    return Math.max(0, this.memoryLimit - this.memory.stats().reserved);
  }
}

function simFactory(arg: string | undefined): Device {
  if (!arg) {
    throw new TypeError(`"sim" needs a hardware profile: ${simProfileNames().map((n) => `sim:${n}`).join(", ")} (append ":meta" to model time and memory without data)`);
  }
  const parts = arg.split(":");
  if (parts.length > 2 || (parts.length === 2 && parts[1] !== "meta")) {
    throw new TypeError(`"sim:${arg}" is not a device; use "sim:PROFILE" or "sim:PROFILE:meta" (profiles: ${simProfileNames().join(", ")})`);
  }
  return new SimDevice(getSimProfile(parts[0]!), parts.length === 2);
}

/** Registers the "sim" device type (engine/devices.ts calls it after the built-in types). */
export function registerSimDeviceType(): void {
  registerDeviceType("sim", simFactory, `simulated accelerator, sim:PROFILE (${simProfileNames().join(", ")}) or sim:PROFILE:meta without data`);
}
