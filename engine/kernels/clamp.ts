// torch.clamp on float activations (engine/native/src/clamp.cpp).
import { dtypeCode, type DType } from "../dtype.js";
import { native, type NativeStorage } from "../native-binding.js";

declare module "../native-binding.js" {
  interface NativeBinding {
    clamp(out: NativeStorage, outDtype: number, x: NativeStorage, xDtype: number, n: number, lo: number, hi: number): void;
  }
}

export function clamp(out: NativeStorage, outDtype: DType, x: NativeStorage, xDtype: DType, n: number, lo: number, hi: number): void {
  native.clamp(out, dtypeCode(outDtype), x, dtypeCode(xDtype), n, lo, hi);
}
