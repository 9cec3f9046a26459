import { closeSync } from "node:fs";
import { FdStream, watchProcessExit } from "./native/index.js";
import type { TreeNode } from "./process-tree.js";
import type { WorkerSocket } from "./worker-socket.js";

/**
 * One boot of one node: the process, its socket, its feature pipe and its
 * timers. A node gets a new Worker on every boot, so events from an older
 * boot are recognised and ignored.
 */
export class Worker {
  socket: WorkerSocket | null = null;
  pid: number | null = null;
  /** Modern workers send a feature pipe right after `P:`. */
  expectsFeaturePipe = false;
  private featurePipe: FdStream | null = null;
  private exitWatch: { close(): void } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;

  constructor(readonly node: TreeNode) {}

  /** Runs `onTimeout` unless the timer is cleared or replaced first. */
  setTimer(milliseconds: number, onTimeout: () => void): void {
    this.clearTimer();
    this.timer = setTimeout(onTimeout, milliseconds);
  }

  clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Learns of the process's death from a pidfd: a DGRAM socket never reports EOF. */
  watchExit(pid: number, onExit: () => void): void {
    this.pid = pid;
    this.exitWatch = watchProcessExit(pid, onExit);
  }

  /** Reads the feature pipe line by line. */
  readFeatures(fd: number, onPath: (path: string) => void): void {
    if (this.disposed) return closeSync(fd);
    let partial = "";
    const pipe = new FdStream(fd);
    pipe.on("data", (data) => {
      const lines = (partial + data.toString("utf8")).split("\n");
      partial = lines.pop() as string;
      for (const line of lines) if (line !== "") onPath(line);
    });
    pipe.on("end", () => pipe.close());
    pipe.on("error", () => pipe.close());
    pipe.resume();
    this.featurePipe = pipe;
  }

  /** Stops listening and, with a signal, kills the process. */
  dispose(signal: NodeJS.Signals | null): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearTimer();
    this.exitWatch?.close();
    this.socket?.close();
    if (this.featurePipe !== null && !this.featurePipe.closed) this.featurePipe.close();
    if (signal !== null && this.pid !== null) killQuietly(this.pid, signal);
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}
