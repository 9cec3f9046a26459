import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type ParseError, parseTree } from "jsonc-parser";
import * as z from "../../shared/protocol/zod.js";

/** zeus.json as Zeus wrote it: `command` boots the root; `plan` nests phases (objects) and commands (alias arrays or null). */
const zeusFileSchema = z.object({
  command: z.string().check(z.minLength(1, "expected the command that boots the root worker")),
  plan: z.record(z.string(), z.unknown()),
  /** Olympus's own key: globs of the plan's test files, for `control test`. */
  test_files: z.optional(z.array(z.string().check(z.minLength(1)))),
});

export interface Phase {
  name: string;
  parent: string | null;
}

export interface PlanCommand {
  name: string;
  aliases: string[];
  parent: string;
}

export interface Plan {
  /** The zeus.json it was read from, absolute. */
  path: string;
  /** Shell command that boots the root worker. */
  command: string;
  /** The directory of zeus.json: the workers' working directory. */
  directory: string;
  /** Phases root first, each after its parent. */
  phases: Phase[];
  commands: PlanCommand[];
  /** zeus.json's `test_files` globs, or null for a framework's default. */
  testFiles: string[] | null;
}

/** zeus.json is wrong; the message is one line naming the place in the file. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

const IDENTIFIER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function loadPlan(path: string): Plan {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(
      `${path}: cannot read (${code}) in ${dirname(resolve(path))}; run where zeus.json is, or pass --config PATH`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}:${syntaxErrorPlace(text)}: not valid JSON: ${conciseJsonError(error as Error)}`);
  }
  return parsePlan(json, path);
}

/** `line:column` of the first JSON syntax error: V8's message names only a character offset, and not always. */
function syntaxErrorPlace(text: string): string {
  const errors: ParseError[] = [];
  parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  const offset = errors[0]?.offset ?? text.length;
  const before = text.slice(0, offset).split("\n");
  return `${before.length}:${(before.at(-1)?.length ?? 0) + 1}`;
}

/** V8's message without the offset or the quoted source, which the place replaces. */
function conciseJsonError(error: Error): string {
  return error.message.replace(/ (in JSON )?at position \d+.*$/, "").replace(/, .*" is not valid JSON$/s, "");
}

export function parsePlan(json: unknown, path: string): Plan {
  const parsed = zeusFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const where = issue.path.length === 0 ? "" : ` ${issue.path.join(".")}`;
    throw new ConfigError(`${path}:${where}: ${issue.message}`);
  }
  const plan: Plan = {
    path: resolve(path),
    command: parsed.data.command,
    directory: dirname(resolve(path)),
    phases: [],
    commands: [],
    testFiles: parsed.data.test_files ?? null,
  };
  const roots = Object.keys(parsed.data.plan);
  if (roots.length !== 1)
    throw new ConfigError(`${path}: plan: expected exactly one root phase, found ${roots.length}`);
  const names = new Set<string>();
  const fail = (at: string[], message: string): never => {
    throw new ConfigError(`${path}: plan.${at.join(".")}: ${message}`);
  };

  const walk = (name: string, entry: unknown, parent: string | null, at: string[]) => {
    if (!IDENTIFIER.test(name)) fail(at, "expected a name of letters, digits, '_', '.' or '-'");
    if (names.has(name)) fail(at, `the name ${JSON.stringify(name)} is used twice`);
    names.add(name);
    if (entry === null || Array.isArray(entry)) {
      if (parent === null) fail(at, "expected the root to be a phase (an object), not a command");
      const aliases = (entry ?? []) as unknown[];
      aliases.forEach((alias, index) => {
        if (typeof alias !== "string" || !IDENTIFIER.test(alias))
          fail([...at, String(index)], "expected an alias name");
        if (names.has(alias as string)) fail([...at, String(index)], `the name ${JSON.stringify(alias)} is used twice`);
        names.add(alias as string);
      });
      plan.commands.push({ name, aliases: aliases as string[], parent: parent as string });
    } else if (typeof entry === "object") {
      plan.phases.push({ name, parent });
      for (const [child, value] of Object.entries(entry as Record<string, unknown>))
        walk(child, value, name, [...at, child]);
    } else {
      fail(at, `expected an object (a phase), an array of aliases or null (a command), got ${typeof entry}`);
    }
  };
  const root = roots[0] as string;
  walk(root, parsed.data.plan[root], null, [root]);
  return plan;
}

/** Files whose change makes an app stale though no worker loaded them: lockfiles and the environment. */
const DECLARED_FILES = ["Gemfile.lock", "poetry.lock", "package-lock.json", ".env"];
const REQUIREMENTS = /^requirements.*\.txt$/;

/** The files beside zeus.json the root depends on, whether or not they exist yet. */
export function declaredFiles(plan: Plan): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(plan.directory);
  } catch {
    // An unreadable directory: the root cannot boot there either, and says so.
  }
  return [...DECLARED_FILES, ...entries.filter((name) => REQUIREMENTS.test(name))].map((name) =>
    join(plan.directory, name),
  );
}

/** Two plans that boot the same tree the same way. */
export function samePlan(a: Plan, b: Plan): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
