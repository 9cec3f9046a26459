/**
 * A newly generated Rails 6.1 app (Debian's ruby-rails) with the real Zeus
 * gem's upstream zeus.json and Zeus::Rails plan, under one `olympus start`.
 */
import assert from "node:assert/strict";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { controlIn, startLocal, waitForRestart, waitForStates } from "./helpers/app.js";
import { run, stopAll, zeusBin } from "./helpers/processes.js";
import { railsApp, railsSkip } from "./helpers/rails-app.js";
import { controlInTerminal } from "./helpers/terminal.js";

after(stopAll);

const PHASES = ["boot", "default_bundle", "development_environment", "prerake", "test_environment", "test_helper"];
const ALL_READY = Object.fromEntries(PHASES.map((name) => [name, "ready"]));
/** Rails phases boot in seconds on a quiet machine; a loaded one may take many times that. */
const BOOT_MS = 90_000;

describe("a generated Rails app on the real Zeus gem", () => {
  const skip = railsSkip;
  let app = "";

  before(async () => {
    if (skip) return;
    app = await railsApp();
    await startLocal(app);
    await waitForStates(app, ALL_READY, BOOT_MS);
  });

  it("runs `runner` with its arguments and exit code", { skip }, async () => {
    const two = await controlIn(app, ["run", "runner", "puts 1+1"]);
    assert.equal(two.code, 0, two.stderr);
    assert.equal(two.stdout, "2\n");
    const three = await controlIn(app, ["run", "runner", "exit 3"]);
    assert.equal(three.code, 3, three.stderr);
  });

  it("answers as `zeus`: `zeus runner` runs the command, `zeus start` is `olympus start`", { skip }, async () => {
    const two = await run(zeusBin, ["runner", "puts 1+1"], { cwd: app });
    assert.equal(two.code, 0, two.stderr);
    assert.equal(two.stdout, "2\n");
    const start = await run(zeusBin, ["start", "--help"], { cwd: app });
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /Usage: olympus start/);
  });

  it("runs a model test, and a failing assertion fails the command", { skip }, async () => {
    const passing = await controlIn(app, ["run", "test", "test/models/widget_test.rb"]);
    assert.equal(passing.code, 0, passing.stdout + passing.stderr);
    assert.match(passing.stdout, /1 runs, 1 assertions, 0 failures, 0 errors/);
    const failing = await controlIn(app, ["run", "test", "test/models/failing_widget_test.rb"]);
    assert.notEqual(failing.code, 0, failing.stdout + failing.stderr);
    assert.match(failing.stdout, /FailingWidgetTest#test_fails_on_purpose.*\n.*Expected: "cog"/);
    assert.match(failing.stdout, /1 runs, 1 assertions, 1 failures/);
  });

  it("runs `console` in a terminal, taking input", { skip }, async () => {
    const terminal = controlInTerminal(["run", "console"], { cwd: app, answerCursorQueries: true });
    await terminal.waitFor(/irb\(main\)/, 30_000);
    terminal.write("puts Widget.table_name.upcase\r");
    await terminal.waitFor(/WIDGETS/);
    terminal.write("exit\r");
    assert.equal((await terminal.exited).exitCode, 0, terminal.output());
  });

  it("restarts only test_helper when test/test_helper.rb changes", { skip }, async () => {
    const before = await waitForStates(app, ALL_READY, BOOT_MS);
    appendFileSync(join(app, "test/test_helper.rb"), "\n# edited\n");
    const now = await waitForRestart(app, before, ["test_helper"], PHASES, BOOT_MS);
    for (const name of PHASES.filter((phase) => phase !== "test_helper"))
      assert.equal(now.get(name)?.pid, before.get(name)?.pid, `${name} kept its process`);
  });

  it("runs `generate model` and `rake db:migrate`", { skip }, async () => {
    const generated = await controlIn(app, ["run", "generate", "model", "Gadget", "size:integer"]);
    assert.equal(generated.code, 0, generated.stdout + generated.stderr);
    assert.ok(existsSync(join(app, "app/models/gadget.rb")), generated.stdout);
    const migrated = await controlIn(app, ["run", "rake", "db:migrate"]);
    assert.equal(migrated.code, 0, migrated.stdout + migrated.stderr);
    assert.match(readFileSync(join(app, "db/schema.rb"), "utf8"), /create_table "gadgets"/);
    // Through the connection: the booted phase's autoloader has not seen app/models/gadget.rb.
    const columns = await controlIn(app, [
      "run",
      "runner",
      "print ActiveRecord::Base.connection.columns(:gadgets).map(&:name).sort.join(' ')",
    ]);
    assert.equal(columns.code, 0, columns.stderr);
    assert.equal(columns.stdout, "created_at id size updated_at");
  });
});
