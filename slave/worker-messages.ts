/**
 * The text messages workers send, both generations:
 *   P:<pid>:<identifier>               classic identity
 *   P:<pid>:<parent pid>:<identifier>  modern identity (a feature pipe follows)
 *   R:OK | R:<error text>              the action's result
 *   F:<absolute path>                  a loaded file (classic)
 *   <exit code>                        a command runner's last word
 */
export type WorkerMessage =
  | { kind: "identity"; pid: number; parentPid: number | null; identifier: string }
  | { kind: "result"; error: string | null }
  | { kind: "feature"; path: string }
  | { kind: "exit"; code: number };

/** The worker said something that is not the protocol. */
export class WorkerProtocolError extends Error {
  override name = "WorkerProtocolError";
}

const PID = /^[1-9]\d{0,9}$/;

export function parseWorkerMessage(text: string): WorkerMessage {
  if (text.startsWith("R:")) {
    const result = text.slice(2);
    return { kind: "result", error: result === "OK" ? null : result };
  }
  if (text.startsWith("F:") && text.length > 2) return { kind: "feature", path: text.slice(2) };
  if (text.startsWith("P:")) return parseIdentity(text);
  if (/^\d{1,3}$/.test(text)) return { kind: "exit", code: Number(text) };
  throw new WorkerProtocolError(`worker sent garbage: ${preview(text)}`);
}

function parseIdentity(text: string): WorkerMessage {
  const parts = text.slice(2).split(":");
  const [pid, second, third] = parts;
  if (parts.length === 2 && PID.test(pid as string)) {
    return { kind: "identity", pid: Number(pid), parentPid: null, identifier: second as string };
  }
  if (parts.length === 3 && PID.test(pid as string) && PID.test(second as string)) {
    return { kind: "identity", pid: Number(pid), parentPid: Number(second), identifier: third as string };
  }
  throw new WorkerProtocolError(`worker sent a malformed identity: ${preview(text)}`);
}

/** At most 80 characters of what the worker said, control characters escaped. */
export function preview(text: string): string {
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return shown;
}
