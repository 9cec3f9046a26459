import { spawn } from "node:child_process";
import { once } from "node:events";
import { Credits } from "../../shared/protocol/credits.js";
import type { Link } from "../../shared/protocol/link.js";
import {
  commandAckEvent,
  commandExitEvent,
  commandInputEvent,
  commandResizeEvent,
  commandSignalEvent,
  exec,
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
import { ExitWaits } from "./exit-waits.js";
import { type CommandSink, exitCode, LocalCommand } from "./local-command.js";
import { OutputGatherer } from "./output-gatherer.js";

/** How long a runner forked ahead for a held-back command may wait for its handshake. */
const RUNNER_WAIT_MS = 20_000;

/**
 * The commands running on this agent, by id: `run` forks from a ready node,
 * `exec` spawns any program. Their events go to whichever master link is current.
 */
export class LocalCommands {
  private readonly commands = new Map<string, LocalCommand>();
  private readonly groups = new Map<string, number>();
  private readonly clients = new Map<string, ClientStandIn>();
  private readonly exitWaits = new ExitWaits();

  constructor(
    private readonly supervisor: Supervisor | null,
    private readonly currentLink: () => Link | null,
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
      this.run(request.command_id, request.command, request.args, request.terminal, request.after),
    );
    link.onRequest(exec, (request) =>
      this.exec(request.command_id, request.program, request.args, request.cwd, request.terminal),
    );
    link.onEvent(commandInputEvent, ({ command_id, data, eof }) => {
      const command = this.commands.get(command_id);
      if (data !== undefined) command?.input(Buffer.from(data, "base64"));
      if (eof === true) command?.inputEnd();
    });
    link.onBytes(({ stream, commandId, payload }) => {
      if (stream === "stdin") this.commands.get(commandId)?.input(payload);
    });
    link.onEvent(commandAckEvent, ({ command_id, bytes }) => this.commands.get(command_id)?.acknowledge(bytes));
    link.onEvent(commandResizeEvent, ({ command_id, cols, rows }) => this.commands.get(command_id)?.resize(cols, rows));
    link.onEvent(commandSignalEvent, ({ command_id, signal }) => {
      if (this.exitWaits.cancel(command_id, `${signal} before it started`)) return;
      this.commands.get(command_id)?.signal(signal);
      // A hangup means the control is gone: so is the client a Zeus runner watches.
      if (signal === "SIGHUP") this.clients.get(command_id)?.end();
    });
  }

  /** The agent is stopping: every command gets a hangup, then SIGKILL. */
  stopAll(): void {
    this.exitWaits.cancelAll("the slave is stopping");
    for (const command of this.commands.values()) command.abort();
  }

  private async run(
    id: string,
    name: string,
    args: string[],
    terminal: Terminal,
    after: string | undefined,
  ): Promise<{ pid: number }> {
    if (this.supervisor === null)
      throw new Error("this slave has no plan (zeus.json), so it has no commands; use exec");
    const command = this.open(id, terminal, ["run", name, ...args]);
    const client = new ClientStandIn();
    this.clients.set(id, client);
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
        clientPid: client.pid,
        args,
        stdio: command.childStdio,
        onExit: (code) => command.processExited(code, null),
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
  private readonly isRunning = (id: string): boolean => this.commands.get(id)?.processEnded === false;

  private async exec(
    id: string,
    program: string,
    args: string[],
    cwd: string | undefined,
    terminal: Terminal,
  ): Promise<{ pid: number }> {
    const command = this.open(id, terminal, ["exec", program, ...args]);
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

  /** The command is over, or never started: its stand-in client and guarded group go. */
  private forget(id: string): void {
    this.commands.delete(id);
    this.exitWaits.exited(id);
    this.clients.get(id)?.end();
    this.clients.delete(id);
    const group = this.groups.get(id);
    if (group !== undefined) this.guardian.release(group);
    this.groups.delete(id);
  }

  /** `argv` names it in the log: `run test a_spec.rb`, `exec uname -a`. */
  private open(id: string, terminal: Terminal, argv: string[]): LocalCommand {
    if (this.commands.has(id)) throw new Error(`command id ${id} is in use`);
    const command = new LocalCommand(terminal, this.sinkFor(id, argv.join(" ")));
    this.commands.set(id, command);
    return command;
  }

  private sinkFor(id: string, description: string): CommandSink {
    const send = () => this.currentLink();
    const startedAt = performance.now();
    const output = new OutputGatherer((stream, pieces) => send()?.sendBytes(stream, id, pieces));
    const credits = new Credits((bytes) => send()?.event(commandAckEvent, { command_id: id, bytes }));
    return {
      processEnded: () => this.exitWaits.exited(id),
      output: (stream, data) => output.add(stream, data),
      inputConsumed: (bytes) => credits.consumed(bytes),
      exit: (code, signal, error) => {
        output.flush();
        const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
        this.log(`${description} (${error ?? (code === null ? `signal ${signal}` : `exit ${code}`)}, ${seconds} s)`);
        this.forget(id);
        send()?.event(commandExitEvent, { command_id: id, code, signal, ...(error === undefined ? {} : { error }) });
      },
    };
  }
}
