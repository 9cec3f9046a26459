import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import {
  CommandHistory,
  HISTORY_ENTRIES,
  HISTORY_OUTPUT_BYTES,
  OutputTail,
} from "../server/routing/command-history.js";

const entry = (index: number) => ({
  command_id: `command-${String(index).padStart(6, "0")}`,
  command: `echo ${index}`,
  slave: "s",
  who: "ci",
  started: new Date(index * 1000).toISOString(),
  duration: 0.5,
  exit_code: index % 3,
});

it("keeps the last 1,000 commands in a bounded file, and a new master reads them back", async () => {
  const directory = join(mkdtempSync(join(tmpdir(), "olympus-history-")), ".olympus");
  const logged: string[] = [];
  const history = new CommandHistory(directory, (line) => logged.push(line));
  await history.load();
  const total = HISTORY_ENTRIES * 2 + 100;
  for (let index = 1; index <= total; index++) history.record(entry(index), Buffer.from(`output ${index}\n`));
  await history.flushed();

  const listed = history.list();
  assert.equal(listed.length, HISTORY_ENTRIES);
  assert.equal(listed[0]?.command, `echo ${total - HISTORY_ENTRIES + 1}`);
  assert.equal(listed.at(-1)?.command_id, entry(total).command_id);
  const lines = readFileSync(join(directory, "history.jsonl"), "utf8").trimEnd().split("\n");
  assert.ok(lines.length <= HISTORY_ENTRIES * 1.25, `the file holds ${lines.length} lines`);
  assert.equal(statSync(join(directory, "history.jsonl")).mode & 0o777, 0o600);

  const reread = new CommandHistory(directory, (line) => logged.push(line));
  await reread.load();
  assert.deepEqual(reread.list(), listed);
  assert.equal(Buffer.from(reread.output(entry(total).command_id), "base64").toString(), `output ${total}\n`);
  assert.deepEqual(logged, []);
});

it("skips a line it cannot read, and says so", async () => {
  const directory = mkdtempSync(join(tmpdir(), "olympus-history-"));
  const first = new CommandHistory(directory, () => {});
  first.record(entry(1), Buffer.alloc(0));
  await first.flushed();
  appendFileSync(join(directory, "history.jsonl"), '{"torn": \n');
  const logged: string[] = [];
  const second = new CommandHistory(directory, (line) => logged.push(line));
  await second.load();
  assert.equal(second.list().length, 1);
  assert.match(logged.join("\n"), /skipped 1 unreadable lines/);
  assert.throws(() => second.output("command-unknown"), /no command command-unknown in the history/);
});

it("keeps the last 64 KiB of output, however it was cut into chunks, bytes and base64 alike", () => {
  const tail = new OutputTail();
  const bytes = Buffer.alloc(200_000);
  for (let index = 0; index < bytes.length; index++) bytes[index] = index % 251;
  for (let offset = 0; offset < bytes.length; offset += 7_000) {
    const chunk = bytes.subarray(offset, offset + 7_000);
    tail.add(offset % 14_000 === 0 ? chunk : chunk.toString("base64"));
  }
  assert.deepEqual(tail.take(), bytes.subarray(bytes.length - HISTORY_OUTPUT_BYTES));
});
