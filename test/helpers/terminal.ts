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

/** Runs a program in a real terminal (node-pty plays the user's terminal emulator). */
export function inTerminal(file: string, args: string[], options: { cwd: string; cols?: number; rows?: number }): TerminalRun {
  const terminal = pty.spawn(file, args, { cols: options.cols ?? 100, rows: options.rows ?? 30, cwd: options.cwd, env: process.env as Record<string, string> });
  let output = "";
  const listeners = new Set<() => void>();
  terminal.onData((data) => {
    output += data;
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
export function controlInTerminal(args: string[], options: { cwd: string; cols?: number; rows?: number }): TerminalRun {
  return inTerminal(process.execPath, [controlBin, ...args], options);
}
