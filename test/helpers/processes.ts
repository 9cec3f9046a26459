import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const projectRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const olympusBin = fileURLToPath(new URL("../../bin/olympus.js", import.meta.url));
export const controlBin = fileURLToPath(new URL("../../bin/control.cjs", import.meta.url));
export const zeusBin = fileURLToPath(new URL("../../bin/zeus.cjs", import.meta.url));

/** A child process whose output is kept, with a way to wait for a line. */
export class Started {
  /** stdout and stderr as they came, interleaved; and each apart. */
  output = "";
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly child: ChildProcess,
    keepOutput = true,
  ) {
    if (keepOutput) {
      child.stdout?.on("data", (chunk: Buffer) => {
        this.output += chunk.toString();
        this.stdout += chunk.toString();
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        this.output += chunk.toString();
        this.stderr += chunk.toString();
      });
    }
    this.exited = once(child, "exit").then(([code, signal]) => ({ code, signal }));
  }

  /** Resolves with the first match of `pattern` in the output so far or to come. */
  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = this.output.match(pattern);
        if (match === null) return false;
        cleanup();
        resolve(match);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern} in:\n${this.output}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout?.off("data", check);
        this.child.stderr?.off("data", check);
      };
      if (check()) return;
      this.child.stdout?.on("data", check);
      this.child.stderr?.on("data", check);
    });
  }

  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

/** Every process a test starts, so `stopAll` leaves no orphan behind. */
const running = new Set<Started>();

/** Starts a process whose output is kept, unless `keepOutput` is false (a benchmark counting bytes reads it itself). */
export function start(
  command: string,
  args: string[],
  { keepOutput = true, ...options }: SpawnOptions & { keepOutput?: boolean } = {},
): Started {
  const started = new Started(spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options }), keepOutput);
  running.add(started);
  void started.exited.then(() => running.delete(started));
  return started;
}

export function startNode(script: string, args: string[], options: Parameters<typeof start>[2] = {}): Started {
  return start(process.execPath, [script, ...args], options);
}

/** SIGTERM, so the process can clean up its own children, then SIGKILL after 3 s if it has not gone. */
export async function stop(started: Started): Promise<void> {
  const stubborn = setTimeout(() => started.child.kill("SIGKILL"), 3000);
  await started.kill("SIGTERM");
  clearTimeout(stubborn);
}

/** Stops every process started here and not yet gone. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map(stop));
}

/** Runs a CLI to completion. */
export async function run(
  script: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"], ...options });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = await once(child, "exit");
  return { code, stdout, stderr };
}

/** Polls `probe` until it returns true; the deadlines are generous, for a busy machine, since they only bound a failure. */
export async function eventually(
  probe: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Live (not zombie) processes whose working directory is `directory`: the workers and commands of an app. */
export function processesIn(directory: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === directory && isAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return pids;
}

/** The argv of a live process, or null once it is gone. */
export function argvOf(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, -1);
  } catch {
    return null;
  }
}

/** Every process below `pid`, found through /proc's children lists. */
export function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    let children: number[] = [];
    try {
      for (const task of readdirSync(`/proc/${next}/task`)) {
        children.push(
          ...readFileSync(`/proc/${next}/task/${task}/children`, "utf8").split(" ").filter(Boolean).map(Number),
        );
      }
    } catch {
      children = []; // gone while we looked
    }
    found.push(...children);
    queue.push(...children);
  }
  return found;
}

/** Running, not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "")[0] !== "Z";
  } catch {
    return false;
  }
}
