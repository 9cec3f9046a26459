import type { CommandSummary } from "../../shared/protocol/messages.js";

/**
 * The master's one line per control call: who (the token's name and role,
 * and the address), what, and how it ended, e.g.
 * `control ci (operator) from 10.0.0.5: run test on web-1 (exit 0, 1.2 s)`.
 */
export function callLine(caller: string, call: string, outcome: string, seconds: number): string {
  return `${caller}: ${call} (${outcome}, ${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s)`;
}

/** A request as the user asked it: `status`, `ping on web-1`, `restart work on web-1`. */
export function describeRequest(type: string, data: Record<string, unknown>): string {
  const words = [type.replace(/_request$/, "")];
  if (typeof data.node === "string") words.push(data.node);
  if (typeof data.slave === "string") words.push(`on ${data.slave}`);
  return words.join(" ");
}

/** A command as the user asked it: `run test spec/a_spec.rb on web-1`. */
export function describeCommand(kind: string, command: CommandSummary): string {
  return `${kind.replace(/_request$/, "")} ${command.argv.join(" ")} on ${command.slave}`;
}
