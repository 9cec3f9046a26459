import { writeFileSync } from "node:fs";
import type { OlympusClient, TestDone, TestFileEvent } from "../client/client.js";
import type { SlaveChoice } from "./run-command.js";
import { LiveProgress } from "./test-progress.js";
import { type FileResult, jsonReport, junitReport, plainLine, type SuiteReport, summary } from "./test-report.js";

export interface TestFlags extends SlaveChoice {
  jobs?: number;
  command?: string;
  junit?: string;
  json?: boolean;
  rerunFailed?: boolean;
}

/** Ctrl-C and its kin stop the suite; the partial summary follows, and this exit code. */
const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/**
 * `control test`: the master spreads the files over its slaves; this prints
 * their progress (live lines on a terminal, plain lines otherwise), then the
 * failures and a summary, and returns the exit code: 0 only if all passed.
 */
export async function runTestSuite(client: OlympusClient, patterns: string[], flags: TestFlags): Promise<number> {
  const slaves = flags.slave?.split(",").filter((name) => name !== "");
  const files: FileResult[] = [];
  const requeued: SuiteReport["requeued"] = [];
  // With --json, stdout holds the JSON alone; the progress goes to stderr.
  const progressStream = flags.json ? process.stderr : process.stdout;
  const live = progressStream.isTTY === true && process.env.TERM !== "dumb" ? new LiveProgress(progressStream) : null;
  const onFile = (event: TestFileEvent) => {
    if (event.state === "passed" || event.state === "failed") {
      const { file, slave, state: status, seconds = 0, first_byte_seconds } = event;
      const output = status === "failed" ? (event.output ?? "") : undefined;
      files.push({ file, slave, status, seconds, first_byte_seconds, output });
    }
    if (event.state === "requeued") requeued.push({ file: event.file, slave: event.slave, reason: event.reason ?? "" });
    if (live !== null) return live.update(event);
    const line = plainLine(event);
    if (line !== null) progressStream.write(`${line}\n`);
  };
  const handle = await client.test(
    {
      command: flags.command,
      slaves: slaves?.length ? slaves : undefined,
      jobs: flags.jobs,
      patterns,
      rerun_failed: flags.rerunFailed,
    },
    onFile,
  );
  const { started } = handle;
  const plan = started.slaves.map(({ name, jobs }) => `${name} (-j ${jobs})`).join(", ");
  progressStream.write(`${started.command}: ${started.files} files on ${plan}\n`);
  live?.begin(
    started.slaves.map((slave) => slave.name),
    started.files,
  );

  let stoppedBy: keyof typeof STOP_SIGNALS | null = null;
  const onSignal = (signal: keyof typeof STOP_SIGNALS) => {
    if (stoppedBy !== null) process.exit(STOP_SIGNALS[signal]); // a second ^C does not wait
    stoppedBy = signal;
    handle.stop();
  };
  const signals = Object.keys(STOP_SIGNALS) as (keyof typeof STOP_SIGNALS)[];
  for (const signal of signals) process.on(signal, onSignal);
  let result: TestDone;
  try {
    result = await Promise.race([
      handle.done,
      client.ended.then((reason) => Promise.reject(new Error(`lost the master: ${reason}`))),
    ]);
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    live?.end();
  }
  const notRun = result.not_run.map((file): FileResult => ({ file, slave: null, status: "not_run", seconds: 0 }));
  const report: SuiteReport = {
    seconds: result.seconds,
    stopped: result.stopped,
    slaves: result.slaves,
    files: [...files, ...notRun],
    requeued,
  };
  if (flags.junit !== undefined) writeFileSync(flags.junit, junitReport(report));
  if (flags.json) process.stdout.write(`${jsonReport(report)}\n`);
  else process.stdout.write(`${summary(report)}\n`);
  if (stoppedBy !== null) return STOP_SIGNALS[stoppedBy];
  return !result.stopped && report.files.every((file) => file.status === "passed") ? 0 : 1;
}
