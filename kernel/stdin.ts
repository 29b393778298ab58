// input(): asks the frontend for a line over the stdin channel
// (input_request / input_reply), addressed to the client whose
// execute_request is running.
import type { IncomingMessage, OutgoingMessage } from "./protocol.js";

export class StdinBridge {
  private request: IncomingMessage | null = null;
  private allowed = false;
  private pending: { resolve(v: string): void; reject(e: Error): void } | null = null;

  constructor(private readonly send: (m: OutgoingMessage) => void) {}

  /** The execute_request now running and whether its frontend accepts input. */
  setRequest(msg: IncomingMessage, allowStdin: boolean): void {
    this.request = msg;
    this.allowed = allowStdin;
  }

  input(prompt: string, password: boolean): Promise<string> {
    if (!this.request) return Promise.reject(new Error("input(): no cell is running"));
    if (!this.allowed) return Promise.reject(new Error("input(): this frontend does not accept input (allow_stdin is false)"));
    if (this.pending) return Promise.reject(new Error("input(): another input() is still waiting for an answer"));
    return new Promise<string>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.send({
        channel: "stdin",
        msg_type: "input_request",
        parent_header: this.request!.header,
        content: { prompt: String(prompt), password },
        identities: this.request!.identities,
      });
    });
  }

  handle(msg: IncomingMessage): void {
    if (msg.header.msg_type !== "input_reply" || !this.pending) return;
    const p = this.pending;
    this.pending = null;
    const value = msg.content.value;
    p.resolve(typeof value === "string" ? value : String(value ?? ""));
  }

  /** Rejects a waiting input() (on interrupt). */
  cancel(reason: Error): void {
    const p = this.pending;
    this.pending = null;
    p?.reject(reason);
  }
}
