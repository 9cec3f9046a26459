/**
 * The text messages workers send, both generations:
 *   P:<pid>:<identifier>               classic identity
 *   P:<pid>:<parent pid>:<identifier>  modern identity (a feature pipe follows; parent 0 for the root)
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
const PARENT_PID = /^\d{1,10}$/;

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

/**
 * Split as Zeus's master splits it, into at most four fields, so an
 * identifier may hold colons. A numeric second field makes it modern; the
 * root of the gem sends parent pid 0.
 */
function parseIdentity(text: string): WorkerMessage {
  const [pid, ...rest] = text.slice(2).split(":");
  if (PID.test(pid as string) && rest.length >= 2 && PARENT_PID.test(rest[0] as string)) {
    return { kind: "identity", pid: Number(pid), parentPid: Number(rest[0]), identifier: rest.slice(1).join(":") };
  }
  if (PID.test(pid as string) && rest.length >= 1) {
    return { kind: "identity", pid: Number(pid), parentPid: null, identifier: rest.join(":") };
  }
  throw new WorkerProtocolError(`worker sent a malformed identity: ${preview(text)}`);
}

/** At most 80 characters of what the worker said, control characters escaped. */
export function preview(text: string): string {
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return shown;
}
