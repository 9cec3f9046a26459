import { spawn } from "node:child_process";
import { once } from "node:events";
import type { RequestOf } from "../../shared/protocol/definitions.js";
import type { Link } from "../../shared/protocol/link.js";
import {
  commandAckEvent,
  commandInputEvent,
  commandResizeEvent,
  commandSignalEvent,
  exec,
  resumeCommand,
  run,
  type Terminal,
} from "../../shared/protocol/messages.js";
import type { Logger } from "../../shared/runtime/log.js";
import type { Guardian } from "../guardian.js";
import { peerPid } from "../native/index.js";
import { closeQuietly } from "../quietly.js";
import { ClientStandIn } from "../zeus/client-stand-in.js";
import { dropRunner, startRunner } from "../zeus/command-runner.js";
import type { Supervisor } from "../zeus/supervisor.js";
import { CommandStream } from "./command-stream.js";
import { ExitWaits } from "./exit-waits.js";
import { type CommandSink, exitCode, LocalCommand } from "./local-command.js";

/** How long an ended command stays to be resumed (its exit and unacknowledged output), and how many stay at most. */
const ENDED_KEPT_MS = 60_000;
const ENDED_KEPT_MAX = 64;

interface Entry {
  command: LocalCommand;
  stream: CommandStream;
}

/** How long a runner forked ahead for a held-back command may wait for its handshake. */
const RUNNER_WAIT_MS = 20_000;

/**
 * The commands running on this agent, by id: `run` forks from a ready node,
 * `exec` spawns any program. Each one's events go to the link it was started
 * or resumed on (its CommandStream); those that ended lately stay a while, so
 * a control whose master died may still resume them.
 */
export class LocalCommands {
  private readonly commands = new Map<string, Entry>();
  private readonly ended = new Map<string, Entry>();
  private readonly groups = new Map<string, number>();
  private readonly standIn = new ClientStandIn();
  private readonly exitWaits = new ExitWaits();

  constructor(
    private readonly supervisor: Supervisor | null,
    private readonly defaultCwd: string,
    private readonly guardian: Guardian,
    /** Hears one line per command, when it ends: what it ran and how it ended. */
    private readonly log: Logger,
  ) {}

  get running(): number {
    return this.commands.size;
  }

  serve(link: Link): void {
    link.onRequest(run, (request) =>
      this.run(link, request.command_id, request.command, request.args, request.terminal, request.after),
    );
    link.onRequest(exec, (request) =>
      this.exec(link, request.command_id, request.program, request.args, request.cwd, request.terminal),
    );
    link.onRequest(resumeCommand, (request) => this.resume(link, request));
    // Input and credit count only from the command's own route: what a stale one sends, a resume settles.
    const on = (id: string) => {
      const entry = this.commands.get(id);
      return entry?.stream.isOn(link) ? entry.command : undefined;
    };
    link.onEvent(commandInputEvent, ({ command_id, data, eof }) => {
      const command = on(command_id);
      if (data !== undefined) command?.input(Buffer.from(data, "base64"));
      if (eof === true) command?.inputEnd();
    });
    link.onBytes(({ stream, commandId, payload }) => {
      if (stream === "stdin") on(commandId)?.input(payload);
    });
    link.onEvent(commandAckEvent, ({ command_id, bytes }) => on(command_id)?.acknowledge(bytes));
    link.onEvent(commandResizeEvent, ({ command_id, cols, rows }) =>
      this.commands.get(command_id)?.command.resize(cols, rows),
    );
    link.onEvent(commandSignalEvent, ({ command_id, signal }) => {
      if (this.exitWaits.cancel(command_id, `${signal} before it started`)) return;
      const command = this.commands.get(command_id)?.command;
      // A hangup means the control is gone: a command that ignores it is killed, as a Zeus runner's watchdog would.
      if (signal === "SIGHUP") command?.hangUp();
      else command?.signal(signal);
    });
  }

  /** The agent is stopping: every command gets a hangup, then SIGKILL. */
  stopAll(): void {
    this.exitWaits.cancelAll("the slave is stopping");
    for (const { command } of this.commands.values()) command.abort();
  }

  /** The agent is stopping, after stopAll(). */
  close(): void {
    this.standIn.close();
  }

  /**
   * A control picks up a command whose route broke with a master: from now
   * on its events go on this link, starting with command_resumed_event, so
   * the control knows where the bytes that follow it start, whatever came
   * before it by another route.
   */
  private resume(link: Link, request: RequestOf<typeof resumeCommand>): Record<string, never> {
    const { command_id: id, attempt, output_written, output_received } = request;
    const entry = this.commands.get(id) ?? this.ended.get(id);
    if (entry === undefined) throw new Error(`no command ${id} on this slave: it never ran, or ended long ago`);
    const { output, inputReceived, inputEnded } = entry.command.resume(output_written, output_received);
    const resumed = { command_id: id, attempt, input_received: inputReceived, input_ended: inputEnded };
    entry.stream.moveTo(link, resumed, output);
    const again = output.reduce((sum, chunk) => sum + chunk.data.length, 0);
    const state = this.commands.has(id) ? "running" : "ended";
    this.log(`resumed command ${id} (${state}) for a control at byte ${output_received}: ${again} bytes sent again`);
    return {};
  }

  private async run(
    link: Link,
    id: string,
    name: string,
    args: string[],
    terminal: Terminal,
    after: string | undefined,
  ): Promise<{ pid: number }> {
    if (this.supervisor === null)
      throw new Error("this slave has no plan (zeus.json), so it has no commands; use exec");
    const command = this.open(link, id, terminal, ["run", name, ...args]);
    if (after !== undefined) this.exitWaits.hold(id);
    let runner: number | null = null;
    try {
      let { socket, generation } = await this.supervisor.openRunner(name);
      runner = this.prepared(id, socket);
      if (after !== undefined && !(await this.exitWaits.wait(id, after, this.isRunning, RUNNER_WAIT_MS))) {
        // A runner may hold a deadline for the handshake (the Python shim's is 30 s): a fresh one takes over.
        this.dropPrepared(id, runner);
        runner = null;
        await this.exitWaits.wait(id, after, this.isRunning, null);
        ({ socket, generation } = await this.supervisor.openRunner(name));
        runner = this.prepared(id, socket);
        await this.exitWaits.wait(id, after, this.isRunning, null); // cancelled while it forked
      }
      runner = null; // startRunner owns it now
      const { commandPid } = await startRunner(socket, {
        generation,
        clientPid: this.standIn.pid,
        args,
        stdio: command.childStdio,
        onExit: (code) => command.processExited(code, null),
        onDied: ({ code, signal }) => command.processExited(exitCode(code, signal), signal),
        onLost: (reason) => command.processExited(null, null, reason),
      });
      command.started(commandPid);
      return { pid: commandPid };
    } catch (error) {
      if (runner !== null) dropRunner(runner);
      this.forget(id);
      command.discard();
      throw error;
    } finally {
      this.exitWaits.release(id);
    }
  }

  /** A runner's socket, its group guarded from now on. */
  private prepared(id: string, socket: number): number {
    try {
      this.protect(id, peerPid(socket));
    } catch (error) {
      closeQuietly(socket);
      throw error;
    }
    return socket;
  }

  private dropPrepared(id: string, socket: number): void {
    dropRunner(socket);
    const group = this.groups.get(id);
    if (group !== undefined) this.guardian.release(group);
    this.groups.delete(id);
  }

  /** Whether command `id` may still start or run a process (the commands held back wait for it). */
  private readonly isRunning = (id: string): boolean => this.commands.get(id)?.command.processEnded === false;

  private async exec(
    link: Link,
    id: string,
    program: string,
    args: string[],
    cwd: string | undefined,
    terminal: Terminal,
  ): Promise<{ pid: number }> {
    const command = this.open(link, id, terminal, ["exec", program, ...args]);
    const { terminal: terminalFd, stderr } = command.childStdio;
    const env = terminal?.term === undefined ? process.env : { ...process.env, TERM: terminal.term };
    // In a terminal: `setsid -c` makes the program a session leader with the PTY as its controlling terminal.
    // With pipes: its own process group, so a signal reaches the whole job.
    const child =
      terminal !== null
        ? spawn("setsid", ["-c", program, ...args], {
            stdio: [terminalFd, terminalFd, stderr],
            cwd: cwd ?? this.defaultCwd,
            env,
          })
        : spawn(program, args, {
            stdio: [terminalFd, terminalFd, stderr],
            cwd: cwd ?? this.defaultCwd,
            env,
            detached: true,
          });
    try {
      await once(child, "spawn");
    } catch (error) {
      this.forget(id);
      command.discard();
      throw new Error(`cannot run ${program}: ${(error as Error).message}`);
    }
    child.on("exit", (code, signal) => command.processExited(exitCode(code, signal), signal));
    this.protect(id, child.pid as number);
    command.started(child.pid as number);
    return { pid: child.pid as number };
  }

  /** Runners and exec'd programs lead their own process group; the guardian ends it if the agent dies. */
  private protect(id: string, group: number): void {
    this.guardian.protect(group);
    this.groups.set(id, group);
  }

  /** The command is over, or never started: its guarded group goes. */
  private forget(id: string): void {
    this.commands.delete(id);
    this.exitWaits.exited(id);
    const group = this.groups.get(id);
    if (group !== undefined) this.guardian.release(group);
    this.groups.delete(id);
  }

  /** `argv` names it in the log: `run test a_spec.rb`, `exec uname -a`. */
  private open(link: Link, id: string, terminal: Terminal, argv: string[]): LocalCommand {
    if (this.commands.has(id) || this.ended.has(id)) throw new Error(`command id ${id} is in use`);
    const stream = new CommandStream(id, link);
    const command = new LocalCommand(terminal, this.sinkFor(id, stream, argv.join(" ")));
    this.commands.set(id, { command, stream });
    return command;
  }

  private sinkFor(id: string, stream: CommandStream, description: string): CommandSink {
    const startedAt = performance.now();
    return {
      processEnded: () => this.exitWaits.exited(id),
      output: (name, data) => stream.output(name, data),
      inputConsumed: (bytes) => stream.inputConsumed(bytes),
      exit: (code, signal, error) => {
        const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
        this.log(`${description} (${error ?? (code === null ? `signal ${signal}` : `exit ${code}`)}, ${seconds} s)`);
        this.keepEnded(id);
        this.forget(id);
        stream.ended({ command_id: id, code, signal, ...(error === undefined ? {} : { error }) });
      },
    };
  }

  /** An ended command stays a while for a resume; the oldest goes first past the limit, so memory stays bounded. */
  private keepEnded(id: string): void {
    const entry = this.commands.get(id);
    if (entry === undefined) return;
    this.ended.set(id, entry);
    setTimeout(() => this.ended.delete(id), ENDED_KEPT_MS).unref();
    for (const oldest of this.ended.keys()) {
      if (this.ended.size <= ENDED_KEPT_MAX) break;
      this.ended.delete(oldest);
    }
  }
}
