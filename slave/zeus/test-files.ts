import { type Dirent, readdirSync } from "node:fs";
import { join } from "node:path";

/** Each framework's usual place for tests; the first that matches any file wins. */
export const DEFAULT_TEST_GLOBS = ["test/**/*_test.rb", "spec/**/*_spec.rb", "tests/**/test_*.py", "**/test_*.py"];

/** Directories no test lives in, and whose size would slow the walk. */
const SKIPPED = new Set(["node_modules", "vendor", "tmp", "log", "__pycache__"]);

/**
 * The test files of a plan, relative to its directory and sorted: those the
 * patterns match (files or globs), else zeus.json's `test_files`, else the
 * first default glob that matches anything.
 */
export function findTestFiles(directory: string, patterns: string[], planGlobs: string[] | null): string[] {
  const files = walk(directory, "");
  const matching = (globs: string[]) => {
    const expressions = globs.map(globToRegExp);
    return files.filter((file) => expressions.some((expression) => expression.test(file)));
  };
  if (patterns.length > 0 || planGlobs !== null) return matching(patterns.length > 0 ? patterns : (planGlobs ?? []));
  for (const glob of DEFAULT_TEST_GLOBS) {
    const found = matching([glob]);
    if (found.length > 0) return found;
  }
  return [];
}

/** `**` spans directories (and none), `*` and `?` stay within one; a leading `./` is dropped. */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  const text = glob.replace(/^\.\//, "");
  for (let index = 0; index < text.length; index++) {
    const char = text[index] as string;
    if (text.startsWith("**/", index)) {
      source += "(?:.*/)?";
      index += 2;
    } else if (text.startsWith("**", index)) {
      source += ".*";
      index += 1;
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/** Every file below `directory`, relative, sorted; dot directories and SKIPPED ones are left out. */
function walk(directory: string, prefix: string): string[] {
  const found: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(join(directory, prefix), { withFileTypes: true });
  } catch {
    return found; // unreadable: no tests there
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!entry.name.startsWith(".") && !SKIPPED.has(entry.name)) found.push(...walk(directory, path));
    } else if (entry.isFile()) found.push(path);
  }
  return found;
}
