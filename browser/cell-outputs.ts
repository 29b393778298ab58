// The outputs of one cell, rendered with the widget manager's rendermime
// registry (widget views, plotly figures, SVG, HTML, images, text). Outputs
// that carry a display_id are registered page-wide, so update_display_data
// redraws them in place, even when the update comes from a widget callback.
import { MimeModel, type IRenderMimeRegistry } from "@jupyterlab/rendermime";
import type { IRenderMime } from "@jupyterlab/rendermime-interfaces";
import { Widget } from "@lumino/widgets";
import type { KernelMessage } from "@jupyterlab/services";

type Bundle = Record<string, unknown>;

interface RenderedOutput {
  host: HTMLElement;
  mimeType: string;
  renderer: IRenderMime.IRenderer;
}

/** display_id -> every output showing it */
export class DisplayRegistry {
  private readonly byId = new Map<string, Set<RenderedOutput>>();

  add(id: string, out: RenderedOutput): void {
    if (!this.byId.has(id)) this.byId.set(id, new Set());
    this.byId.get(id)!.add(out);
  }

  async update(id: string, data: Bundle, metadata: Bundle, rendermime: IRenderMimeRegistry): Promise<number> {
    const outs = this.byId.get(id);
    if (!outs) return 0;
    for (const out of outs) {
      const mimeType = rendermime.preferredMimeType(data as never, "any");
      if (!mimeType) continue;
      if (mimeType !== out.mimeType) {
        // a different kind of output: a new renderer in the same place
        out.renderer.dispose();
        out.renderer = rendermime.createRenderer(mimeType);
        out.mimeType = mimeType;
        Widget.attach(out.renderer, out.host);
      }
      await out.renderer.renderModel(new MimeModel({ data: data as never, metadata: metadata as never, trusted: true }));
    }
    return outs.size;
  }
}

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

export class CellOutputs {
  private lastStream: { name: string; pre: HTMLPreElement } | null = null;
  private clearPending = false;

  constructor(readonly node: HTMLElement, private readonly rendermime: IRenderMimeRegistry, private readonly displays: DisplayRegistry) {}

  clear(): void {
    for (const child of [...this.node.children]) child.remove();
    this.lastStream = null;
  }

  async add(msg: KernelMessage.IIOPubMessage): Promise<void> {
    const type = msg.header.msg_type;
    if (type === "clear_output") {
      if ((msg.content as { wait?: boolean }).wait) this.clearPending = true;
      else this.clear();
      return;
    }
    if (!["stream", "display_data", "execute_result", "error"].includes(type)) return;
    if (this.clearPending) {
      this.clearPending = false;
      this.clear();
    }
    if (type === "stream") {
      const { name, text } = msg.content as KernelMessage.IStreamMsg["content"];
      if (!this.lastStream || this.lastStream.name !== name) {
        const pre = document.createElement("pre");
        pre.className = `vl-stream vl-${name}`;
        this.node.appendChild(pre);
        this.lastStream = { name, pre };
      }
      this.lastStream.pre.textContent += text;
      return;
    }
    this.lastStream = null;
    if (type === "error") {
      const { ename, evalue, traceback } = msg.content as KernelMessage.IErrorMsg["content"];
      const pre = document.createElement("pre");
      pre.className = "vl-error";
      pre.textContent = (traceback?.length ? traceback.join("\n") : `${ename}: ${evalue}`).replace(ANSI, "");
      this.node.appendChild(pre);
      return;
    }
    const content = msg.content as { data: Bundle; metadata?: Bundle; transient?: { display_id?: string } };
    const host = document.createElement("div");
    host.className = "vl-output";
    this.node.appendChild(host);
    const mimeType = this.rendermime.preferredMimeType(content.data as never, "any");
    if (!mimeType) {
      host.textContent = `(no renderer for ${Object.keys(content.data).join(", ")})`;
      return;
    }
    host.dataset.mimeType = mimeType;
    const renderer = this.rendermime.createRenderer(mimeType);
    Widget.attach(renderer, host);
    await renderer.renderModel(new MimeModel({ data: content.data as never, metadata: (content.metadata ?? {}) as never, trusted: true }));
    const id = content.transient?.display_id;
    if (id) {
      host.dataset.displayId = id;
      this.displays.add(id, { host, mimeType, renderer });
    }
  }
}
