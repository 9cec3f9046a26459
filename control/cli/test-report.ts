import type { TestDone, TestFileEvent } from "../client/client.js";
import { table } from "./format.js";

/** One file of a suite as `control test` reports it. */
export interface FileResult {
  file: string;
  slave: string | null;
  status: "passed" | "failed" | "not_run";
  seconds: number;
  /** From the master's queue to its first output byte: the scheduler's and the fork's share. */
  first_byte_seconds?: number;
  /** Its output, for a failed file. */
  output?: string;
}

/** What `control test` learnt of a suite: the master's summary, each file's result, and the requeues. */
export interface SuiteReport {
  seconds: number;
  stopped: boolean;
  slaves: TestDone["slaves"];
  /** In the order they ended, then those that did not run. */
  files: FileResult[];
  requeued: { file: string; slave: string; reason: string }[];
}

export function seconds(value: number): string {
  return `${value.toFixed(2)} s`;
}

/** One plain line per file that ended or went back on the queue; null for a start. */
export function plainLine(event: TestFileEvent): string | null {
  if (event.state === "started") return null;
  if (event.state === "requeued") return `requeued ${event.file} (was on ${event.slave}): ${event.reason ?? ""}`;
  const time = event.seconds === undefined ? "" : `  ${seconds(event.seconds)}`;
  const why = event.reason === undefined ? "" : `  (${event.reason})`;
  return `${event.state === "passed" ? "pass" : "FAIL"}  ${event.slave}  ${event.file}${time}${why}`;
}

/** Each failing file's output in full, then a table per slave, then one line for the whole suite. */
export function summary(report: SuiteReport): string {
  const parts: string[] = [];
  for (const file of report.files) {
    if (file.status !== "failed") continue;
    parts.push(`--- FAIL ${file.file} on ${file.slave} ---\n${(file.output ?? "").trimEnd()}\n`);
  }
  const rows = report.slaves.map((slave) => [
    slave.name,
    String(slave.files),
    slave.seconds.toFixed(2),
    String(slave.failures),
  ]);
  parts.push(table(["SLAVE", "FILES", "SECONDS", "FAILURES"], rows));
  parts.push(totals(report));
  return parts.join("\n");
}

export function totals(report: SuiteReport): string {
  const count = (status: string) => report.files.filter((file) => file.status === status).length;
  const notRun = count("not_run");
  const stopped = report.stopped ? "stopped: " : "";
  return (
    `${stopped}${report.files.length} files: ${count("passed")} passed, ${count("failed")} failed` +
    `${notRun > 0 ? `, ${notRun} not run` : ""} in ${seconds(report.seconds)}`
  );
}

/** `--json`: the whole report, with each failing file's output and each file's time to first byte. */
export function jsonReport(report: SuiteReport): string {
  return JSON.stringify(report, null, 2);
}

/** `--junit FILE`: one testcase per file, its output inside `<failure>` when it failed. */
export function junitReport({ files, seconds }: SuiteReport): string {
  const failures = files.filter((file) => file.status === "failed").length;
  const skipped = files.filter((file) => file.status === "not_run").length;
  const counts = `tests="${files.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds.toFixed(3)}"`;
  const cases = files.map((file) => {
    const attributes = `name="${xml(file.file)}" classname="${xml(file.slave ?? "")}" file="${xml(file.file)}" time="${file.seconds.toFixed(3)}"`;
    if (file.status === "passed") return `    <testcase ${attributes}/>`;
    const inner =
      file.status === "failed"
        ? `<failure message="failed">${xml(file.output ?? "")}</failure>`
        : `<skipped message="not run"/>`;
    return `    <testcase ${attributes}>${inner}</testcase>`;
  });
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="control test" ${counts}>`,
    `  <testsuite name="control test" ${counts}>`,
    ...cases,
    "  </testsuite>",
    "</testsuites>",
    "",
  ].join("\n");
}

/** Escaped for XML text and attributes; control characters XML 1.0 cannot hold are dropped. */
function xml(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters removed
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "")
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
  );
}
