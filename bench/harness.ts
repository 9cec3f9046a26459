/**
 * What the benchmarks share beyond the tests' process helpers
 * (test/helpers/processes.ts, which start and stop every process here too):
 * temp apps, `olympus start` in a temp directory with its workers' pids
 * recorded, and clean-up that ends every process a benchmark started (also on
 * error or ^C). A worker still alive after `olympus` exited is killed and
 * reported as a leftover (that would be an Olympus bug).
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { OlympusClient, resolveMaster } from "../control/client/client.js";
import { nodeStateEvent } from "../shared/protocol/messages.js";
import { eventually, olympusBin, type Started, start, startNode, stop, stopAll } from "../test/helpers/processes.js";

const cleanups: (() => void | Promise<void>)[] = [];

/** Runs `action` at clean-up time, last registered first. */
export function onCleanup(action: () => void | Promise<void>): void {
  cleanups.push(action);
}

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()?.();
      } catch (error) {
        console.error(`bench clean-up: ${(error as Error).message}`);
      }
    }
    await stopAll();
  })();
  return cleaning;
}

/** Runs the benchmark, then always cleans up and exits (1 on error). */
export async function main(body: () => Promise<void>): Promise<never> {
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

/** A temp app whose one command does nothing: for benchmarks that exec programs through Olympus. */
export function noopApp(prefix: string): string {
  return pythonApp(prefix, { boot: { noop: [] } }, { "plan.py": "def boot():\n    pass\n\ndef noop():\n    pass\n" });
}

/** A temp file of `megabytes` MiB of random bytes, written a MiB at a time; returns its path. */
export function randomFile(prefix: string, megabytes: number): string {
  const path = join(tempDir(prefix), "random.bin");
  const fd = openSync(path, "w");
  for (let written = 0; written < megabytes; written++) writeSync(fd, randomBytes(1024 * 1024));
  closeSync(fd);
  return path;
}

export interface RunningOlympus {
  started: Started;
  directory: string;
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
  const started = startNode(olympusBin, ["start", "--config", "zeus.json", ...extraArgs], { cwd: directory });
  const running: RunningOlympus = { started, directory, pids: new Set() };
  onCleanup(() => stopOlympus(running));
  const gone = () => started.child.exitCode !== null || started.child.signalCode !== null;
  const failed = (why: string) => new Error(`${why}:\n${started.output}`);

  await started.waitFor(/master listening on/, timeoutMs).catch(() => {
    throw failed("olympus start did not come up");
  });
  const client = await OlympusClient.connect(resolveMaster({}, directory), {
    agent: "bench pid recorder",
    setup: (link) => link.onEvent(nodeStateEvent, ({ node }) => node.pid !== null && running.pids.add(node.pid)),
  });
  onCleanup(() => client.close());
  await client.watch();
  await eventually(
    async () => {
      if (gone()) throw failed(`olympus start exited (${started.child.signalCode ?? started.child.exitCode})`);
      const nodes = (await client.status()).flatMap((tree) => tree.nodes);
      for (const node of nodes) if (node.pid !== null) running.pids.add(node.pid);
      const crashed = nodes.find((node) => node.state === "crashed");
      if (crashed !== undefined) throw failed(`${crashed.name} crashed: ${crashed.error}`);
      return nodes.length > 0 && nodes.every((node) => node.state === "ready");
    },
    timeoutMs,
    "every phase of the plan to be ready",
  );
  return running;
}

/** Stops `olympus start`; then any worker still alive is killed and reported. */
async function stopOlympus(running: RunningOlympus): Promise<void> {
  await stop(running.started);
  // Workers follow their agent within a second; one still here after that is reported.
  await eventually(() => ![...running.pids].some(isWorkerAlive), 1000, "the workers to follow olympus start").catch(
    () => {},
  );
  for (const pid of [...running.pids].filter(isWorkerAlive)) {
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

/** Runs a process to completion; resolves with its wall time in ms (from spawn to exit), exit code and output. */
export async function timed(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<{ ms: number; code: number | null; output: string }> {
  const began = performance.now();
  const started = start(file, args, options);
  // The last output may come after the exit; and 'close' may come in the same tick as 'exit', before `exited` resolves.
  const closed = once(started.child, "close");
  const { code } = await started.exited;
  const ms = performance.now() - began;
  await closed;
  return { ms, code, output: started.output };
}
