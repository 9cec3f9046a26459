import { spawn } from "node:child_process";
import { once } from "node:events";
import type { Link } from "../shared/link.js";
import {
  commandAckEvent,
  commandExitEvent,
  commandInputEvent,
  commandOutputEvent,
  commandResizeEvent,
  commandSignalEvent,
  exec,
  run,
} from "../shared/messages.js";
import type * as z from "../shared/zod.js";
import { CommandSession, exitCode, type CommandSink } from "./command-session.js";
import { startRunner } from "./command-runner.js";
import { ClientStandIn } from "./client-stand-in.js";
import type { Guardian } from "./guardian.js";
import type { SlaveMonitor } from "./slave-monitor.js";

type Terminal = z.infer<typeof run.request>["terminal"];

/**
 * The commands running on this agent, by id: `run` forks from a ready node,
 * `exec` spawns any program. Their events go to whichever master link is current.
 */
export class CommandManager {
  private readonly sessions = new Map<string, CommandSession>();
  private readonly groups = new Map<string, number>();
  private readonly clients = new Map<string, ClientStandIn>();

  constructor(
    private readonly monitor: SlaveMonitor | null,
    private readonly currentLink: () => Link | null,
    private readonly defaultCwd: string,
    private readonly guardian: Guardian,
  ) {}

  get running(): number {
    return this.sessions.size;
  }

  serve(link: Link): void {
    link.onRequest(run, (request) => this.run(request.command_id, request.command, request.args, request.terminal));
    link.onRequest(exec, (request) => this.exec(request.command_id, request.program, request.args, request.cwd, request.terminal));
    link.onEvent(commandInputEvent, ({ command_id, data, eof }) => {
      const session = this.sessions.get(command_id);
      if (data !== undefined) session?.input(Buffer.from(data, "base64"));
      if (eof === true) session?.inputEnd();
    });
    link.onEvent(commandAckEvent, ({ command_id, bytes }) => this.sessions.get(command_id)?.acknowledge(bytes));
    link.onEvent(commandResizeEvent, ({ command_id, cols, rows }) => this.sessions.get(command_id)?.resize(cols, rows));
    link.onEvent(commandSignalEvent, ({ command_id, signal }) => {
      this.sessions.get(command_id)?.signal(signal);
      // A hangup means the control is gone: so is the client a Zeus runner watches.
      if (signal === "SIGHUP") this.clients.get(command_id)?.end();
    });
  }

  /** The agent is stopping: every command gets a hangup, then SIGKILL. */
  stopAll(): void {
    for (const session of this.sessions.values()) session.abort();
  }

  private async run(id: string, name: string, args: string[], terminal: Terminal): Promise<{ pid: number }> {
    if (this.monitor === null) throw new Error("this slave has no plan (zeus.json), so it has no commands; use exec");
    const session = this.open(id, terminal);
    const client = new ClientStandIn();
    this.clients.set(id, client);
    try {
      const { socket, generation } = await this.monitor.openRunner(name);
      const { runnerPid, commandPid } = await startRunner(socket, {
        generation,
        clientPid: client.pid,
        args,
        stdio: session.childStdio,
        onExit: (code) => session.processExited(code, null),
        onLost: (reason) => session.processExited(null, null, reason),
      });
      this.protect(id, runnerPid);
      session.started(commandPid);
      return { pid: commandPid };
    } catch (error) {
      this.forget(id);
      session.discard();
      throw error;
    }
  }

  private async exec(id: string, program: string, args: string[], cwd: string | undefined, terminal: Terminal): Promise<{ pid: number }> {
    const session = this.open(id, terminal);
    const { terminal: terminalFd, stderr } = session.childStdio;
    const env = terminal?.term === undefined ? process.env : { ...process.env, TERM: terminal.term };
    // In a terminal: `setsid -c` makes the program a session leader with the PTY as its controlling terminal.
    // With pipes: its own process group, so a signal reaches the whole job.
    const child =
      terminal !== null
        ? spawn("setsid", ["-c", program, ...args], { stdio: [terminalFd, terminalFd, stderr], cwd: cwd ?? this.defaultCwd, env })
        : spawn(program, args, { stdio: [terminalFd, terminalFd, stderr], cwd: cwd ?? this.defaultCwd, env, detached: true });
    try {
      await once(child, "spawn");
    } catch (error) {
      this.forget(id);
      session.discard();
      throw new Error(`cannot run ${program}: ${(error as Error).message}`);
    }
    child.on("exit", (code, signal) => session.processExited(exitCode(code, signal), signal));
    this.protect(id, child.pid as number);
    session.started(child.pid as number);
    return { pid: child.pid as number };
  }

  /** Runners and exec'd programs lead their own process group; the guardian ends it if the agent dies. */
  private protect(id: string, group: number): void {
    this.guardian.protect(group);
    this.groups.set(id, group);
  }

  /** The command is over, or never started: its stand-in client and guarded group go. */
  private forget(id: string): void {
    this.sessions.delete(id);
    this.clients.get(id)?.end();
    this.clients.delete(id);
    const group = this.groups.get(id);
    if (group !== undefined) this.guardian.release(group);
    this.groups.delete(id);
  }

  private open(id: string, terminal: Terminal): CommandSession {
    if (this.sessions.has(id)) throw new Error(`command id ${id} is in use`);
    const session = new CommandSession(terminal, this.sinkFor(id));
    this.sessions.set(id, session);
    return session;
  }

  private sinkFor(id: string): CommandSink {
    const send = () => this.currentLink();
    return {
      output: (stream, data) => send()?.event(commandOutputEvent, { command_id: id, stream, data: data.toString("base64") }),
      inputConsumed: (bytes) => {
        if (bytes > 0) send()?.event(commandAckEvent, { command_id: id, bytes });
      },
      exit: (code, signal, error) => {
        this.forget(id);
        send()?.event(commandExitEvent, { command_id: id, code, signal, ...(error === undefined ? {} : { error }) });
      },
    };
  }
}
