import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { controlBin, eventually, olympusBin, run, startNode, type Started } from "./processes.js";

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
  const started = startNode(olympusBin, ["start", "--config", "zeus.json", "--file-change-delay", "100", ...extraArgs], { cwd: directory });
  await started.waitFor(/master listening on/);
  return started;
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
export async function waitForStates(directory: string, wanted: Record<string, string>, timeoutMs = 15_000): Promise<Map<string, NodeStatus>> {
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
