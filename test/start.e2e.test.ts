import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { controlIn, makeApp, startLocal, writePythonApp } from "./helpers/app.js";
import { eventually, olympusBin, startNode, stopAll } from "./helpers/processes.js";
import { inTerminal } from "./helpers/terminal.js";

after(stopAll);

const masterFile = (directory: string) => join(directory, ".olympus", "master.json");

describe("olympus start in a directory where one runs already", { timeout: 60_000 }, () => {
  it("refuses with one line, and the first's master.json and control keep working", async () => {
    const app = writePythonApp();
    const first = await startLocal(app);
    const written = readFileSync(masterFile(app), "utf8");
    const second = startNode(olympusBin, ["start", "--config", "zeus.json"], { cwd: app });
    assert.equal((await second.exited).code, 1, second.output);
    assert.equal(second.output, `olympus: olympus start is already running here (pid ${first.child.pid})\n`);
    assert.equal(readFileSync(masterFile(app), "utf8"), written);
    const status = await controlIn(app, ["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
  });

  it("lets one of two starts launched at once win, and refuses the other", async () => {
    const app = writePythonApp();
    const starts = [0, 1].map(() => startNode(olympusBin, ["start", "--config", "zeus.json"], { cwd: app }));
    const loser = await Promise.race(
      starts.map(async (started) => {
        await started.exited;
        return started;
      }),
    );
    const winner = starts.find((started) => started !== loser);
    assert.equal((await loser.exited).code, 1, loser.output);
    assert.match(
      loser.output,
      new RegExp(`^olympus: olympus start is already running here \\(pid ${winner?.child.pid}\\)$`, "m"),
    );
    await winner?.waitFor(/master listening on/);
    assert.equal(JSON.parse(readFileSync(masterFile(app), "utf8")).pid, winner?.child.pid);
  });

  it("says a stale master.json's master is not running, and a new start takes it over", async () => {
    const app = writePythonApp();
    const first = await startLocal(app);
    await first.kill("SIGKILL");
    const pid = first.child.pid as number;
    const stale = await controlIn(app, ["status"]);
    assert.deepEqual(
      [stale.code, stale.stderr],
      [1, `control: the master in .olympus/master.json (pid ${pid}) is not running\n`],
    );
    const second = await startLocal(app);
    assert.equal(JSON.parse(readFileSync(masterFile(app), "utf8")).pid, second.child.pid);
    const status = await controlIn(app, ["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
  });
});

it("fits its live chart into a 60x14 terminal: lines cut, the tree's overflow counted, a crash report briefed", async () => {
  const phases = Array.from({ length: 10 }, (_, index) => `p${index}`);
  const app = makeApp({
    "zeus.json": JSON.stringify({
      command: "python3 -m olympus_zeus plan",
      plan: { boot: { broken: {}, ...Object.fromEntries(phases.map((phase) => [phase, {}])), work: { hello: [] } } },
    }),
    "plan.py": [
      "def boot(): pass",
      `def broken(): raise RuntimeError("${"too long to fit ".repeat(12)}")`,
      ...phases.map((phase) => `def ${phase}(): pass`),
      "def work(): pass",
      "def hello(): print('hello')",
      "",
    ].join("\n"),
  });
  const terminal = inTerminal(process.execPath, [olympusBin, "start", "--config", "zeus.json"], {
    cwd: app,
    cols: 60,
    rows: 14,
  });
  try {
    const lastFrame = () => stripColors(terminal.output().split("\x1b[H\x1b[2J").at(-1) ?? "");
    await eventually(() => /broken \[crashed\]/.test(lastFrame()), 60_000, "the crash on screen");
    // The terminal turns each newline into CR LF.
    const frame = lastFrame()
      .replace(/\r?\n$/, "")
      .split(/\r?\n/);
    assert.ok(frame.length <= 13, `${frame.length} lines:\n${frame.join("\n")}`);
    for (const line of frame) assert.ok([...line].length < 60, `too wide: ${line}`);
    assert.match(frame.join("\n"), /broken \[crashed\] \(control status --errors\)/);
    assert.match(frame.join("\n"), /RuntimeError: too long to fit .*…/);
    assert.match(frame.join("\n"), /… \d+ more lines: control status/);
    assert.match(frame.at(-1) as string, /^\d\d:\d\d:\d\d\.\d{3} olympus: /, "the latest log line, at the bottom");
  } finally {
    terminal.kill("SIGTERM");
    await terminal.exited;
  }
});

function stripColors(text: string): string {
  return text.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "");
}
