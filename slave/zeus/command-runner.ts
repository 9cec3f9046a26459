import { closeSync } from "node:fs";
import type { ChildStdio } from "../commands/local-command.js";
import {
  type ExitStatus,
  exitStatusKnown,
  FdStream,
  peerPid,
  pipe,
  socketType,
  watchProcessExit,
} from "../native/index.js";
import { closeQuietly, killQuietly } from "../quietly.js";
import type { Generation } from "./worker.js";
import { WorkerSocket } from "./worker-socket.js";

/** How long the command process has to answer `P:` once it was sent its stdio (an app's after-fork hook runs first). */
const IDENTITY_TIMEOUT_MS = 30_000;
/** Past this, a dead command process whose status no zombie or reaping told ends as lost. */
const REAP_TIMEOUT_MS = 5_000;
/** A classic runner reads its first message with `recv(1024)`; a longer one would be cut. */
const CLASSIC_FIRST_MESSAGE_BYTES = 1024;

export interface RunnerOptions {
  generation: Generation;
  /** The pid the runner watches, and signals when it ends: a stand-in, never the agent. */
  clientPid: number;
  args: string[];
  stdio: ChildStdio;
  /** The runner reported the command's exit code. */
  onExit: (code: number) => void;
  /** The command, run by the runner itself, died without reporting a code (a signal, say): how, by its wait status. */
  onDied: (status: ExitStatus) => void;
  /** The runner went away, or broke the protocol, without an exit code. */
  onLost: (reason: string) => void;
}

export interface StartedCommand {
  runnerPid: number;
  /** The process that runs the command; signals go to it. */
  commandPid: number;
}

/**
 * The agent's half of Zeus's command handshake, on the socket a node's
 * runner sent back after `C:`. The runner made that socket's pair, so
 * SO_PEERCRED names it. We send
 *   modern:  `<client pid>:<argc>`, a pipe holding the arguments, the terminal fd, the stderr fd;
 *   classic: `<client pid>:<JSON array of arguments>`, one terminal fd.
 * The runner forks the command process, which takes the fds and answers
 * `P:<command pid>:…`; the runner sends `<exit code>` once it has waited for
 * the command. The Python shim's runner may run the command itself (one fork
 * less), answering with its own pid: when it dies without a code, the wait
 * status its parent reaped tells how it ended. Resolves when the command
 * process has answered.
 */
export function startRunner(fd: number, options: RunnerOptions): Promise<StartedCommand> {
  return new Promise((resolve, reject) => {
    let runnerPid: number;
    try {
      runnerPid = peerPid(fd);
    } catch (error) {
      closeQuietly(fd);
      return reject(error as Error);
    }
    let commandPid: number | null = null;
    let reapTimer: NodeJS.Timeout | undefined;
    let done = false;
    const end = (report: () => void, refusal: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(reapTimer);
      runnerWatch.close();
      socket.close();
      if (commandPid === null) {
        // A runner that did not start the command would wait for it forever (a runner leads its own group).
        killQuietly(-runnerPid, "SIGKILL");
        killQuietly(runnerPid, "SIGKILL");
        return reject(new Error(refusal));
      }
      // After the caller has seen the start: the exit may come in the same read as `P:`.
      setImmediate(report);
    };
    const lost = (reason: string) => end(() => options.onLost(reason), reason);
    /** The runner answered `P:` with its own pid and the kernel can tell how a process ended: its wait status speaks for it. */
    const runsCommandItself = () => commandPid === runnerPid && exitStatusKnown();

    const socket = new WorkerSocket(fd, socketType(fd), {
      message: (message) => {
        if (commandPid === null && message.kind === "identity") {
          commandPid = message.pid;
          clearTimeout(timer);
          return resolve({ runnerPid, commandPid });
        }
        if (commandPid !== null && message.kind === "exit") return end(() => options.onExit(message.code), "");
        lost(`the command runner (pid ${runnerPid}) sent ${describe(message.kind)} out of turn`);
      },
      fd: (received) => {
        closeQuietly(received);
        lost(`the command runner (pid ${runnerPid}) sent a file descriptor nobody asked for`);
      },
      failed: lost,
      ended: () => {
        // A command run by the runner itself closes the socket as it dies: its exit tells the rest.
        if (!runsCommandItself()) lost(`the command runner (pid ${runnerPid}) closed its socket without an exit code`);
      },
    });
    // The runner's last word is read in the same turn of the loop as its exit, so look after the reads.
    const runnerWatch = watchProcessExit(runnerPid, () => {
      if (runsCommandItself()) return readExitStatus();
      setImmediate(() =>
        lost(
          commandPid === null
            ? `the command runner (pid ${runnerPid}) exited before it started the command`
            : `the command runner (pid ${runnerPid}) died without an exit code`,
        ),
      );
    });
    /** A runner that ran the command itself and died without a word: its wait status tells how it ended. */
    const readExitStatus = () => {
      reapTimer = setTimeout(
        () => lost(`the command process (pid ${runnerPid}) died and was not reaped within ${REAP_TIMEOUT_MS} ms`),
        REAP_TIMEOUT_MS,
      );
      runnerWatch.exitStatus((status) =>
        setImmediate(() => {
          if (status === null) return lost(`the command process (pid ${runnerPid}) died without an exit code`);
          end(() => options.onDied(status), "");
        }),
      );
    };
    const timer = setTimeout(
      () => lost(`the command process did not answer P: within ${IDENTITY_TIMEOUT_MS} ms`),
      IDENTITY_TIMEOUT_MS,
    );

    if (options.generation === "classic") sendClassic(socket, options, lost);
    else sendModern(socket, options);
  });
}

/** A runner forked for a command that will not start: it goes, with its group. */
export function dropRunner(fd: number): void {
  let runnerPid: number | null = null;
  try {
    runnerPid = peerPid(fd);
  } catch {
    // Not a socket any more: nothing to kill.
  }
  closeQuietly(fd);
  if (runnerPid === null) return;
  killQuietly(-runnerPid, "SIGKILL");
  killQuietly(runnerPid, "SIGKILL");
}

function sendModern(socket: WorkerSocket, { clientPid, args, stdio }: RunnerOptions): void {
  socket.send(`${clientPid}:${args.length}`);
  const [argsRead, argsWrite] = pipe();
  socket.sendFd(argsRead);
  closeSync(argsRead);
  const argsPipe = new FdStream(argsWrite);
  argsPipe.write(Buffer.from(args.map((arg) => `${arg}\0`).join("")), () => argsPipe.close());
  socket.sendFd(stdio.terminal);
  socket.sendFd(stdio.stderr);
}

/** Classic commands get one terminal for stdin, stdout and stderr. */
function sendClassic(
  socket: WorkerSocket,
  { clientPid, args, stdio }: RunnerOptions,
  refuse: (reason: string) => void,
): void {
  const first = `${clientPid}:${JSON.stringify(args)}`;
  const bytes = Buffer.byteLength(first) + 1;
  if (bytes > CLASSIC_FIRST_MESSAGE_BYTES) {
    return refuse(
      `the arguments are too long for a classic Zeus worker (${bytes} bytes; it reads ${CLASSIC_FIRST_MESSAGE_BYTES})`,
    );
  }
  socket.send(first);
  socket.sendFd(stdio.terminal);
}

function describe(kind: string): string {
  return kind === "identity" ? "a second P: message" : kind === "exit" ? "an exit code" : `a ${kind} message`;
}
