// vramlab/kernel: the Jupyter kernel (protocol 5.4 over zeromq, TypeScript
// cells through tslab). This entry point grows with the kernel issue; the
// display convention it will honour is fixed already.

/** Objects with a method under this symbol display as the MIME bundle it returns (Deno's convention). */
export const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

export type MimeBundle = Record<string, unknown>;

export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle;
}

export function isDisplayable(x: unknown): x is Displayable {
  return typeof x === "object" && x !== null && typeof (x as Record<symbol, unknown>)[JUPYTER_DISPLAY] === "function";
}
