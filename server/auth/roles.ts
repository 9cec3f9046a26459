import { type ControlRole, controlRoles, type Definition } from "../../shared/protocol/definitions.js";

/** What a token is for: a slave agent, or a control with one of the control roles. */
export const tokenRoles = ["slave", ...controlRoles] as const;
export type TokenRole = (typeof tokenRoles)[number];

/** A token registers as its own kind of peer; an admin token as anything. */
export function mayRegisterAs(tokenRole: TokenRole, peer: "slave" | "control"): boolean {
  if (tokenRole === "admin") return true;
  return peer === "slave" ? tokenRole === "slave" : tokenRole !== "slave";
}

/** A role may send what its own rank or a lower one may; a message that declares no access is for admins. */
export function mayControl(role: TokenRole, access: ControlRole = "admin"): boolean {
  return (controlRoles as readonly string[]).indexOf(role) >= controlRoles.indexOf(access);
}

/** What a message a control may be refused does, in the words of the commands that send it. */
const ACTIONS: Record<string, string> = {
  run_request: "run commands",
  exec_request: "run commands",
  resume_command_request: "resume commands",
  restart_request: "restart phases",
  command_input_event: "send input to commands",
  command_resize_event: "resize commands' terminals",
  command_signal_event: "signal commands",
  command_ack_event: "read commands' output",
};

/**
 * The Link `authorize` hook for a control's session: refuses each message its
 * role may not send, saying what the role may not do and which role may
 * (`a viewer may not run commands (that takes an operator token)`).
 */
export function controlAuthorizer(role: TokenRole): (definition: Definition) => string | null {
  return (definition) => {
    if (definition.kind === "plain" || mayControl(role, definition.access)) return null;
    const access = definition.access ?? "admin";
    const article = /^[aeiou]/.test(access) ? "an" : "a";
    return `a ${role} may not ${ACTIONS[definition.type] ?? `send ${definition.type}`} (that takes ${article} ${access} token)`;
  };
}
