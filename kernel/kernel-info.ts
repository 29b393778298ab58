// kernel_info_reply content: who the kernel is and the language it runs.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PROTOCOL_VERSION, type JsonObject } from "./protocol.js";
import { packageRoot } from "./resolution.js";

const require = createRequire(import.meta.url);

function versionOf(pkgJson: string): string {
  try {
    return (JSON.parse(readFileSync(pkgJson, "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function kernelInfo(): JsonObject {
  const version = versionOf(join(packageRoot(), "package.json"));
  let tsVersion = "unknown";
  try {
    tsVersion = versionOf(require.resolve("@tslab/typescript-for-tslab/package.json"));
  } catch {
    // reported as unknown
  }
  return {
    status: "ok",
    protocol_version: PROTOCOL_VERSION,
    implementation: "vramlab",
    implementation_version: version,
    language_info: {
      name: "typescript",
      version: tsVersion,
      mimetype: "text/typescript",
      file_extension: ".ts",
      pygments_lexer: "typescript",
      // JupyterLab reads the mode's name; the classic notebook needs typescript: true as well.
      codemirror_mode: { name: "javascript", typescript: true },
    },
    banner: `vramlab ${version}: TypeScript ${tsVersion} on Node ${process.version}`,
    help_links: [],
    debugger: false,
  };
}
