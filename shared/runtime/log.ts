/** A one-line logger to stderr: `HH:MM:SS.mmm <scope>: <message>`. */
export type Logger = (line: string) => void;

let pending = "";

/**
 * Lines logged in one turn of the event loop reach stderr in one write: a
 * fan-out to thousands of slaves logs a line per call, and a pipe's writes
 * are synchronous, a syscall each. What is pending is written before exit.
 */
function writeSoon(text: string): void {
  if (pending === "") setImmediate(flushLog);
  pending += text;
}

export function flushLog(): void {
  if (pending === "") return;
  const text = pending;
  pending = "";
  process.stderr.write(text);
}

process.on("exit", flushLog);

export function createLogger(scope: string, write: (text: string) => void = writeSoon): Logger {
  return (line) => write(`${new Date().toISOString().slice(11, 23)} ${scope}: ${line}\n`);
}
