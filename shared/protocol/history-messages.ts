/** Part of the catalogue (messages.ts): the commands that ended and the phases' changes of state, as the master keeps them. */
import { memo, request } from "./definitions.js";
import { base64, commandId, nodeStates, slaveSelector } from "./fields.js";
import * as z from "./zod.js";

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
