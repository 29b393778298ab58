// Hooks: every technique (layerwise casting, group offloading, cpu offload,
// profiling) is a named hook in a module's registry. The last registered hook
// is outermost: its preForward runs first and its postForward last, as in
// diffusers' HookRegistry. Hooks can be removed from the middle of a chain.
import type { Module } from "./module.js";

export interface ModelHook {
  /** once, when registered */
  initialize?(module: Module): void;
  /** before forward; may replace the arguments */
  preForward?(module: Module, args: unknown[]): unknown[] | void | Promise<unknown[] | void>;
  /** after forward; may replace the output */
  postForward?(module: Module, output: unknown): unknown | Promise<unknown>;
  /** once, when removed; must undo what initialize did */
  deinitialize?(module: Module): void;
  /** the forward (or a hook inside this one) threw: undo what preForward did; the error propagates */
  onError?(module: Module, error: unknown): void;
  /** clears per-run state (e.g. a learned execution order) */
  resetState?(module: Module): void;
}

export class HookRegistry {
  private readonly entries: { name: string; hook: ModelHook }[] = [];

  constructor(readonly module: Module) {}

  /**
   * Registers a hook as the new outermost one. Techniques whose place in the chain is fixed
   * say so: `innermost` (layerwise casting: upcast what is already on the device) goes inside
   * every other hook, so techniques compose in any order of application.
   */
  register(name: string, hook: ModelHook, options: { position?: "outermost" | "innermost" } = {}): ModelHook {
    if (typeof name !== "string" || !name) throw new TypeError("a hook needs a non-empty name");
    if (this.has(name)) {
      throw new Error(`module ${this.module.path || "<root>"} already has a hook named "${name}"; remove it first (module.hooks.remove("${name}"))`);
    }
    hook.initialize?.(this.module);
    if (options.position === "innermost") this.entries.unshift({ name, hook });
    else this.entries.push({ name, hook });
    return hook;
  }

  has(name: string): boolean {
    return this.entries.some((e) => e.name === name);
  }

  get(name: string): ModelHook | undefined {
    return this.entries.find((e) => e.name === name)?.hook;
  }

  /** Removes a hook wherever it is in the chain; returns whether one was removed. */
  remove(name: string): boolean {
    const i = this.entries.findIndex((e) => e.name === name);
    if (i < 0) return false;
    const [e] = this.entries.splice(i, 1);
    e!.hook.deinitialize?.(this.module);
    return true;
  }

  /** Hook names in registration order (innermost first). */
  names(): string[] {
    return this.entries.map((e) => e.name);
  }

  get size(): number {
    return this.entries.length;
  }

  resetState(): void {
    for (const e of this.entries) e.hook.resetState?.(this.module);
  }

  /** Outermost first. */
  preOrder(): ModelHook[] {
    return this.entries.map((e) => e.hook).reverse();
  }

  /** Innermost first. */
  postOrder(): ModelHook[] {
    return this.entries.map((e) => e.hook);
  }
}
