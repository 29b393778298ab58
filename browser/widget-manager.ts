// ipywidgets' HTML manager connected to a live kernel ("web3" example
// pattern): comms go over @jupyterlab/services' KernelConnection, so
// front-end changes reach the kernel and kernel updates reach the views.
// Adds the Output widget's capture, anywidget ESM models and plotly figures.
import * as base from "@jupyter-widgets/base";
import { HTMLManager } from "@jupyter-widgets/html-manager";
import type { Kernel, KernelMessage } from "@jupyterlab/services";
import type { JSONObject } from "@lumino/coreutils";
import { LiveOutputModel } from "./live-output-model.js";
import { ANYWIDGET_MODULE, loadAnywidget } from "./anywidget-loader.js";
import { plotlyRendererFactory } from "./plotly-renderer.js";

export class LiveWidgetManager extends HTMLManager {
  constructor(readonly kernel: Kernel.IKernelConnection) {
    super({
      loader: async (moduleName: string, moduleVersion: string) => {
        if (moduleName === ANYWIDGET_MODULE) return loadAnywidget();
        throw new Error(`the vramlab live page has no widget module ${moduleName}@${moduleVersion} (it has @jupyter-widgets/base, controls, output and anywidget)`);
      },
    });
    this.renderMime.addFactory(plotlyRendererFactory, 10);
    kernel.registerCommTarget(this.comm_target_name, async (comm: Kernel.IComm, msg: KernelMessage.ICommOpenMsg) => {
      await this.handle_comm_open(new base.shims.services.Comm(comm), msg);
    });
  }

  protected override async loadClass(className: string, moduleName: string, moduleVersion: string): Promise<typeof base.WidgetModel | typeof base.WidgetView> {
    if (moduleName === "@jupyter-widgets/output" && className === "OutputModel") return LiveOutputModel as unknown as typeof base.WidgetModel;
    return super.loadClass(className, moduleName, moduleVersion);
  }

  override async _create_comm(targetName: string, modelId?: string, data?: JSONObject, metadata?: JSONObject, buffers?: ArrayBuffer[] | ArrayBufferView[]): Promise<base.IClassicComm> {
    const comm = this.kernel.createComm(targetName, modelId);
    if (data || metadata) comm.open(data ?? {}, metadata, buffers);
    return new base.shims.services.Comm(comm);
  }

  override async _get_comm_info(): Promise<{}> {
    const reply = await this.kernel.requestCommInfo({ target_name: this.comm_target_name });
    return reply.content.status === "ok" ? reply.content.comms : {};
  }

  /** After a page reload: the kernel's live widgets, through jupyter.widget.control's request_states. */
  restoreFromKernel(): Promise<void> {
    return this._loadFromKernel();
  }
}
