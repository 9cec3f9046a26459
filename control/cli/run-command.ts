import { Writable } from "node:stream";
import type { OlympusClient } from "../client/client.js";
import {
  type ForwardableSignal,
  NotStartedError,
  type Outcome,
  type RemoteCommand,
  type Target,
} from "../client/remote-command.js";
import { enterRawMode } from "./terminal.js";

export interface SlaveChoice {
  slave?: string;
  all?: boolean;
}

/** `--slave a,b`, `--all`, or the only slave there is. */
export async function chooseSlaves(client: OlympusClient, choice: SlaveChoice): Promise<string[]> {
  if (choice.slave !== undefined) return choice.slave.split(",").filter((name) => name !== "");
  const names = (await client.listSlaves()).map((slave) => slave.name).sort();
  if (choice.all) {
    if (names.length === 0) throw new Error("no slaves are connected");
    return names;
  }
  if (names.length === 1) return names;
  if (names.length === 0) throw new Error("no slaves are connected");
  throw new Error(`${names.length} slaves are connected (${names.join(", ")}): choose with --slave NAME or use --all`);
}

/** The exit code `control` ends with after a command: its own, or 1 when it was lost. */
function exitCodeOf(outcome: Outcome): number {
  return "code" in outcome ? outcome.code : 1;
}

const FORWARDED_SIGNALS: ForwardableSignal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

/**
 * One command, its stdio bridged to ours: a raw terminal when `terminal`,
 * pipes (stdout and stderr apart, stdin to EOF) otherwise.
 */
export async function runAttached(
  client: OlympusClient,
  slave: string,
  target: Target,
  terminal: boolean,
): Promise<number> {
  const { stdin, stdout, stderr } = process;
  const command = client.command(slave, { stdout, stderr });
  // A raw terminal does not return the carriage on a newline.
  command.onNotice = (line) => stderr.write(`control: ${slave}: ${line}${terminal ? "\r\n" : "\n"}`);
  const restore = terminal && stdin.isTTY ? await enterRawMode() : () => {};
  // Installed before the start: output, and the user's reaction to it, may come before the start's answer.
  const onResize = () => command.resize(stdout.columns || 80, stdout.rows || 24);
  if (terminal) process.on("SIGWINCH", onResize);
  const stopForwarding = forwardSignals([command]);
  const cleanUp = () => {
    restore();
    process.off("SIGWINCH", onResize);
    stopForwarding();
    stdin.pause();
  };
  try {
    const size = terminal
      ? { cols: stdout.columns || 80, rows: stdout.rows || 24, term: process.env.TERM ?? "xterm-256color" }
      : null;
    await command.start(target, size);
  } catch (error) {
    cleanUp();
    throw error;
  }
  pumpInput(command);
  const outcome = await command.outcome;
  cleanUp();
  if ("error" in outcome) stderr.write(`control: ${slave}: ${outcome.error}\n`);
  return exitCodeOf(outcome);
}

/**
 * Relays the signals `control` forwards to every one of `commands` until the
 * returned function is called; meanwhile they do not end `control` itself,
 * which exits once the commands have.
 */
function forwardSignals(commands: RemoteCommand[]): () => void {
  const onSignal = (signal: ForwardableSignal) => {
    for (const command of commands) command.signal(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, onSignal);
  };
}

/** stdin to the command, paused whenever the command's input window is full. */
function pumpInput(command: RemoteCommand): void {
  const stdin = process.stdin;
  command.onInputWindowOpen = () => stdin.resume();
  stdin.on("data", (chunk: Buffer) => {
    if (!command.input(chunk)) stdin.pause();
  });
  stdin.on("end", () => command.inputEnd());
  stdin.resume();
}

/**
 * The same command on several slaves at once, with pipes: each output line
 * prefixed with its slave's name, a summary of exit codes on stderr, and the
 * first non-zero code as ours.
 */
export async function runFannedOut(client: OlympusClient, slaves: string[], target: Target): Promise<number> {
  const width = Math.max(...slaves.map((name) => name.length));
  const runs = slaves.map((slave) => {
    const prefix = `${slave.padEnd(width)} | `;
    const sinks = {
      stdout: new PrefixedLines(prefix, process.stdout),
      stderr: new PrefixedLines(prefix, process.stderr),
    };
    const command = client.command(slave, sinks);
    command.onNotice = (line) => process.stderr.write(`${prefix}control: ${line}\n`);
    return { sinks, command };
  });
  // Installed before the starts, as in runAttached: a signal may come while they are under way.
  const stopForwarding = forwardSignals(runs.map((run) => run.command));
  const outcomes = await Promise.all(
    runs.map(async ({ sinks, command }): Promise<Outcome> => {
      try {
        await command.start(target, null);
      } catch (error) {
        if (!(error instanceof NotStartedError)) return { error: (error as Error).message };
        // As a shell would: the line on the command's stderr, its code in the summary.
        sinks.stderr.write(`${error.message}\n`);
        return { code: error.exitCode };
      }
      command.inputEnd();
      const outcome = await command.outcome;
      await Promise.all([sinks.stdout.flushPartial(), sinks.stderr.flushPartial()]);
      return outcome;
    }),
  );
  stopForwarding();
  const summary = slaves.map((slave, index) => {
    const outcome = outcomes[index] as Outcome;
    return "code" in outcome
      ? `${slave} ${outcome.code}`
      : `${slave} failed (${outcome.error.trimEnd().split("\n").at(-1)})`;
  });
  process.stderr.write(`exit codes: ${summary.join(", ")}\n`);
  return outcomes.map(exitCodeOf).find((code) => code !== 0) ?? 0;
}

/** Writes whole lines, each behind a prefix; a last line without newline waits for `flushPartial`. */
class PrefixedLines extends Writable {
  private partial = "";

  constructor(
    private readonly prefix: string,
    private readonly target: NodeJS.WritableStream,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const lines = (this.partial + chunk.toString("utf8")).split("\n");
    this.partial = lines.pop() as string;
    if (lines.length === 0) return callback();
    this.target.write(lines.map((line) => `${this.prefix}${line}\n`).join(""), () => callback());
  }

  flushPartial(): Promise<void> {
    if (this.partial === "") return Promise.resolve();
    const line = `${this.prefix}${this.partial}\n`;
    this.partial = "";
    return new Promise((resolve) => this.target.write(line, () => resolve()));
  }
}
