import { randomUUID } from "node:crypto";
import type { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { Credits } from "../../shared/protocol/credits.js";
import type { DataOf } from "../../shared/protocol/definitions.js";
import { COMMAND_WINDOW_BYTES } from "../../shared/protocol/limits.js";
import type { Link } from "../../shared/protocol/link.js";
import {
  commandAckEvent,
  commandInputEvent,
  commandResizeEvent,
  type commandResumedEvent,
  commandSignalEvent,
  exec,
  type forwardableSignals,
  resumeCommand,
  run,
  type Terminal,
} from "../../shared/protocol/messages.js";
import { type Chunk, ReplayLog } from "../../shared/protocol/replay-log.js";

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

/** How long a command whose route broke is tried through the masters, how often, and how long one try waits. */
const RESUME_TIMEOUT_MS = 20_000;
const RESUME_RETRY_MS = 250;
const RESUME_ATTEMPT_TIMEOUT_MS = 5_000;

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
  /** The output that follows on `link` starts where a resume asked. */
  resumed(link: Link, data: DataOf<typeof commandResumedEvent>): void;
  /** `resumable`: the route broke with a master, the command may run on. */
  exit(outcome: Outcome, resumable?: boolean): void;
}

/** A link to a live master: the client's session, or a new one on the first master of its list that answers. */
export type Reconnect = () => Promise<Link>;

/**
 * One command on one slave, seen from the control: starts it, writes its
 * output (acknowledging it only once written, so a control that stops
 * reading blocks the command), sends input under a credit window, and
 * resolves `outcome` when it has ended and all its output has been written.
 *
 * When its route breaks with a master (`exit` says resumable), it resumes
 * the command through a live master: it names the bytes of output it
 * received, drops any output until the slave's command_resumed_event for its
 * last attempt, then sends again the input the slave lacks. It keeps its
 * unacknowledged input for that (a window at most).
 */
export class RemoteCommand implements CommandListener {
  readonly id = randomUUID();
  readonly outcome: Promise<Outcome>;
  private settle: (outcome: Outcome) => void = () => {};
  private pendingWrites = 0;
  private finalOutcome: Outcome | null = null;
  /** Output bytes written out; its total is what a resume counts acknowledged. */
  private readonly written = new Credits((bytes) => {
    if (!this.link.closed) this.link.event(commandAckEvent, { command_id: this.id, bytes });
  });
  /** Output bytes received (both streams), where a resume picks up. */
  private received = 0;
  private readonly inputLog = new ReplayLog<Chunk>();
  private inputEndSent = false;
  private argv: string[] | null = null;
  /** The attempt under way while resuming (0 before the first; output is dropped meanwhile), else null. */
  private resuming: number | null = null;
  private attempts = 0;
  /** Called when input may flow again after the window filled. */
  onInputWindowOpen: () => void = () => {};
  /** Hears what the command waits for that is not its own doing: its slave's lost connection. */
  onNotice: (line: string) => void = () => {};

  constructor(
    private link: Link,
    readonly slave: string,
    private readonly sinks: OutputSinks,
    /** How to reach a live master to resume through; null: a broken route ends the command. */
    private readonly reconnect: Reconnect | null = null,
  ) {
    this.outcome = new Promise((resolve) => (this.settle = resolve));
  }

  /** Starts the command; resolves with its pid once it runs. */
  async start(target: Target, terminal: Terminal): Promise<number> {
    const common = { slave: this.slave, command_id: this.id, args: target.args, terminal };
    if (target.kind === "run") {
      const { pid } = await this.link.request(run, { ...common, command: target.command });
      this.argv = ["run", target.command, ...target.args];
      return pid;
    }
    try {
      const { pid } = await this.link.request(exec, { ...common, program: target.program, cwd: target.cwd });
      this.argv = ["exec", target.program, ...target.args];
      return pid;
    } catch (error) {
      const failure = SPAWN_FAILURES[/ spawn \S+ (E[A-Z]+)$/.exec((error as Error).message)?.[1] ?? ""];
      if (failure === undefined) throw error;
      throw new NotStartedError(`${target.program}: ${failure[0]}`, failure[1]);
    }
  }

  /** Sends input; returns false when the window is full and the caller should pause. */
  input(data: Buffer): boolean {
    this.inputLog.add({ data });
    // While resuming, input waits in the log: the slave says from where to send it.
    if (this.resuming === null) this.link.sendBytes("stdin", this.id, [data]);
    return this.inputLog.unacknowledged < COMMAND_WINDOW_BYTES;
  }

  inputEnd(): void {
    this.inputEndSent = true;
    if (this.resuming === null) this.link.event(commandInputEvent, { command_id: this.id, eof: true });
  }

  resize(cols: number, rows: number): void {
    this.link.event(commandResizeEvent, { command_id: this.id, cols, rows });
  }

  signal(signal: ForwardableSignal): void {
    this.link.event(commandSignalEvent, { command_id: this.id, signal });
  }

  output(stream: "stdout" | "stderr", data: Buffer): void {
    // Sent before the slave moved the command's route: the resume sends it again.
    if (this.resuming !== null) return;
    this.received += data.length;
    this.pendingWrites++;
    this.sinks[stream].write(data, () => {
      this.pendingWrites--;
      this.written.consumed(data.length);
      this.settleIfDone();
    });
  }

  inputAcknowledged(bytes: number): void {
    if (this.resuming === null) this.inputAcknowledgedUpTo(this.inputLog.acknowledged + bytes);
  }

  private inputAcknowledgedUpTo(position: number): void {
    const wasFull = this.inputLog.unacknowledged >= COMMAND_WINDOW_BYTES;
    this.inputLog.acknowledgeUpTo(position);
    if (wasFull && this.inputLog.unacknowledged < COMMAND_WINDOW_BYTES) this.onInputWindowOpen();
  }

  slaveConnection(connected: boolean, timeout?: number): void {
    this.onNotice(
      connected
        ? `slave ${this.slave} is back`
        : `slave ${this.slave} lost its connection; waiting up to ${timeout ?? "?"} s for it to resume`,
    );
  }

  /** Every output event came before this one; the outcome waits for their writes. */
  exit(outcome: Outcome, resumable = false): void {
    // A broken route's word while resuming: the resume decides.
    if (this.resuming !== null || this.finalOutcome !== null) return;
    if (resumable && "error" in outcome && this.argv !== null && this.reconnect !== null)
      return void this.resume(outcome.error, this.reconnect, this.argv);
    this.finalOutcome = outcome;
    this.settleIfDone();
  }

  /** Tries every master until one takes the resume or the time is up; the slave's command_resumed_event ends it. */
  private async resume(reason: string, reconnect: Reconnect, argv: string[]): Promise<void> {
    this.resuming = 0;
    this.written.hold(true);
    this.onNotice(`${reason}; resuming the command through a live master`);
    const deadline = Date.now() + RESUME_TIMEOUT_MS;
    let failure = reason;
    while (this.resuming !== null && Date.now() < deadline) {
      this.resuming = ++this.attempts;
      try {
        const link = await reconnect();
        const request = {
          slave: this.slave,
          command_id: this.id,
          attempt: this.attempts,
          argv,
          output_received: this.received,
          output_written: this.written.settle(),
        };
        await link.request(resumeCommand, request, RESUME_ATTEMPT_TIMEOUT_MS);
        // The slave sends command_resumed_event before its answer: no event, no resume (it came by a stale route).
        if (this.resuming !== null) failure = "the slave's answer came without the stream";
      } catch (error) {
        failure = (error as Error).message;
      }
      if (this.resuming !== null) await sleep(RESUME_RETRY_MS);
    }
    if (this.resuming === null) return;
    this.resuming = null;
    this.finalOutcome = { error: `${reason}; not resumed within ${RESUME_TIMEOUT_MS / 1000} s: ${failure}` };
    this.settleIfDone();
  }

  resumed(link: Link, data: DataOf<typeof commandResumedEvent>): void {
    if (this.resuming !== data.attempt) return;
    this.resuming = null;
    this.link = link;
    this.inputAcknowledgedUpTo(data.input_consumed);
    try {
      for (const { data: bytes } of this.inputLog.after(data.input_received)) link.sendBytes("stdin", this.id, [bytes]);
    } catch (error) {
      return this.exit({ error: `cannot resume the input: ${(error as Error).message}` });
    }
    if (this.inputEndSent && !data.input_ended) link.event(commandInputEvent, { command_id: this.id, eof: true });
    this.written.hold(false);
    this.onNotice(`resumed after ${this.received} bytes of output`);
  }

  private settleIfDone(): void {
    if (this.finalOutcome !== null && this.pendingWrites === 0) this.settle(this.finalOutcome);
  }
}
