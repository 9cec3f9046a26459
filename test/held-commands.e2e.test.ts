import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exitStatusKnown } from "../slave/native/index.js";
import { makeApp } from "./helpers/app.js";
import { control, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { descendantsOf, eventually, type Started, stopAll } from "./helpers/processes.js";
import { RawClient, type RawFrame } from "./helpers/raw-client.js";

after(stopAll);

/** A running command's processes: the shim's runner runs it itself where the agent learns how it ended. */
const PER_COMMAND = exitStatusKnown() ? 1 : 2;

function nameOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trimEnd();
  } catch {
    return "";
  }
}

/** `mark NAME SECONDS` logs its start and end (wall clock) around a sleep. */
function writeMarkApp(): string {
  return makeApp({
    "zeus.json": JSON.stringify({ command: "python3 -m olympus_zeus plan", plan: { boot: { mark: [] } } }),
    "plan.py": [
      "import os, sys, time",
      "APP_DIR = os.path.dirname(os.path.abspath(__file__))",
      "def boot(): pass",
      "def log(what):",
      "    with open(os.path.join(APP_DIR, 'marks.log'), 'a') as out:",
      "        out.write(f'{what} {sys.argv[1]} {time.time()}\\n')",
      "def mark():",
      "    log('start')",
      "    time.sleep(float(sys.argv[2]))",
      "    log('end')",
      "",
    ].join("\n"),
  });
}

/** Each mark's start and end, by name, in seconds of wall clock. */
function marks(directory: string): Map<string, { start?: number; end?: number }> {
  let text = "";
  try {
    text = readFileSync(join(directory, "marks.log"), "utf8");
  } catch {
    // none yet
  }
  const found = new Map<string, { start?: number; end?: number }>();
  for (const line of text.split("\n").filter(Boolean)) {
    const [what, name, at] = line.split(" ") as ["start" | "end", string, string];
    found.set(name, { ...found.get(name), [what]: Number(at) });
  }
  return found;
}

function runMark(client: RawClient, id: string, name: string, seconds: number, held?: string): Promise<RawFrame> {
  const data = { slave: "held", command_id: id, command: "mark", args: [name, String(seconds)], terminal: null };
  return client.request("run_request", held === undefined ? data : { ...data, after: held });
}

async function exitOf(client: RawClient, id: string): Promise<RawFrame> {
  for (;;) {
    const frame = await client.next("command_exit_event", 30_000);
    if (frame.data.command_id === id) return frame;
  }
}

describe("a run held back behind another command (run_request after)", { timeout: 60_000 }, () => {
  let directory: string;
  let agent: Started;
  let client: RawClient;
  /** The agent's descendants but its one client stand-in: guardian, workers, and each command's runner and process. */
  const processes = () =>
    descendantsOf(agent.child.pid as number).filter((pid) => nameOf(pid) !== "olympus-client").length;
  let idle: number;
  before(async () => {
    directory = writeMarkApp();
    const { url } = await startMaster([], 0, directory);
    agent = await startSlave(url, "held", ["--config", join(directory, "zeus.json")]);
    const ready = await control(url, ["status", "--wait"]);
    assert.equal(ready.code, 0, ready.stderr);
    client = await RawClient.open(url);
    await client.registerControl(TEST_TOKEN);
    idle = processes();
  });

  it("starts when the command before it exits, with its runner forked while that one ran", async () => {
    const first = runMark(client, "first-command", "one", 4);
    const second = runMark(client, "second-command", "two", 0, "first-command");
    assert.equal((await first).data.error, undefined);
    // The held command's runner waits beside the first command's process (and its runner, if apart).
    await eventually(() => processes() >= idle + PER_COMMAND + 1 && marks(directory).has("one"));
    assert.equal(marks(directory).get("two"), undefined, "the held command has not started");
    const started = await second;
    assert.equal(started.data.error, undefined);
    assert.equal(typeof started.data.pid, "number");
    assert.equal((await exitOf(client, "first-command")).data.code, 0);
    assert.equal((await exitOf(client, "second-command")).data.code, 0);
    const [one, two] = [marks(directory).get("one"), marks(directory).get("two")];
    assert.ok(one?.end !== undefined && two?.start !== undefined && two.start >= one.end, JSON.stringify({ one, two }));
    await eventually(() => processes() === idle);
  });

  it("starts at once behind a command that is not running", async () => {
    const started = await runMark(client, "alone-command", "three", 0, "no-such-command");
    assert.equal(started.data.error, undefined);
    assert.equal((await exitOf(client, "alone-command")).data.code, 0);
    await eventually(() => processes() === idle);
  });

  it("is cancelled by a signal before it starts, and leaves no process behind", async () => {
    const first = runMark(client, "long-command", "four", 4);
    const held = runMark(client, "cancelled-command", "five", 0, "long-command");
    assert.equal((await first).data.error, undefined);
    await eventually(() => processes() >= idle + PER_COMMAND + 1 && marks(directory).has("four"));
    client.send({ type: "command_signal_event", data: { command_id: "cancelled-command", signal: "SIGTERM" } });
    assert.match(String((await held).data.error), /SIGTERM before it started/);
    assert.equal((await exitOf(client, "long-command")).data.code, 0, "the command it waited for runs on");
    assert.equal(marks(directory).get("five"), undefined);
    await eventually(() => processes() === idle);
  });
});
