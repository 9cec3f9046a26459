import { constants } from "node:os";
import { COMMAND_WINDOW_BYTES } from "../../shared/protocol/limits.js";
import { type Chunk, ReplayLog } from "../../shared/protocol/replay-log.js";
import {
  FdStream,
  foregroundProcessGroup,
  openpty,
  pipe,
  setWindowSize,
  shutdownWrite,
  socketpair,
} from "../native/index.js";
import { closeQuietly, killQuietly } from "../quietly.js";

/** After the process exits, output stops being awaited once it has been idle this long (a background child may hold the terminal). */
const DRAIN_IDLE_MS = 500;

/** How long a hung-up command has before SIGKILL. */
const HANG_UP_GRACE_MS = 1000;

/** Keystrokes a command without a controlling terminal gets as signals, as Zeus's client does. */
const SIGNAL_KEYS = new Map<number, NodeJS.Signals>([
  [0x03, "SIGINT"],
  [0x1c, "SIGQUIT"],
  [0x1a, "SIGTSTP"],
]);

export interface OutputChunk extends Chunk {
  stream: "stdout" | "stderr";
}

export interface CommandSink {
  /** The process exited (or the command was aborted); its output may still be draining. */
  processEnded(): void;
  output(stream: "stdout" | "stderr", data: Buffer): void;
  inputConsumed(bytes: number): void;
  /** Called once, after every byte of output went to `output`. */
  exit(code: number | null, signal: string | null, error?: string): void;
}

/** What the command process gets as its stdio. */
export interface ChildStdio {
  /** stdin and stdout: the PTY's slave side, or one end of a stream socket. */
  terminal: number;
  stderr: number;
}

/**
 * The agent's side of one command's stdio: a PTY or pipes, output under a
 * credit window, input, window size, signals, and an exit reported only
 * after the output is drained.
 */
export class LocalCommand {
  readonly childStdio: ChildStdio;
  private readonly io: FdStream;
  private readonly stderr: FdStream | null;
  /** Our copy of the PTY's slave side: keeps the master from reading EIO before the child even opened it. */
  private keeper: number | null;
  /** The child's ends, closed once the child has them. */
  private childEnds: number[];
  private pid: number | null = null;
  /** Output (stdout and stderr together) until the control acknowledges it: what a resume sends again. */
  private readonly output = new ReplayLog<OutputChunk>();
  /** Input bytes received since the start, for a resume to tell the control. */
  private inputReceived = 0;
  private openOutputs: number;
  private exitStatus: { code: number | null; signal: string | null; error?: string } | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private finished = false;
  private pendingWrites = 0;
  private inputEnded = false;

  constructor(
    terminal: { cols: number; rows: number } | null,
    private readonly sink: CommandSink,
  ) {
    if (terminal !== null) {
      const pty = openpty();
      setWindowSize(pty.master, terminal.cols, terminal.rows);
      this.io = new FdStream(pty.master);
      this.stderr = null;
      this.keeper = pty.slave;
      this.childEnds = [];
      this.childStdio = { terminal: pty.slave, stderr: pty.slave };
    } else {
      const [ours, theirs] = socketpair("stream");
      const [stderrRead, stderrWrite] = pipe();
      this.io = new FdStream(ours);
      this.stderr = new FdStream(stderrRead);
      this.keeper = null;
      this.childEnds = [theirs, stderrWrite];
      this.childStdio = { terminal: theirs, stderr: stderrWrite };
    }
    this.openOutputs = this.stderr === null ? 1 : 2;
    this.listen(this.io, "stdout");
    if (this.stderr !== null) this.listen(this.stderr, "stderr");
  }

  get processEnded(): boolean {
    return this.exitStatus !== null;
  }

  get terminalMode(): boolean {
    return this.stderr === null;
  }

  /** The command runs as `pid`: close the ends it has now, start reading. */
  started(pid: number): void {
    this.pid = pid;
    for (const fd of this.childEnds) closeQuietly(fd);
    this.childEnds = [];
    this.io.resume();
    this.stderr?.resume();
  }

  input(data: Buffer): void {
    const bytes = data.length;
    this.inputReceived += bytes;
    // The terminal's owner is asked only when a signal key came: a syscall per keystroke otherwise.
    const forTerminal =
      this.terminalMode && hasSignalKey(data) && this.hasNoControllingTerminal() ? this.keysToSignals(data) : data;
    if (forTerminal.length === 0) return this.sink.inputConsumed(bytes);
    this.pendingWrites++;
    this.io.write(forTerminal, (error) => {
      this.pendingWrites--;
      if (error === undefined) this.sink.inputConsumed(bytes);
      this.shutdownInputIfDone();
    });
  }

  /** The control's stdin ended. In a terminal, EOF is a keystroke (^D) the user types instead. */
  inputEnd(): void {
    if (this.terminalMode) return;
    this.inputEnded = true;
    this.shutdownInputIfDone();
  }

  private shutdownInputIfDone(): void {
    if (this.inputEnded && this.pendingWrites === 0 && !this.io.closed) shutdownWriteQuietly(this.io.fd);
  }

  resize(cols: number, rows: number): void {
    if (this.terminalMode && !this.io.closed) setWindowSize(this.io.fd, cols, rows);
  }

  /** To the terminal's foreground process group when there is one, else to the command itself. */
  signal(signal: NodeJS.Signals): void {
    const group = this.terminalMode && !this.io.closed ? foregroundProcessGroup(this.io.fd) : 0;
    if (group > 0) killQuietly(-group, signal);
    else if (this.pid !== null) killQuietly(this.pid, signal);
  }

  acknowledge(bytes: number): void {
    this.acknowledgeUpTo(this.output.acknowledged + bytes);
  }

  /**
   * A control picks the stream up again (its route broke with a master): it
   * wrote `written` bytes of output, which count as acknowledged, and
   * received `received`, past which the output is returned to send again.
   */
  resume(written: number, received: number): { output: OutputChunk[]; inputReceived: number; inputEnded: boolean } {
    if (written > received || received > this.output.sent)
      throw new Error(`cannot resume at byte ${received} (written ${written}): the command sent ${this.output.sent}`);
    this.acknowledgeUpTo(written);
    return { output: this.output.after(received), inputReceived: this.inputReceived, inputEnded: this.inputEnded };
  }

  private get unacknowledged(): number {
    return this.output.unacknowledged;
  }

  private acknowledgeUpTo(position: number): void {
    this.output.acknowledgeUpTo(position);
    if (this.unacknowledged < COMMAND_WINDOW_BYTES) this.setReading(true);
  }

  /** The command ended; report it once the output is drained. */
  processExited(code: number | null, signal: string | null, error?: string): void {
    if (this.exitStatus !== null) return;
    this.exitStatus = { code, signal, error };
    this.sink.processEnded();
    if (this.keeper !== null) closeQuietly(this.keeper);
    this.keeper = null;
    for (const fd of this.childEnds) closeQuietly(fd);
    this.childEnds = [];
    this.armIdleTimer();
    this.finishIfDrained();
  }

  /** The command never started: release everything, report nothing. */
  discard(): void {
    this.finished = true;
    for (const fd of [...this.childEnds, ...(this.keeper === null ? [] : [this.keeper])]) closeQuietly(fd);
    this.io.close();
    this.stderr?.close();
  }

  /** Its control is gone: SIGHUP, and SIGKILL a second later if it ignored that. */
  hangUp(): void {
    this.signal("SIGHUP");
    const pid = this.pid;
    setTimeout(() => {
      if (this.exitStatus !== null || pid === null) return;
      killQuietly(-pid, "SIGKILL"); // its group, when it leads one, as a runner's watchdog kills
      killQuietly(pid, "SIGKILL");
    }, HANG_UP_GRACE_MS).unref();
  }

  /** The agent is stopping: hang up, then make sure. */
  abort(): void {
    this.signal("SIGHUP");
    if (this.pid !== null) {
      const pid = this.pid;
      setTimeout(() => killQuietly(pid, "SIGKILL"), HANG_UP_GRACE_MS).unref();
    }
    this.processExited(null, "SIGHUP", "aborted");
    this.finish();
  }

  private listen(stream: FdStream, name: "stdout" | "stderr"): void {
    stream.on("data", (data) => {
      this.output.add({ stream: name, data });
      if (this.unacknowledged >= COMMAND_WINDOW_BYTES) this.setReading(false);
      this.sink.output(name, data);
      this.armIdleTimer();
    });
    const ended = () => {
      this.openOutputs--;
      this.finishIfDrained();
    };
    stream.on("end", ended);
    stream.on("error", ended);
  }

  private setReading(reading: boolean): void {
    for (const stream of [this.io, this.stderr]) {
      if (stream === null || stream.closed) continue;
      if (reading && this.pid !== null) stream.resume();
      else stream.pause();
    }
    if (reading) this.armIdleTimer();
  }

  private armIdleTimer(): void {
    if (this.exitStatus === null || this.finished) return;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      // A loop that stalled runs this before the reads behind it: output still on its way is waited for.
      if (!this.io.idle || this.stderr?.idle === false) return this.armIdleTimer();
      if (this.unacknowledged < COMMAND_WINDOW_BYTES) this.finish();
    }, DRAIN_IDLE_MS);
  }

  private finishIfDrained(): void {
    if (this.exitStatus !== null && this.openOutputs <= 0) this.finish();
  }

  private finish(): void {
    if (this.finished || this.exitStatus === null) return;
    this.finished = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.io.close();
    this.stderr?.close();
    const { code, signal, error } = this.exitStatus;
    this.sink.exit(code, signal, error);
  }

  private hasNoControllingTerminal(): boolean {
    return !this.io.closed && foregroundProcessGroup(this.io.fd) === 0;
  }

  /** Sends ^C, ^\ and ^Z as signals and returns the other bytes. */
  private keysToSignals(data: Buffer): Buffer {
    const kept: number[] = [];
    for (const byte of data) {
      const signal = SIGNAL_KEYS.get(byte);
      if (signal === undefined) kept.push(byte);
      else this.signal(signal);
    }
    return kept.length === data.length ? data : Buffer.from(kept);
  }
}

function hasSignalKey(data: Buffer): boolean {
  for (const byte of data) if (SIGNAL_KEYS.has(byte)) return true;
  return false;
}

/** The exit code a shell would show: the code, or 128 + the signal's number. */
export function exitCode(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  return signal === null ? null : 128 + (constants.signals[signal] ?? 0);
}

function shutdownWriteQuietly(fd: number): void {
  try {
    shutdownWrite(fd);
  } catch {
    // The command is gone already.
  }
}
