import { randomUUID } from "node:crypto";
import type { Writable } from "node:stream";
import { Credits } from "../../shared/protocol/credits.js";
import { COMMAND_WINDOW_BYTES } from "../../shared/protocol/limits.js";
import type { Link } from "../../shared/protocol/link.js";
import {
  commandAckEvent,
  commandInputEvent,
  commandResizeEvent,
  commandSignalEvent,
  exec,
  type forwardableSignals,
  run,
  type Terminal,
} from "../../shared/protocol/messages.js";

export type Target =
  | { kind: "run"; command: string; args: string[] }
  | { kind: "exec"; program: string; args: string[]; cwd?: string };

export type ForwardableSignal = (typeof forwardableSignals)[number];

/** A program the slave could not start, with the exit code a shell would give: 127 not found, 126 not executable. */
export class NotStartedError extends Error {
  override name = "NotStartedError";
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The slave reports a failed spawn as Node words it: `cannot run X: spawn X ENOENT`. */
const SPAWN_FAILURES: Record<string, [string, number]> = {
  ENOENT: ["command not found", 127],
  EACCES: ["permission denied", 126],
};

/** How a command ended: its exit code (128+N for signal N), or why it was lost. */
export type Outcome = { code: number } | { error: string };

export interface OutputSinks {
  stdout: Writable;
  stderr: Writable;
}

/** The events a command receives from its slave; the client routes them by command id. */
export interface CommandListener {
  output(stream: "stdout" | "stderr", data: Buffer): void;
  inputAcknowledged(bytes: number): void;
  /** The slave lost its connection (the master waits `timeout` seconds for it), or is back. */
  slaveConnection(connected: boolean, timeout?: number): void;
  exit(outcome: Outcome): void;
}

/**
 * One command on one slave, seen from the control: starts it, writes its
 * output (acknowledging it only once written, so a control that stops
 * reading blocks the command), sends input under a credit window, and
 * resolves `outcome` when it has ended and all its output has been written.
 */
export class RemoteCommand implements CommandListener {
  readonly id = randomUUID();
  readonly outcome: Promise<Outcome>;
  private settle: (outcome: Outcome) => void = () => {};
  private unacknowledgedInput = 0;
  private pendingWrites = 0;
  private finalOutcome: Outcome | null = null;
  private readonly written = new Credits((bytes) => {
    if (!this.link.closed) this.link.event(commandAckEvent, { command_id: this.id, bytes });
  });
  /** Called when input may flow again after the window filled. */
  onInputWindowOpen: () => void = () => {};
  /** Hears what the command waits for that is not its own doing: its slave's lost connection. */
  onNotice: (line: string) => void = () => {};

  constructor(
    private readonly link: Link,
    readonly slave: string,
    private readonly sinks: OutputSinks,
  ) {
    this.outcome = new Promise((resolve) => (this.settle = resolve));
  }

  /** Starts the command; resolves with its pid once it runs. */
  async start(target: Target, terminal: Terminal): Promise<number> {
    const common = { slave: this.slave, command_id: this.id, args: target.args, terminal };
    if (target.kind === "run") return (await this.link.request(run, { ...common, command: target.command })).pid;
    try {
      return (await this.link.request(exec, { ...common, program: target.program, cwd: target.cwd })).pid;
    } catch (error) {
      const failure = SPAWN_FAILURES[/ spawn \S+ (E[A-Z]+)$/.exec((error as Error).message)?.[1] ?? ""];
      if (failure === undefined) throw error;
      throw new NotStartedError(`${target.program}: ${failure[0]}`, failure[1]);
    }
  }

  /** Sends input; returns false when the window is full and the caller should pause. */
  input(data: Buffer): boolean {
    this.unacknowledgedInput += data.length;
    this.link.sendBytes("stdin", this.id, [data]);
    return this.unacknowledgedInput < COMMAND_WINDOW_BYTES;
  }

  inputEnd(): void {
    this.link.event(commandInputEvent, { command_id: this.id, eof: true });
  }

  resize(cols: number, rows: number): void {
    this.link.event(commandResizeEvent, { command_id: this.id, cols, rows });
  }

  signal(signal: ForwardableSignal): void {
    this.link.event(commandSignalEvent, { command_id: this.id, signal });
  }

  output(stream: "stdout" | "stderr", data: Buffer): void {
    this.pendingWrites++;
    this.sinks[stream].write(data, () => {
      this.pendingWrites--;
      this.written.consumed(data.length);
      this.settleIfDone();
    });
  }

  inputAcknowledged(bytes: number): void {
    const wasFull = this.unacknowledgedInput >= COMMAND_WINDOW_BYTES;
    this.unacknowledgedInput -= bytes;
    if (wasFull && this.unacknowledgedInput < COMMAND_WINDOW_BYTES) this.onInputWindowOpen();
  }

  slaveConnection(connected: boolean, timeout?: number): void {
    this.onNotice(
      connected
        ? `slave ${this.slave} is back`
        : `slave ${this.slave} lost its connection; waiting up to ${timeout ?? "?"} s for it to resume`,
    );
  }

  /** Every output event came before this one; the outcome waits for their writes. */
  exit(outcome: Outcome): void {
    this.finalOutcome = outcome;
    this.settleIfDone();
  }

  private settleIfDone(): void {
    if (this.finalOutcome !== null && this.pendingWrites === 0) this.settle(this.finalOutcome);
  }
}
