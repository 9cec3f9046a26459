/**
 * The catalogue: every message type on the wire, who may send it, and its data.
 * `from` says which kind of peer may send a type; `access`, on every type a
 * control may send, says which control role at least (the master enforces both).
 * docs/protocol.md is the table a person reads; a test keeps the two in step.
 */
import { controlRoles, type Definition, event, memo, plain, request } from "./definitions.js";
import * as z from "./zod.js";

// Schemas are built on first use (see memo); the types other modules need
// are exported from here.

const version = memo(() => z.string().check(z.minLength(1), z.maxLength(64)));
const agent = memo(() => z.string().check(z.minLength(1), z.maxLength(200)));
const token = memo(() => z.string().check(z.maxLength(4096)));
/** A slave is named by its name or by its id written as a string. */
const slaveSelector = memo(() => z.string().check(z.minLength(1), z.maxLength(200)));
const pid = memo(() => z.number().check(z.int(), z.positive()));

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

/** Answered by the master, or by the named slave. */
export const ping = request("ping", {
  from: ["control", "master"],
  access: "viewer",
  forwardToSlave: true,
  request: () => z.object({ slave: z.optional(slaveSelector()) }),
  response: () => z.object({}),
});

// Process trees: the agent reports, the master keeps the latest and tells watchers.

/** `waiting`: a phase whose ancestor crashed; it boots once that is fixed. */
export const nodeStates = ["unbooted", "booting", "ready", "crashed", "waiting"] as const;

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
export const restart = request("restart", {
  from: ["control", "master"],
  access: "operator",
  forwardToSlave: true,
  request: () =>
    z.object({
      slave: z.optional(slaveSelector()),
      node: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
    }),
  response: () => z.object({ restarted: z.array(z.string()) }),
});

// Commands: run a plan command (`run`) or any program (`exec`) on a slave, in a PTY or with pipes.

/** Chosen by the control, so the master can route the command's events before the slave answers. */
const commandId = memo(() =>
  z.string().check(z.regex(/^[A-Za-z0-9_-]{8,64}$/, "expected 8 to 64 letters, digits, '_' or '-'")),
);
const windowSize = memo(() => ({
  cols: z.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
  rows: z.number().check(z.int(), z.minimum(1), z.maximum(10_000)),
}));
/** A PTY of this size, or null for pipes (stdout and stderr kept apart). */
const terminal = memo(() =>
  z.nullable(z.object({ ...windowSize(), term: z.optional(z.string().check(z.maxLength(100))) })),
);
const args = memo(() => z.array(z.string().check(z.maxLength(128 * 1024))).check(z.maxLength(10_000)));
const base64 = memo(() => z.string().check(z.maxLength(1024 * 1024)));

export const run = request("run", {
  from: ["control", "master"],
  access: "operator",
  forwardToSlave: true,
  request: () =>
    z.object({
      slave: z.optional(slaveSelector()),
      command_id: commandId(),
      command: z.string().check(z.minLength(1), z.maxLength(200)),
      args: args(),
      terminal: terminal(),
    }),
  response: () => z.object({ pid: z.number().check(z.int()) }),
});

export const exec = request("exec", {
  from: ["control", "master"],
  access: "operator",
  forwardToSlave: true,
  request: () =>
    z.object({
      slave: z.optional(slaveSelector()),
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

// Test suites: `control test` asks the master, which spreads the files over its slaves' workers.

/** Chosen by the control, like a command id, so the suite's events route before the response. */
const suiteId = commandId;
const testPatterns = memo(() =>
  z.array(z.string().check(z.minLength(1), z.maxLength(4096))).check(z.maxLength(10_000)),
);

/** The master asks a slave for its plan's test files (the patterns, else zeus.json's `test_files`, else a framework's default) and its CPU count. */
export const testFiles = request("test_files", {
  from: ["master"],
  request: () => z.object({ patterns: testPatterns() }),
  response: () =>
    z.object({
      /** The plan's directory name: timings are kept per plan and file. */
      plan: z.string().check(z.maxLength(4096)),
      files: z.array(z.string().check(z.maxLength(4096))).check(z.maxLength(100_000)),
      cpus: z.number().check(z.int(), z.positive()),
    }),
});

export const test = request("test", {
  from: ["control"],
  access: "operator",
  request: () =>
    z.object({
      suite_id: suiteId(),
      /** The plan command each file runs under (default `test`). */
      command: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
      /** Default: every connected slave. */
      slaves: z.optional(z.array(slaveSelector()).check(z.minLength(1), z.maxLength(10_000))),
      /** Files run at once per slave (default: the slave's CPU count). */
      jobs: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(1024))),
      /** Files or globs, relative to the plan's directory; empty for the plan's test files. */
      patterns: testPatterns(),
      /** The failures of the last run go first. */
      rerun_failed: z.optional(z.boolean()),
    }),
  response: () =>
    z.object({
      command: z.string(),
      phase: z.string(),
      files: z.number().check(z.int()),
      slaves: z.array(z.object({ name: z.string(), jobs: z.number().check(z.int()) })),
    }),
});

export const testFileStates = ["started", "passed", "failed", "requeued"] as const;

/** One file of a suite started, ended, or was put back on the queue (its slave or phase was lost). */
export const testFileEvent = event("test_file", {
  from: ["master"],
  data: () =>
    z.object({
      suite_id: suiteId(),
      slave: z.string(),
      file: z.string(),
      state: z.enum(testFileStates),
      /** From the run request to the exit, once ended. */
      seconds: z.optional(z.number().check(z.nonnegative())),
      /** From taking the file off the queue to its first output byte (the scheduler's and fork's share). */
      first_byte_seconds: z.optional(z.number().check(z.nonnegative())),
      /** Its stdout and stderr as they came (the last 192 KiB), once ended. */
      output: z.optional(z.string().check(z.maxLength(256 * 1024))),
      /** Why it was put back, or why a file counts failed without its own fault. */
      reason: z.optional(z.string().check(z.maxLength(64 * 1024))),
    }),
});

const testSlaveSummary = memo(() =>
  z.object({
    name: z.string(),
    files: z.number().check(z.int()),
    seconds: z.number().check(z.nonnegative()),
    failures: z.number().check(z.int()),
  }),
);
export type TestSlaveSummary = z.infer<ReturnType<typeof testSlaveSummary>>;

/**
 * The suite is over (every file ran, or it was stopped, or no slave was left).
 * Each file that ran was told with its `test_file_event`; this names the rest.
 */
export const testDoneEvent = event("test_done", {
  from: ["master"],
  data: () =>
    z.object({
      suite_id: suiteId(),
      seconds: z.number().check(z.nonnegative()),
      stopped: z.boolean(),
      not_run: z.array(z.string()).check(z.maxLength(100_000)),
      slaves: z.array(testSlaveSummary()),
    }),
});

/** A suite's progress, to watchers (the dashboard): on each file's start and end, and once more when it is over. */
export const testProgressEvent = event("test_progress", {
  from: ["master"],
  data: () =>
    z.object({
      suite_id: suiteId(),
      command: z.string(),
      /** Files waiting on the master's queue. */
      queued: z.number().check(z.int(), z.nonnegative()),
      total: z.number().check(z.int(), z.nonnegative()),
      over: z.boolean(),
      slaves: z.array(
        z.object({
          name: z.string(),
          done: z.number().check(z.int()),
          running: z.number().check(z.int()),
          failures: z.number().check(z.int()),
        }),
      ),
    }),
});

/** Ctrl-C: the master stops the suite's commands and sends `test_done_event` with what ran. */
export const testStopEvent = event("test_stop", {
  from: ["control"],
  access: "operator",
  data: () => z.object({ suite_id: suiteId() }),
});

// History: the commands that ended, as the master keeps them.

const historyEntry = memo(() =>
  z.object({
    command_id: commandId(),
    /** The command line, as a shell would take it back (cut at 400 characters). */
    command: z.string(),
    slave: z.string(),
    /** The token name of the control that started it ("shared token" for the master's --token). */
    who: z.string(),
    started: z.string(),
    /** Seconds. */
    duration: z.number().check(z.nonnegative()),
    /** 128+N for signal N; null when the command was lost (its slave went away). */
    exit_code: z.nullable(z.number().check(z.int())),
    error: z.optional(z.string()),
    /** Bytes kept of its output: the last 64 KiB at most, read with history_output. */
    output_bytes: z.number().check(z.int(), z.nonnegative()),
  }),
);
export type HistoryEntry = z.infer<ReturnType<typeof historyEntry>>;

/** The last 1,000 commands that ended, oldest first; without their output, which is asked for one at a time. */
export const history = request("history", {
  from: ["control"],
  access: "viewer",
  request: () => z.object({ slave: z.optional(slaveSelector()) }),
  response: () => z.object({ entries: z.array(historyEntry()) }),
});

export const historyOutput = request("history_output", {
  from: ["control"],
  access: "viewer",
  request: () => z.object({ command_id: commandId() }),
  response: () => z.object({ output: base64() }),
});

/** One phase's change of state, as the timeline keeps it. */
const timelineEvent = memo(() =>
  z.object({
    slave: z.string(),
    node: z.string(),
    state: z.enum(nodeStates),
    at: z.string(),
    /** On `booting`: why it restarted. */
    reason: z.optional(z.string()),
    /** On `ready`: how long the boot took. */
    boot_ms: z.optional(z.number().check(z.nonnegative())),
  }),
);
export type TimelineEvent = z.infer<ReturnType<typeof timelineEvent>>;

/** The phases' changes of state over the last hour (at most 3,000), oldest first. */
export const timeline = request("timeline", {
  from: ["control"],
  access: "viewer",
  request: () => z.object({}),
  response: () => z.object({ events: z.array(timelineEvent()) }),
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
  commandOutputEvent,
  commandInputEvent,
  commandAckEvent,
  commandResizeEvent,
  commandSignalEvent,
  commandExitEvent,
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
