// Linking widget values. jslink/jsdlink make a LinkModel/DirectionalLinkModel
// that the frontend runs (works with no kernel round trip, and in exported
// pages); link/dlink are kernel-side observers (they can transform values).
import { Widget } from "./widget.js";
import { SchemaWidget } from "./schema-widget.js";

/** A widget and one of its observable names, e.g. [slider, "value"]. */
export type LinkEnd = readonly [widget: Widget, name: string];

function checkEnd(what: string, end: LinkEnd, synced: boolean): void {
  if (!Array.isArray(end) || end.length !== 2 || !(end[0] instanceof Widget) || typeof end[1] !== "string") {
    throw new TypeError(`${what}: each end must be [widget, "name"], got ${String(end)}`);
  }
  const [w, name] = end;
  // the frontend links state keys; kernel links may also use derived names such as a Dropdown's value
  if (synced ? !w.has(name) : !w.has(name) && !(name in w)) throw new TypeError(`${what}: ${w.modelName} has no ${synced ? "state key" : "value"} "${name}"`);
}

/** Links two widget attributes in the frontend, both ways (LinkModel). close() the link to undo it. */
export function jslink(source: LinkEnd, target: LinkEnd): SchemaWidget {
  checkEnd("jslink()", source, true);
  checkEnd("jslink()", target, true);
  return new SchemaWidget("LinkModel", { source: [...source], target: [...target] });
}

/** Copies source to target in the frontend, one way (DirectionalLinkModel). */
export function jsdlink(source: LinkEnd, target: LinkEnd): SchemaWidget {
  checkEnd("jsdlink()", source, true);
  checkEnd("jsdlink()", target, true);
  return new SchemaWidget("DirectionalLinkModel", { source: [...source], target: [...target] });
}

function read(end: LinkEnd): unknown {
  return (end[0] as unknown as Record<string, unknown>)[end[1]];
}

function write(end: LinkEnd, value: unknown): void {
  (end[0] as unknown as Record<string, unknown>)[end[1]] = value;
}

/** Keeps target equal to transform(source) in the kernel, starting now. Returns a function that unlinks. */
export function dlink<T, U = T>(source: LinkEnd, target: LinkEnd, transform: (v: T) => U = (v) => v as unknown as U): () => void {
  checkEnd("dlink()", source, false);
  checkEnd("dlink()", target, false);
  write(target, transform(read(source) as T));
  return source[0].observe<T>(source[1], (c) => write(target, transform(c.new)));
}

/** Keeps two attributes equal in the kernel, both ways (target takes source's value first). Returns a function that unlinks. */
export function link(source: LinkEnd, target: LinkEnd): () => void {
  checkEnd("link()", source, false);
  checkEnd("link()", target, false);
  let busy = false;
  const copy = (to: LinkEnd) => (c: { new: unknown }) => {
    if (busy) return; // the other side's observer fired because of this copy
    busy = true;
    try {
      write(to, c.new);
    } finally {
      busy = false;
    }
  };
  write(target, read(source));
  const a = source[0].observe(source[1], copy(target));
  const b = target[0].observe(target[1], copy(source));
  return () => {
    a();
    b();
  };
}
