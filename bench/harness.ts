/**
 * What bench/restart, bench/command-latency and bench/pty-throughput share:
 * temp apps, `olympus start` in a temp directory, and clean-up that ends
 * every process a benchmark started (also on error or ^C). Each worker pid
 * the agent ever reported is remembered; one still alive after `olympus`
 * exited is killed and reported as a leftover (that would be an Olympus bug).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OlympusClient, resolveMaster } from "../control/client/client.js";
import { nodeStateEvent } from "../shared/protocol/messages.js";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const olympusBin = join(repoRoot, "dist/bin/olympus.js");
export const controlBin = join(repoRoot, "dist/bin/control.cjs");

export const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

const cleanups: (() => void | Promise<void>)[] = [];
/** Processes we spawned ourselves, killed by `process.on("exit")` if all else failed. */
const spawned = new Set<ChildProcess>();

/** Runs `action` at clean-up time, last registered first. */
export function onCleanup(action: () => void | Promise<void>): void {
  cleanups.push(action);
}

export function track(child: ChildProcess): ChildProcess {
  spawned.add(child);
  child.once("exit", () => spawned.delete(child));
  return child;
}

let cleaning: Promise<void> | null = null;
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()?.();
      } catch (error) {
        console.error(`bench clean-up: ${(error as Error).message}`);
      }
    }
    for (const child of spawned) child.kill("SIGKILL");
  })();
  return cleaning;
}

/** Runs the benchmark, then always cleans up and exits (1 on error). */
export async function main(body: () => Promise<void>): Promise<never> {
  process.on("exit", () => {
    for (const child of spawned) child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      console.error(`bench: ${signal}, cleaning up`);
      void cleanup().then(() => process.exit(130));
    });
  }
  let code = 0;
  try {
    await body();
  } catch (error) {
    console.error(`bench failed: ${(error as Error).stack ?? error}`);
    code = 1;
  }
  await cleanup();
  process.exit(code);
}

export function tempDir(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), `olympus-bench-${prefix}-`));
  onCleanup(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

/** A temp app with a Python plan: zeus.json plus the given files. */
export function pythonApp(prefix: string, plan: object, files: Record<string, string>): string {
  const directory = tempDir(prefix);
  writeFileSync(
    join(directory, "zeus.json"),
    `${JSON.stringify({ command: "python3 -m olympus_zeus plan", plan }, null, 2)}\n`,
  );
  for (const [name, text] of Object.entries(files)) writeFileSync(join(directory, name), text);
  return directory;
}

export interface RunningOlympus {
  child: ChildProcess;
  directory: string;
  /** Every line `olympus start` printed. */
  log: string[];
  /** Every worker pid the agent reported so far. */
  pids: Set<number>;
}

/**
 * `olympus start --config zeus.json` in `directory` (so .olympus/ goes there);
 * resolves once every node of the plan is ready.
 */
export async function startOlympus(
  directory: string,
  extraArgs: string[] = [],
  timeoutMs = 60_000,
): Promise<RunningOlympus> {
  const child = track(
    spawn(process.execPath, [olympusBin, "start", "--config", "zeus.json", ...extraArgs], {
      cwd: directory,
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  const running: RunningOlympus = { child, directory, log: [], pids: new Set() };
  for (const stream of [child.stdout, child.stderr])
    stream?.on("data", (chunk: Buffer) => running.log.push(...chunk.toString().trimEnd().split("\n")));
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code, signal) =>
      reject(new Error(`olympus start exited (${signal ?? code}):\n${running.log.join("\n")}`)),
    ),
  );
  exited.catch(() => {});
  onCleanup(() => stopOlympus(running));

  const started = Date.now();
  let watcher: OlympusClient | null = null;
  while (watcher === null) {
    if (Date.now() - started > timeoutMs) throw new Error(`olympus start did not come up:\n${running.log.join("\n")}`);
    try {
      watcher = await Promise.race([
        OlympusClient.connect(resolveMaster({}, directory), {
          agent: "bench pid recorder",
          setup: (link) => link.onEvent(nodeStateEvent, ({ node }) => node.pid !== null && running.pids.add(node.pid)),
        }),
        exited,
      ]);
    } catch (error) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`olympus start exited (${child.signalCode ?? child.exitCode}):\n${running.log.join("\n")}`);
      }
      if (!/no master given/.test((error as Error).message))
        running.log.push(`bench: connecting: ${(error as Error).message}`);
      await sleep(50);
    }
  }
  const client = watcher;
  onCleanup(() => client.close());
  await client.watch();
  for (;;) {
    const trees = await client.status();
    for (const node of trees.flatMap((tree) => tree.nodes)) if (node.pid !== null) running.pids.add(node.pid);
    const nodes = trees.flatMap((tree) => tree.nodes);
    const crashed = nodes.find((node) => node.state === "crashed");
    if (crashed !== undefined) throw new Error(`${crashed.name} crashed: ${crashed.error}`);
    if (nodes.length > 0 && nodes.every((node) => node.state === "ready")) return running;
    if (Date.now() - started > timeoutMs)
      throw new Error(`the plan did not boot within ${timeoutMs} ms:\n${running.log.join("\n")}`);
    await sleep(50);
  }
}

/** SIGTERM, then SIGKILL after 3 s; then any worker still alive is killed and reported. */
async function stopOlympus(running: RunningOlympus): Promise<void> {
  const { child } = running;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
  await sleep(1000); // DESIGN: workers are gone within a second of the agent
  const left = [...running.pids].filter(isWorkerAlive);
  for (const pid of left) {
    console.error(`bench: worker pid ${pid} outlived olympus start; killing it`);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

/** Alive, and still a worker of the Python shim or the Zeus gem (not a reused pid). */
function isWorkerAlive(pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/\) Z /.test(status)) return false;
    return /olympus_zeus|^zeus (slave|runner|command):/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return false;
  }
}

/** Load averages, for the notes under a table: the machine may be shared. */
export function loadNote(when: string): string {
  return `Load average ${when}: ${loadavg()
    .map((value) => value.toFixed(2))
    .join(", ")}.`;
}

/** Spawns a process to completion; resolves with its wall time in ms (from spawn to exit) and output. */
export function timed(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = track(
      spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] }),
    );
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    let ms = 0;
    child.once("exit", () => (ms = performance.now() - began));
    child.once("error", reject);
    child.once("close", (code) => resolve({ ms, code, stdout, stderr }));
  });
}
