import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { controlBin, eventually, olympusBin, run, type Started, startNode } from "./processes.js";

export interface NodeStatus {
  name: string;
  parent: string | null;
  state: string;
  pid: number | null;
  error: string | null;
}

/** A temporary app directory holding the given files. */
export function makeApp(files: Record<string, string>): string {
  const directory = mkdtempSync(join(tmpdir(), "olympus-app-"));
  for (const [name, contents] of Object.entries(files)) writeApp(directory, name, contents);
  return directory;
}

export function writeApp(directory: string, name: string, contents: string): void {
  mkdirSync(dirname(join(directory, name)), { recursive: true });
  writeFileSync(join(directory, name), contents);
}

/** `olympus start` in `directory`, resolved once its master file is written. */
export async function startLocal(directory: string, extraArgs: string[] = []): Promise<Started> {
  const started = startNode(
    olympusBin,
    ["start", "--config", "zeus.json", "--file-change-delay", "100", ...extraArgs],
    { cwd: directory },
  );
  await started.waitFor(/master listening on/);
  return started;
}

/** `olympus start` in `directory`, with the address and token it wrote to .olympus/master.json. */
export async function startOlympus(directory: string, extraArgs: string[] = []) {
  const started = await startLocal(directory, extraArgs);
  const { url, token } = JSON.parse(readFileSync(join(directory, ".olympus", "master.json"), "utf8")) as {
    url: string;
    token: string;
  };
  const httpUrl = url.replace(/^ws/, "http").replace(/api\/socket$/, "");
  return { process: started, url, token, httpUrl, port: Number(new URL(url).port) };
}

/** A small Python plan for the project's shim: boot → work → command `hello`; `work` imports lib.py, the file tests edit. */
export function writePythonApp(): string {
  return makeApp({
    "zeus.json": JSON.stringify({ command: "python3 -m olympus_zeus plan", plan: { boot: { work: { hello: [] } } } }),
    "plan.py": [
      "import os",
      "def boot(): pass",
      "def work(): import lib",
      "def hello():",
      "    import lib",
      '    print(f"{lib.GREETING} from pid {os.getpid()}")',
      "",
    ].join("\n"),
    "lib.py": 'GREETING = "hello"\n',
  });
}

/** `control` run inside the app directory, so it finds `.olympus/master.json`. */
export function controlIn(directory: string, args: string[]) {
  return run(controlBin, args, { cwd: directory });
}

export async function nodes(directory: string): Promise<Map<string, NodeStatus>> {
  const result = await controlIn(directory, ["status", "--json"]);
  if (result.code !== 0) throw new Error(`control status failed: ${result.stderr}`);
  const [tree] = JSON.parse(result.stdout) as { nodes: NodeStatus[] }[];
  return new Map((tree?.nodes ?? []).map((node) => [node.name, node]));
}

/** Waits until every named node is in the given state; returns the last status seen. */
export async function waitForStates(
  directory: string,
  wanted: Record<string, string>,
  timeoutMs = 15_000,
): Promise<Map<string, NodeStatus>> {
  let last = new Map<string, NodeStatus>();
  try {
    await eventually(
      async () => {
        last = await nodes(directory);
        return Object.entries(wanted).every(([name, state]) => last.get(name)?.state === state);
      },
      timeoutMs,
      `states ${JSON.stringify(wanted)}`,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen ${JSON.stringify([...last.values()])}`);
  }
  return last;
}

/**
 * Waits until each of `restarted` runs under a new pid and every node of
 * `ready` (by default the restarted ones) is ready; returns the status then.
 */
export async function waitForRestart(
  directory: string,
  before: Map<string, NodeStatus>,
  restarted: string[],
  ready: string[] = restarted,
  timeoutMs = 30_000,
): Promise<Map<string, NodeStatus>> {
  let now = before;
  await eventually(
    async () => {
      now = await nodes(directory);
      return (
        restarted.every((name) => now.get(name)?.pid !== before.get(name)?.pid) &&
        ready.every((name) => now.get(name)?.state === "ready")
      );
    },
    timeoutMs,
    `${restarted.join(", ")} to restart`,
  );
  return now;
}
