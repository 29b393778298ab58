// Simulated accelerators: profiles, the cost model and the device type.
export { SimDevice, SIM_ALLOCATION_ALIGNMENT } from "./sim-device.js";
export { SimBackend } from "./sim-backend.js";
export { CostModel, GEMM_HALF_SIZE, MEMORY_RAMP_BYTES, GEMM_CALIBRATION_SIZE, type KernelCost, type KernelTiming, type MathRate } from "./cost-model.js";
export { getSimProfile, simProfileNames, defineSimProfile, type SimProfile, type SimProfileOverrides, type Figure, type Provenance } from "./profiles.js";
export { OutOfMemoryError, type OutOfMemoryDetails } from "./out-of-memory.js";
