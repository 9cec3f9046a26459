/** Part of the catalogue (messages.ts): `control test`, a suite spread by the master over its slaves' workers. */
import { event, memo, request } from "./definitions.js";
import { commandId, slaveSelector } from "./fields.js";
import * as z from "./zod.js";

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
