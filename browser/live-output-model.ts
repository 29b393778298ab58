// The Output widget connected to a live kernel, as JupyterLab's widget
// manager does it: while the kernel sets msg_id (the request whose output
// it captures), iopub output of that request goes into the widget instead of
// the cell. html-manager's own OutputModel only shows static `outputs`.
import { OutputModel } from "@jupyter-widgets/html-manager/lib/output";
import type { Kernel, KernelMessage } from "@jupyterlab/services";
import type { IOutput } from "@jupyterlab/nbformat";

type Hook = (msg: KernelMessage.IIOPubMessage) => boolean;

export class LiveOutputModel extends OutputModel {
  private hook: { msgId: string; fn: Hook } | null = null;

  override initialize(attributes: any, options: any): void {
    super.initialize(attributes, options);
    this.listenTo(this, "change:msg_id", this.onMsgId);
  }

  private get kernel(): Kernel.IKernelConnection | undefined {
    return (this.widget_manager as unknown as { kernel?: Kernel.IKernelConnection }).kernel;
  }

  private onMsgId(): void {
    const kernel = this.kernel;
    if (this.hook && kernel) kernel.removeMessageHook(this.hook.msgId, this.hook.fn);
    this.hook = null;
    const msgId = this.get("msg_id") as string;
    if (!msgId || !kernel) return;
    const fn: Hook = (msg) => {
      const type = msg.header.msg_type;
      if (type === "clear_output") {
        this.clear_output((msg.content as KernelMessage.IClearOutputMsg["content"]).wait);
        return false;
      }
      if (type === "stream" || type === "display_data" || type === "execute_result" || type === "error") {
        this.outputs.add({ ...(msg.content as object), output_type: type } as IOutput);
        return false;
      }
      return true;
    };
    kernel.registerMessageHook(msgId, fn);
    this.hook = { msgId, fn };
  }
}
