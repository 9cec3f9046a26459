/** The modern worker generation (STREAM pair, P:pid:ppid:ident, feature pipe), through the Ruby fixture. */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { controlIn, nodes, startLocal, waitForStates } from "./helpers/app.js";
import { projectRoot, stopAll } from "./helpers/processes.js";

after(stopAll);

function copyFixture(): string {
  const directory = mkdtempSync(join(tmpdir(), "olympus-ruby-"));
  cpSync(join(projectRoot, "test/fixtures/ruby"), directory, { recursive: true });
  return directory;
}

describe("the Ruby fixture", () => {
  const app = copyFixture();
  const allReady = { boot: "ready", default_environment: "ready", development_environment: "ready", lazy: "ready" };
  before(() => startLocal(app));

  it("boots a three-level plan to ready", async () => {
    await waitForStates(app, allReady);
  });

  it("restarts the subtree of the node that loaded a changed file, and nothing above it", async () => {
    const before = await waitForStates(app, allReady);
    writeFileSync(join(app, "lib/greeter.rb"), "module Greeter\n  def self.greet(names) = \"hello again #{names.join(' ')}\"\nend\n");
    const deadline = Date.now() + 15_000;
    let now = before;
    while (Date.now() < deadline) {
      now = await nodes(app);
      if (now.get("default_environment")?.pid !== before.get("default_environment")?.pid && Object.entries(allReady).every(([name]) => now.get(name)?.state === "ready")) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(now.get("boot")?.pid, before.get("boot")?.pid);
    for (const name of ["default_environment", "development_environment", "lazy"]) assert.notEqual(now.get(name)?.pid, before.get(name)?.pid, name);
  });

  it("runs a command with its arguments and exit code", async () => {
    const echo = await controlIn(app, ["run", "e", "big", "world"]);
    assert.equal(echo.code, 0, echo.stderr);
    assert.equal(echo.stdout, "hello again big world\n");
    const exit = await controlIn(app, ["run", "exit_with", "7"]);
    assert.equal(exit.code, 7);
    const crash = await controlIn(app, ["run", "crash"]);
    assert.equal(crash.code, 1);
    assert.match(crash.stderr, /boom \(ArgumentError\)/);
  });
});

describe("the Ruby fixture with failing phases", () => {
  const app = copyFixture();
  before(() => startLocal(app, ["--config", "zeus-failing.json"]));

  it("crashes each failing phase with its backtrace, leaves the rest ready, and reboots once the file is fixed", async () => {
    const status = await waitForStates(app, { boot: "ready", default_environment: "ready", failing: "crashed", syntax_error: "crashed" });
    assert.match(status.get("failing")?.error ?? "", /phase failed on purpose/);
    assert.match(status.get("syntax_error")?.error ?? "", /broken\/syntax_error\.rb/);
    writeFileSync(join(app, "broken/syntax_error.rb"), "FIXED = true\n");
    await waitForStates(app, { syntax_error: "ready", failing: "crashed" });
  });

  it("refuses to run a command whose phase crashed, printing the crash report", async () => {
    const result = await controlIn(app, ["run", "echo"]);
    assert.equal(result.code, 0, "echo hangs off default_environment, which is ready");
    const app2 = copyFixture();
    writeFileSync(join(app2, "zeus.json"), JSON.stringify({ command: "ruby worker.rb plan.rb", plan: { boot: { failing: { echo: [] } } } }));
    await startLocal(app2);
    await waitForStates(app2, { failing: "crashed" });
    const refused = await controlIn(app2, ["run", "echo"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /phase failed on purpose/);
  });
});
