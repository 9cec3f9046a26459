import { closeSync } from "node:fs";
import { FdStream, pipe, socketType, watchProcessExit } from "./native/index.js";
import type { ChildStdio } from "./command-session.js";
import { closeQuietly } from "./worker.js";
import { WorkerSocket } from "./worker-socket.js";

/** How long a runner has to answer `P:` once it has its stdio. */
const RUNNER_IDENTITY_TIMEOUT_MS = 10_000;

export interface RunnerOptions {
  /** The pid the runner's watchdog watches: this agent. */
  clientPid: number;
  args: string[];
  stdio: ChildStdio;
  /** The runner reported the command's exit code. */
  onExit: (code: number) => void;
  /** The runner went away without an exit code. */
  onLost: (reason: string) => void;
}

/**
 * The agent's half of the command handshake, on the socket a node's forked
 * runner sent back after `C:`: `<client pid>:<argc>`, a pipe holding the
 * arguments, the terminal fd, the stderr fd; the runner answers
 * `P:<pid>:<parent pid>:` and, at the end, `<exit code>`. Resolves with the
 * runner's pid.
 */
export function startRunner(fd: number, options: RunnerOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    let pid: number | null = null;
    let done = false;
    let exitWatch: { close(): void } | null = null;
    const end = (report: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      exitWatch?.close();
      socket.close();
      if (pid === null) reject(new Error("the command runner went away before it started the command"));
      else report();
    };
    const lost = (reason: string) => end(() => options.onLost(reason));

    const socket = new WorkerSocket(fd, socketType(fd), {
      message: (message) => {
        if (pid === null && message.kind === "identity") {
          pid = message.pid;
          const runnerPid = message.pid;
          clearTimeout(timer);
          exitWatch = watchProcessExit(runnerPid, () => lost(`the command runner (pid ${runnerPid}) died without an exit code`));
          return resolve(runnerPid);
        }
        if (pid !== null && message.kind === "exit") return end(() => options.onExit(message.code));
        lost(`the command runner sent ${message.kind} out of turn`);
      },
      fd: (received) => {
        closeQuietly(received);
        lost("the command runner sent a file descriptor nobody asked for");
      },
      failed: lost,
      ended: () => lost("the command runner closed its socket without an exit code"),
    });
    const timer = setTimeout(() => lost(`the command runner did not answer P: within ${RUNNER_IDENTITY_TIMEOUT_MS} ms`), RUNNER_IDENTITY_TIMEOUT_MS);

    socket.send(`${options.clientPid}:${options.args.length}`);
    const [argsRead, argsWrite] = pipe();
    socket.sendFd(argsRead);
    closeSync(argsRead);
    const argsPipe = new FdStream(argsWrite);
    argsPipe.write(Buffer.from(options.args.map((arg) => `${arg}\0`).join("")), () => argsPipe.close());
    socket.sendFd(options.stdio.terminal);
    socket.sendFd(options.stdio.stderr);
  });
}
