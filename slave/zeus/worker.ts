import { closeSync } from "node:fs";
import { FdStream, watchProcessExit } from "../native/index.js";
import { killQuietly } from "../quietly.js";
import type { TreeNode } from "./process-tree.js";
import type { WorkerSocket } from "./worker-socket.js";

/** Zeus's two protocol generations: classic (gem ≤ 0.13) and modern (the gem since). */
export type Generation = "classic" | "modern";

/**
 * One boot of one node: the process, its socket, its feature pipe and its
 * timers. A node gets a new Worker on every boot, so events from an older
 * boot are recognised and ignored.
 */
export class Worker {
  socket: WorkerSocket | null = null;
  pid: number | null = null;
  /** Known from the worker's `P:` message: `P:<pid>:<parent pid>:<identifier>` is modern. */
  generation: Generation = "modern";
  /** Modern workers send a feature pipe right after `P:`. */
  expectsFeaturePipe = false;
  private featurePipe: FdStream | null = null;
  private exitWatch: { close(): void } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;
  /** Runners are asked for one at a time, so each arriving socket is known to be the next one's. */
  private runnerQueue: Promise<unknown> = Promise.resolve();
  private runnerWaiter: ((fd: number) => void) | null = null;

  constructor(readonly node: TreeNode) {}

  /** Sends `C:<command>` and resolves with the socket the forked runner sends back. */
  requestRunner(command: string, timeoutMs: number): Promise<number> {
    const next = this.runnerQueue.then(
      () =>
        new Promise<number>((resolve, reject) => {
          if (this.disposed || this.socket === null) return reject(new Error(`${this.node.name} is not running`));
          const timer = setTimeout(() => {
            this.runnerWaiter = null;
            reject(new Error(`${this.node.name} sent no command socket within ${timeoutMs} ms`));
          }, timeoutMs);
          this.runnerWaiter = (fd) => {
            clearTimeout(timer);
            resolve(fd);
          };
          this.socket.send(`C:${command}`);
        }),
    );
    this.runnerQueue = next.catch(() => {});
    return next;
  }

  /** Hands a received fd to the runner request waiting for it; false when none is. */
  takeRunnerSocket(fd: number): boolean {
    const waiter = this.runnerWaiter;
    if (waiter === null) return false;
    this.runnerWaiter = null;
    waiter(fd);
    return true;
  }

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
