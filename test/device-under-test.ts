// Which device the engine tests run on. VRAMLAB_TEST_DEVICE picks it:
//   unset or "cpu"  - the cpu backend (default; accelerator tests use the simulated H100)
//   "cuda" / "cuda:N" - a real GPU: tensors and accelerator-side work go to cuda:N
// A test imports TEST_DEVICE for its tensors and TEST_ACCELERATOR where it
// needs an accelerator (offloading onto it). Asking for cuda on a machine
// without a usable GPU fails at import with the reason, never silently on cpu.
import * as vl from "../engine/index.js";

const requested = (process.env.VRAMLAB_TEST_DEVICE ?? "cpu").trim().toLowerCase();

function resolve(): { device: string; accelerator: string } {
  if (requested === "" || requested === "cpu") return { device: "cpu", accelerator: "sim:h100-sxm" };
  if (requested === "cuda" || /^cuda:\d+$/.test(requested)) {
    const name = requested === "cuda" ? "cuda:0" : requested;
    try {
      vl.getDevice(name);
    } catch (e) {
      throw new Error(`VRAMLAB_TEST_DEVICE=${requested}: ${(e as Error).message}`);
    }
    return { device: name, accelerator: name };
  }
  throw new Error(`VRAMLAB_TEST_DEVICE=${requested} is not supported; use "cpu" (default) or "cuda" / "cuda:N"`);
}

const chosen = resolve();
/** Where tests put their tensors: "cpu", or "cuda:N" under VRAMLAB_TEST_DEVICE=cuda. */
export const TEST_DEVICE: string = chosen.device;
/** The accelerator offloading/casting tests load onto: "sim:h100-sxm", or the GPU. */
export const TEST_ACCELERATOR: string = chosen.accelerator;
/** True when the tests run on a real GPU. */
export const ON_GPU: boolean = TEST_DEVICE.startsWith("cuda");

/** vl.tensor on the device under test. */
export function testTensor(data: Parameters<typeof vl.tensor>[0], options: Parameters<typeof vl.tensor>[1] = {}): vl.Tensor {
  return vl.tensor(data, { device: TEST_DEVICE, ...options });
}
