/**
 * The catalogue: every message type on the wire, who may send it, and its data.
 * `from` says which kind of peer may send a type; `access`, on every type a
 * control may send, says which control role at least (the master enforces both).
 * docs/protocol.md is the table a person reads; a test keeps the two in step.
 */
import { type ControlRole, controlRoles, type Definition, event, memo, plain, request } from "./definitions.js";
import { agent, base64, commandId, nodeStates, pid, slaveSelector, token, version } from "./fields.js";
import { history, historyOutput, timeline } from "./history-messages.js";
import { commandResumedEvent, resumeCommand } from "./resume-messages.js";
import { test, testDoneEvent, testFileEvent, testFiles, testProgressEvent, testStopEvent } from "./suite-messages.js";
import * as z from "./zod.js";

export { nodeStates } from "./fields.js";
export * from "./history-messages.js";
export * from "./resume-messages.js";
export * from "./suite-messages.js";

// Schemas are built on first use (see memo); the types other modules need
// are exported from here.

// Handshake and session.

/** Protocol extensions by name (binary_frames): offered in `hello`, taken in the registration; unknown ones are ignored. */
const extensions = memo(() => z.optional(z.array(z.string().check(z.maxLength(64))).check(z.maxLength(32))));

export const hello = plain("hello", {
  from: ["master"],
  data: () => z.object({ version: version(), extensions: extensions() }),
});

export const registerSlave = plain("register_slave", {
  from: ["slave"],
  data: () =>
    z.object({
      agent: agent(),
      version: version(),
      name: z.string().check(z.minLength(1), z.maxLength(200)),
      id: z.number().check(z.int(), z.nonnegative(), z.maximum(Number.MAX_SAFE_INTEGER)),
      token: token(),
      /** The agent's process id, named when another agent asks for the same name. */
      pid: z.optional(pid()),
      /** Take the name from a connected agent that holds it, instead of being refused. */
      replace: z.optional(z.boolean()),
      extensions: extensions(),
    }),
});

export const registerControl = plain("register_control", {
  from: ["control"],
  data: () => z.object({ agent: agent(), version: version(), token: token(), extensions: extensions() }),
});

/** The base protocol's `ready` is `{}`; the session fields let a client resume after a dropped socket. */
export const ready = plain("ready", {
  from: ["master"],
  data: () =>
    z.object({
      session_token: z.optional(z.string().check(z.maxLength(200))),
      /** Seconds between heartbeats; a peer silent for twice this is dropped. */
      heartbeat_interval: z.optional(z.number().check(z.positive())),
      /** Seconds a session waits for a resume once its socket is gone. */
      session_timeout: z.optional(z.number().check(z.positive())),
      /** To a control: its token's role, and the token's name (none for the master's shared token). */
      role: z.optional(z.enum(controlRoles)),
      token_name: z.optional(z.string().check(z.maxLength(200))),
    }),
});

const lastSeq = memo(() => z.number().check(z.int(), z.nonnegative()));

/** Unnumbered, both ways: "I have your frames up to last_seq"; also proves the peer alive. */
export const heartbeat = plain("heartbeat", {
  from: ["master", "slave", "control"],
  data: () => z.object({ last_seq: lastSeq() }),
});

/** Instead of a register after `hello`: take up a session whose socket was lost. */
export const resume = plain("resume", {
  from: ["slave", "control"],
  data: () => z.object({ session_token: z.string().check(z.maxLength(200)), last_seq: lastSeq() }),
});

/** The session is back; the master has the client's frames up to last_seq, and each side resends the rest. */
export const continueSession = plain("continue", { from: ["master"], data: () => z.object({ last_seq: lastSeq() }) });

/** No such session (any more): register anew. */
export const invalidate = plain("invalidate", { from: ["master"], data: () => z.object({}) });

export const close = plain("close", {
  from: ["master", "slave", "control"],
  data: () => z.object({ reason: z.string().check(z.maxLength(4096)) }),
});

// Slaves.

export const slaveInfo = memo(() =>
  z.object({
    id: z.number().check(z.int()),
    name: z.string(),
    agent: z.string(),
    version: z.string(),
    address: z.string(),
    connected_at: z.string(),
    pid: z.optional(pid()),
    /** The URL of the master the slave is connected to (federated masters only: `--nats`). */
    master: z.optional(z.string()),
  }),
);
export type SlaveInfo = z.infer<ReturnType<typeof slaveInfo>>;

export const listSlaves = request("list_slaves", {
  from: ["control"],
  access: "viewer",
  request: () => z.object({}),
  response: () => z.object({ slaves: z.array(slaveInfo()) }),
});

/** A request the master relays to the slave `slave` names, which it sends on as "master"; without one, see serveControl. */
function toSlave<const N extends string, F extends z.core.$ZodLooseShape, R extends z.ZodMiniObject>(
  name: N,
  spec: { access: ControlRole; request: () => F; response: () => R },
) {
  return request(name, {
    from: ["control", "master"],
    access: spec.access,
    forwardToSlave: true,
    request: () => z.object({ slave: z.optional(slaveSelector()), ...spec.request() }),
    response: spec.response,
  });
}

/** Answered by the master, or by the named slave. */
export const ping = toSlave("ping", { access: "viewer", request: () => ({}), response: () => z.object({}) });

// Process trees: the agent reports, the master keeps the latest and tells watchers.

/** `waiting`: a phase whose ancestor crashed; it boots once that is fixed. */

const treeNode = memo(() =>
  z.object({
    name: z.string().check(z.maxLength(200)),
    parent: z.nullable(z.string().check(z.maxLength(200))),
    state: z.enum(nodeStates),
    pid: z.nullable(z.number().check(z.int())),
    error: z.nullable(z.string().check(z.maxLength(256 * 1024))),
    /** How long its last boot took, to ready. */
    boot_ms: z.optional(z.nullable(z.number().check(z.nonnegative()))),
    /** Why it last restarted: `lib.py changed`, `restart requested`, `worker died`, `boot restarted`, `boot crashed`. */
    restart_reason: z.optional(z.nullable(z.string().check(z.maxLength(4096)))),
  }),
);
export type TreeNode = z.infer<ReturnType<typeof treeNode>>;
export type NodeState = (typeof nodeStates)[number];

const treeCommand = memo(() =>
  z.object({
    name: z.string().check(z.maxLength(200)),
    aliases: z.array(z.string().check(z.maxLength(200))).check(z.maxLength(100)),
    parent: z.string().check(z.maxLength(200)),
  }),
);

/** Bounded, so a hostile tree is refused at once instead of yielding one schema issue per element. */
const MAX_TREE_ENTRIES = 10_000;
const tree = memo(() => ({
  nodes: z.array(treeNode()).check(z.maxLength(MAX_TREE_ENTRIES)),
  commands: z.array(treeCommand()).check(z.maxLength(MAX_TREE_ENTRIES)),
}));

/** The whole tree: from the agent on connect and when its plan changes; from the master to watchers. */
export const treeEvent = event("tree", {
  from: ["slave", "master"],
  data: () => z.object({ slave: z.optional(z.string()), ...tree() }),
});

/** One node changed state. The master adds `slave` when it tells watchers. */
export const nodeStateEvent = event("node_state", {
  from: ["slave", "master"],
  data: () => z.object({ slave: z.optional(z.string()), node: treeNode() }),
});

/** A slave joined or left; sent to watchers. */
export const slaveEvent = event("slave", {
  from: ["master"],
  data: () => z.object({ slave: slaveInfo(), connected: z.boolean() }),
});

export const slaveTree = memo(() => z.object({ slave: z.string(), ...tree() }));
export type SlaveTree = z.infer<ReturnType<typeof slaveTree>>;

export const status = request("status", {
  from: ["control"],
  access: "viewer",
  request: () => z.object({ slave: z.optional(slaveSelector()) }),
  response: () => z.object({ trees: z.array(slaveTree()) }),
});

/** Subscribes this control to tree, node_state and slave events. */
export const watch = request("watch", {
  from: ["control"],
  access: "viewer",
  request: () => z.object({}),
  response: () => z.object({}),
});

/** Restarts a node and its subtree, or the whole tree; without a slave, on every slave. */
export const restart = toSlave("restart", {
  access: "operator",
  request: () => ({ node: z.optional(z.string().check(z.minLength(1), z.maxLength(200))) }),
  response: () => z.object({ restarted: z.array(z.string()) }),
});

// Commands: run a plan command (`run`) or any program (`exec`) on a slave, in a PTY or with pipes.

const windowSize = memo(() => ({
  cols: z.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
  rows: z.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
}));
/** A PTY of this size, or null for pipes (stdout and stderr kept apart). */
const terminal = memo(() =>
  z.nullable(z.object({ ...windowSize(), term: z.optional(z.string().check(z.maxLength(100))) })),
);
const args = memo(() => z.array(z.string().check(z.maxLength(128 * 1024))).check(z.maxLength(10_000)));

export const run = toSlave("run", {
  access: "operator",
  request: () => ({
    command_id: commandId(),
    command: z.string().check(z.minLength(1), z.maxLength(200)),
    args: args(),
    terminal: terminal(),
    /** Start once this command's process on the slave has exited: its runner is forked meanwhile. */
    after: z.optional(commandId()),
  }),
  response: () => z.object({ pid: z.number().check(z.int()) }),
});

export const exec = toSlave("exec", {
  access: "operator",
  request: () => ({
    command_id: commandId(),
    program: z.string().check(z.minLength(1), z.maxLength(4096)),
    args: args(),
    cwd: z.optional(z.string().check(z.maxLength(4096))),
    terminal: terminal(),
  }),
  response: () => z.object({ pid: z.number().check(z.int()) }),
});

/** Output bytes of a command; the control acknowledges what it has written out. */
export const commandOutputEvent = event("command_output", {
  from: ["slave", "master"],
  data: () => z.object({ command_id: commandId(), stream: z.enum(["stdout", "stderr"]), data: base64() }),
});

/** Input bytes for a command, or the end of its input. */
export const commandInputEvent = event("command_input", {
  from: ["control", "master"],
  access: "operator",
  data: () => z.object({ command_id: commandId(), data: z.optional(base64()), eof: z.optional(z.literal(true)) }),
});

/** Credit: the receiver has consumed this many more bytes (output at the control, input at the slave). */
export const commandAckEvent = event("command_ack", {
  from: ["control", "slave", "master"],
  access: "operator",
  data: () => z.object({ command_id: commandId(), bytes: z.number().check(z.int(), z.positive()) }),
});

export const commandResizeEvent = event("command_resize", {
  from: ["control", "master"],
  access: "operator",
  data: () => z.object({ command_id: commandId(), ...windowSize() }),
});

export const forwardableSignals = ["SIGINT", "SIGQUIT", "SIGTSTP", "SIGTERM", "SIGHUP", "SIGKILL", "SIGCONT"] as const;

export const commandSignalEvent = event("command_signal", {
  from: ["control", "master"],
  access: "operator",
  data: () => z.object({ command_id: commandId(), signal: z.enum(forwardableSignals) }),
});

/** The command ended and all its output was sent before this; `error` when it was lost instead (its slave went away). */
export const commandExitEvent = event("command_exit", {
  from: ["slave", "master"],
  data: () =>
    z.object({
      command_id: commandId(),
      code: z.nullable(z.number().check(z.int())),
      signal: z.nullable(z.string()),
      error: z.optional(z.string()),
      /** The stream broke with a master, not the command: resume_command may pick it up through another route. */
      resumable: z.optional(z.boolean()),
    }),
});

/** The command's slave lost its connection and the master waits `timeout` seconds for it to resume; or it is back. */
export const commandSlaveEvent = event("command_slave", {
  from: ["master"],
  data: () =>
    z.object({
      command_id: commandId(),
      connected: z.boolean(),
      timeout: z.optional(z.number().check(z.nonnegative())),
    }),
});

const commandSummary = memo(() =>
  z.object({
    command_id: commandId(),
    slave: z.string(),
    argv: z.array(z.string()).check(z.maxLength(10_001)),
    started_at: z.string(),
  }),
);
export type CommandSummary = z.infer<ReturnType<typeof commandSummary>>;
/** A command's terminal (window size and TERM), or null for pipes. */
export type Terminal = z.infer<ReturnType<typeof terminal>>;

export const commands = request("commands", {
  from: ["control"],
  access: "viewer",
  request: () => z.object({}),
  response: () => z.object({ commands: z.array(commandSummary()) }),
});

/** A command started or ended; sent to watchers. */
export const commandEvent = event("command", {
  from: ["master"],
  data: () => z.object({ command: commandSummary(), running: z.boolean() }),
});

export const catalogue: readonly Definition[] = [
  hello,
  registerSlave,
  registerControl,
  ready,
  close,
  heartbeat,
  resume,
  continueSession,
  invalidate,
  listSlaves,
  ping,
  treeEvent,
  nodeStateEvent,
  slaveEvent,
  status,
  watch,
  restart,
  run,
  exec,
  resumeCommand,
  commandOutputEvent,
  commandInputEvent,
  commandAckEvent,
  commandResizeEvent,
  commandSignalEvent,
  commandExitEvent,
  commandResumedEvent,
  commandSlaveEvent,
  commands,
  commandEvent,
  testFiles,
  test,
  testFileEvent,
  testDoneEvent,
  testProgressEvent,
  testStopEvent,
  history,
  historyOutput,
  timeline,
];

export const definitionsByType: ReadonlyMap<string, Definition> = new Map(
  catalogue.map((definition) => [definition.type, definition]),
);
