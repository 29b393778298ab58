// The browser tests need dist/browser (the live page and the TimelineWidget's
// ES module), which the package build makes; this builds it (type-checking
// browser/ first) when it is missing or older than a browser/ source.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { packageRoot } from "../kernel/kernel-client.js";

export async function ensureBrowserBundle(): Promise<void> {
  const root = packageRoot();
  const outputs = ["live.js", "live.css", "timeline-widget.js"].map((f) => join(root, "dist", "browser", f));
  const sources = readdirSync(join(root, "browser")).map((f) => statSync(join(root, "browser", f)).mtimeMs);
  const newest = Math.max(...sources, statSync(join(root, "scripts", "build-browser-live.mjs")).mtimeMs);
  if (outputs.every((f) => existsSync(f) && statSync(f).mtimeMs >= newest)) return;
  const { buildBrowserLive } = await import(pathToFileURL(join(root, "scripts", "build-browser-live.mjs")).href);
  await buildBrowserLive({ quiet: true });
}
