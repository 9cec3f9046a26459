/** Nothing runs on stale code: declared files, zeus.json itself, and changes still in their debounce window. */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { controlIn, nodes, startLocal, waitForRestart, waitForStates, writePythonApp } from "./helpers/app.js";
import { eventually, stopAll } from "./helpers/processes.js";

after(stopAll);

const ready = { boot: "ready", work: "ready" };

describe("freshness", () => {
  const app = writePythonApp();
  writeFileSync(join(app, "requirements.txt"), "django==4.2\n");
  let agent: Awaited<ReturnType<typeof startLocal>>;

  it("restarts the whole tree when a lockfile changes, or a .env appears, though no worker loaded them", async () => {
    agent = await startLocal(app);
    let before = await waitForStates(app, ready);
    writeFileSync(join(app, "requirements.txt"), "django==5.0\n");
    await waitForRestart(app, before, ["boot"], ["boot", "work"]);
    before = await nodes(app);
    writeFileSync(join(app, ".env"), "GREETING=hi\n");
    await waitForRestart(app, before, ["boot"], ["boot", "work"]);
  });

  it("boots the new plan when zeus.json changes, and keeps the old one, saying why, when it is broken", async () => {
    await waitForStates(app, ready);
    const path = join(app, "zeus.json");
    const zeus = JSON.parse(readFileSync(path, "utf8")) as { plan: { boot: { work: Record<string, unknown> } } };
    writeFileSync(path, "{ broken");
    await agent.waitFor(/zeus\.json:1:3: not valid JSON: .*; still running the plan loaded before/);
    assert.equal((await controlIn(app, ["run", "hello"])).code, 0);
    zeus.plan.boot.work.hi = [];
    writeFileSync(path, JSON.stringify(zeus));
    writeFileSync(
      join(app, "plan.py"),
      `${readFileSync(join(app, "plan.py"), "utf8")}\ndef hi():\n    print("hi there")\n`,
    );
    await eventually(
      async () => (await controlIn(app, ["status", "--json"])).stdout.includes('"hi"'),
      15_000,
      "the new command in the tree",
    );
    const hi = await controlIn(app, ["run", "hi"]);
    assert.equal(hi.code, 0, hi.stderr);
    assert.equal(hi.stdout, "hi there\n");
  });
});

describe("a change still in its debounce window", () => {
  it("is applied before a command forks, not after", async () => {
    const app = writePythonApp();
    await startLocal(app, ["--file-change-delay", "30000"]);
    await waitForStates(app, ready);
    const first = await controlIn(app, ["run", "hello"]);
    assert.match(first.stdout, /^hello from pid/);
    writeFileSync(join(app, "lib.py"), 'GREETING = "fresh"\n');
    const second = await controlIn(app, ["run", "hello"]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /^fresh from pid/);
  });
});
