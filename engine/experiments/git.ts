// The git commit of a working folder, read from .git directly (HEAD, loose
// refs, packed-refs; worktrees and submodules whose .git is a file), so it
// works without the git program. Whether the tree has uncommitted changes
// needs git itself; without it `dirty` is null. Outside a repository the
// state is null: recording an experiment never fails for lack of git.
import { existsSync, readFileSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, isAbsolute, join, resolve } from "node:path";

export interface GitState {
  /** the repository's top folder */
  root: string;
  /** the checked-out commit (40 hex digits), null in a repository with no commits yet */
  commit: string | null;
  /** the branch, null when HEAD is detached */
  branch: string | null;
  /** tracked files changed since the commit; null when the git program is not available */
  dirty: boolean | null;
}

function findDotGit(start: string): { root: string; dotGit: string } | null {
  let dir = resolve(start);
  for (;;) {
    const dotGit = join(dir, ".git");
    if (existsSync(dotGit)) return { root: dir, dotGit };
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** The git directory (.git itself, or where a "gitdir: ..." file points) and the common directory holding refs. */
function gitDirs(dotGit: string): { gitDir: string; commonDir: string } {
  let gitDir = dotGit;
  if (statSync(dotGit).isFile()) {
    const m = /^gitdir:\s*(.+?)\s*$/m.exec(readFileSync(dotGit, "utf8"));
    if (!m) throw new Error(`${dotGit} is a file without a "gitdir:" line`);
    gitDir = isAbsolute(m[1]!) ? m[1]! : resolve(dirname(dotGit), m[1]!);
  }
  const commonFile = join(gitDir, "commondir");
  const commonDir = existsSync(commonFile) ? resolve(gitDir, readFileSync(commonFile, "utf8").trim()) : gitDir;
  return { gitDir, commonDir };
}

function resolveRef(ref: string, gitDir: string, commonDir: string): string | null {
  for (const dir of [gitDir, commonDir]) {
    const file = join(dir, ref);
    if (existsSync(file)) {
      const text = readFileSync(file, "utf8").trim();
      if (text.startsWith("ref:")) return resolveRef(text.slice(4).trim(), gitDir, commonDir);
      if (/^[0-9a-f]{40,64}$/.test(text)) return text;
    }
  }
  const packed = join(commonDir, "packed-refs");
  if (existsSync(packed)) {
    for (const line of readFileSync(packed, "utf8").split("\n")) {
      const [hash, name] = line.trim().split(/\s+/);
      if (name === ref && hash && /^[0-9a-f]{40,64}$/.test(hash)) return hash;
    }
  }
  return null;
}

function isDirty(root: string): boolean | null {
  const r = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, encoding: "utf8", timeout: 5000, stdio: ["ignore", "pipe", "ignore"] });
  if (r.error || r.status !== 0) return null;
  return r.stdout.trim() !== "";
}

/** The repository state of `folder` (or of the repository it is inside), or null outside a repository or when .git cannot be read. */
export function gitState(folder: string): GitState | null {
  const found = findDotGit(folder);
  if (!found) return null;
  try {
    const { gitDir, commonDir } = gitDirs(found.dotGit);
    const head = readFileSync(join(gitDir, "HEAD"), "utf8").trim();
    let commit: string | null;
    let branch: string | null = null;
    if (head.startsWith("ref:")) {
      const ref = head.slice(4).trim();
      branch = ref.replace(/^refs\/heads\//, "");
      commit = resolveRef(ref, gitDir, commonDir);
    } else commit = /^[0-9a-f]{40,64}$/.test(head) ? head : null;
    return { root: found.root, commit, branch, dirty: commit === null ? null : isDirty(found.root) };
  } catch {
    return null;
  }
}
