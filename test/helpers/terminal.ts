import pty from "node-pty";
import { controlBin } from "./processes.js";

export interface TerminalRun {
  /** Everything the terminal showed so far. */
  output: () => string;
  write: (data: string) => void;
  kill: (signal: NodeJS.Signals) => void;
  resize: (cols: number, rows: number) => void;
  pid: number;
  exited: Promise<{ exitCode: number; signal?: number }>;
  /** Resolves once the terminal has shown text matching `pattern`. */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
}

export interface TerminalOptions {
  cwd: string;
  cols?: number;
  rows?: number;
  /**
   * Answer each cursor position query (ESC [ 6 n) as an emulator would, with
   * row 1, column 1: line editors such as Ruby's reline wait for the answer.
   */
  answerCursorQueries?: boolean;
}

const CURSOR_QUERY = "\x1b[6n";

/** Runs a program in a real terminal (node-pty plays the user's terminal emulator). */
export function inTerminal(file: string, args: string[], options: TerminalOptions): TerminalRun {
  const terminal = pty.spawn(file, args, {
    cols: options.cols ?? 100,
    rows: options.rows ?? 30,
    cwd: options.cwd,
    env: process.env as Record<string, string>,
  });
  let output = "";
  let answered = 0;
  const listeners = new Set<() => void>();
  terminal.onData((data) => {
    output += data;
    // Counted over all the output, as a query may be split between two reads.
    for (
      const asked = options.answerCursorQueries ? output.split(CURSOR_QUERY).length - 1 : 0;
      answered < asked;
      answered++
    )
      terminal.write("\x1b[1;1R");
    for (const listener of listeners) listener();
  });
  const exited = new Promise<{ exitCode: number; signal?: number }>((resolve) => terminal.onExit(resolve));
  return {
    output: () => output,
    write: (data) => terminal.write(data),
    kill: (signal) => process.kill(terminal.pid, signal),
    resize: (cols, rows) => terminal.resize(cols, rows),
    pid: terminal.pid,
    exited,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`terminal never showed ${pattern}; it showed ${JSON.stringify(output)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
  };
}

/** `control` in a real terminal. */
export function controlInTerminal(args: string[], options: TerminalOptions): TerminalRun {
  return inTerminal(process.execPath, [controlBin, ...args], options);
}
