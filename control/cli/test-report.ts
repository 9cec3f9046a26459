import type { TestDone, TestFileEvent } from "../client/client.js";
import { table } from "./format.js";

/** What `control test` learnt of a suite: the master's result, and the output and requeues its file events carried. */
export interface SuiteReport {
  result: TestDone;
  /** Output of each file that ended, by file. */
  outputs: Map<string, string>;
  /** Seconds from the queue to each file's first output byte: the scheduler's and the fork's share. */
  firstBytes: Map<string, number>;
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
export function summary({ result, outputs }: SuiteReport): string {
  const parts: string[] = [];
  for (const file of result.files) {
    if (file.status !== "failed") continue;
    parts.push(`--- FAIL ${file.file} on ${file.slave} ---\n${(outputs.get(file.file) ?? "").trimEnd()}\n`);
  }
  const rows = result.slaves.map((slave) => [
    slave.name,
    String(slave.files),
    slave.seconds.toFixed(2),
    String(slave.failures),
  ]);
  parts.push(table(["SLAVE", "FILES", "SECONDS", "FAILURES"], rows));
  parts.push(totals(result));
  return parts.join("\n");
}

export function totals(result: TestDone): string {
  const count = (status: string) => result.files.filter((file) => file.status === status).length;
  const notRun = count("not_run");
  const stopped = result.stopped ? "stopped: " : "";
  return (
    `${stopped}${result.files.length} files: ${count("passed")} passed, ${count("failed")} failed` +
    `${notRun > 0 ? `, ${notRun} not run` : ""} in ${seconds(result.seconds)}`
  );
}

/** `--json`: the master's result, with each failing file's output, each file's time to first byte, and the requeues. */
export function jsonReport({ result, outputs, firstBytes, requeued }: SuiteReport): string {
  const files = result.files.map((file) => ({
    ...file,
    first_byte_seconds: firstBytes.get(file.file),
    output: file.status === "failed" ? (outputs.get(file.file) ?? "") : undefined,
  }));
  const { suite_id: _, ...rest } = result;
  return JSON.stringify({ ...rest, files, requeued }, null, 2);
}

/** `--junit FILE`: one testcase per file, its output inside `<failure>` when it failed. */
export function junitReport({ result, outputs }: SuiteReport): string {
  const failures = result.files.filter((file) => file.status === "failed").length;
  const skipped = result.files.filter((file) => file.status === "not_run").length;
  const counts = `tests="${result.files.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${result.seconds.toFixed(3)}"`;
  const cases = result.files.map((file) => {
    const attributes = `name="${xml(file.file)}" classname="${xml(file.slave ?? "")}" file="${xml(file.file)}" time="${file.seconds.toFixed(3)}"`;
    if (file.status === "passed") return `    <testcase ${attributes}/>`;
    const inner =
      file.status === "failed"
        ? `<failure message="failed">${xml(outputs.get(file.file) ?? "")}</failure>`
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
