// A small model for profiler, figure and timeline tests: `blocks` Linear
// [width -> width] blocks and an optional Linear head, seeded weights.
import * as vl from "../engine/index.js";

export class LinearStack extends vl.Model<vl.Tensor, vl.Tensor> {
  private readonly hasHead: boolean;
  constructor(options: { device: vl.DeviceSpec; width: number; blocks: number; out?: number }) {
    super();
    const f: vl.nn.ParamFactory = { device: vl.getDevice(options.device), dtype: "float32", init: "random", seed: 4 };
    const list = this.registerModule("blocks", new vl.nn.ModuleList());
    for (let i = 0; i < options.blocks; i++) list.append(new vl.nn.Linear(options.width, options.width, true, f, `blocks.${i}`));
    this.hasHead = options.out !== undefined;
    if (options.out !== undefined) this.registerModule("head", new vl.nn.Linear(options.width, options.out, true, f, "head"));
  }
  protected override async compute(x: vl.Tensor): Promise<vl.Tensor> {
    let h = x;
    for (const [, block] of this.child("blocks").namedChildren()) {
      const next = (await block.call(h)) as vl.Tensor;
      if (h !== x) h.dispose();
      h = next;
    }
    if (!this.hasHead) return h;
    const out = (await this.child("head").call(h)) as vl.Tensor;
    if (h !== x) h.dispose();
    return out;
  }
}
