// Registers the built-in device types: cpu, meta, cuda:N (a real GPU, where
// the addon was built with nvcc and the driver reports one) and sim:PROFILE.
import { Device, registerDeviceType } from "./device.js";
import { HostBackend } from "./backends/cpu.js";
import { MetaBackend } from "./backends/meta.js";
import { CudaDevice } from "./backends/cuda.js";
import { native } from "./native-binding.js";
import { registerSimDeviceType } from "./sim/sim-device.js";

registerDeviceType("cpu", (arg) => {
  if (arg !== undefined && arg !== "0") throw new TypeError(`there is one cpu device; use "cpu", not "cpu:${arg}"`);
  return new Device("cpu", "cpu", new HostBackend());
}, "host memory, native CPU kernels");

registerDeviceType("meta", (arg) => {
  if (arg !== undefined) throw new TypeError(`use "meta", not "meta:${arg}"`);
  return new Device("meta", "meta", new MetaBackend());
}, "shapes and bytes only");

registerDeviceType("cuda", (arg) => {
  const index = arg === undefined ? 0 : Number(arg);
  if (!Number.isInteger(index) || index < 0) throw new TypeError(`"cuda:${arg}" is not a device; use "cuda" or "cuda:N"`);
  const info = native.cudaInfo();
  if (!info.available) throw new Error(`cuda:${index} is not available: ${info.reason ?? "no CUDA device"}. Use "cpu", "meta" or a simulated device.`);
  if (index >= info.deviceCount) throw new Error(`cuda:${index} does not exist: this machine has ${info.deviceCount} CUDA device(s)`);
  const props = info.devices?.[index];
  if (!props) throw new Error(`cuda:${index}: the driver did not report its properties`);
  return new CudaDevice(index, props);
}, "NVIDIA GPU");

registerSimDeviceType();

export function cudaInfo() {
  return native.cudaInfo();
}
