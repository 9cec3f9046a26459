import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { controlIn, startLocal, writePythonApp } from "./helpers/app.js";
import { olympusBin, startNode, stopAll } from "./helpers/processes.js";

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
