/** A one-line logger to stderr: `HH:MM:SS.mmm <scope>: <message>`. */
export type Logger = (line: string) => void;

export function createLogger(
  scope: string,
  write: (text: string) => void = (text) => process.stderr.write(text),
): Logger {
  return (line) => write(`${new Date().toISOString().slice(11, 23)} ${scope}: ${line}\n`);
}
