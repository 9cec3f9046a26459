import assert from "node:assert/strict";
import { cpSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeApp } from "./helpers/app.js";
import { control, startMaster, startSlave } from "./helpers/cluster.js";
import { projectRoot, stopAll } from "./helpers/processes.js";
import { railsApp, railsSkip } from "./helpers/rails-app.js";

after(stopAll);

interface JsonResult {
  files: { file: string; slave: string | null; status: string; output?: string }[];
}

/** A master keeping its state in the first app, and one slave per app directory (one host each), phases ready. */
async function clusterOf(apps: string[]) {
  const { url } = await startMaster([], 0, apps[0]);
  await Promise.all(apps.map((app, index) => startSlave(url, `host-${index}`, ["--config", join(app, "zeus.json")])));
  const ready = await control(url, ["status", "--wait", "--timeout", "120"]);
  assert.equal(ready.code, 0, ready.stdout + ready.stderr);
  return url;
}

describe("control test on real apps", () => {
  it("runs the Python example app's tests, found by the default glob, over two slaves", {
    timeout: 120_000,
  }, async () => {
    const app = makeApp({});
    cpSync(join(projectRoot, "examples/python-app"), app, { recursive: true });
    rmSync(join(app, ".olympus"), { recursive: true, force: true });
    const url = await clusterOf([app, app]);
    const result = await control(url, ["test", "--json", "-j", "1"]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const json = JSON.parse(result.stdout) as JsonResult;
    assert.deepEqual(json.files.map((file) => [file.file, file.status]).sort(), [
      ["tests/test_doccorpus.py", "passed"],
      ["tests/test_textstats.py", "passed"],
    ]);
    assert.deepEqual(new Set(json.files.map((file) => file.slave)), new Set(["host-0", "host-1"]));
  });

  it("runs a generated Rails app's tests on the real Zeus gem over two hosts' copies; the failing one is in JUnit", {
    skip: railsSkip,
    timeout: 300_000,
  }, async () => {
    const apps = [await railsApp(), await railsApp()];
    const url = await clusterOf(apps);
    const junit = join(apps[0] as string, "junit.xml");
    const result = await control(url, ["test", "--json", "--junit", junit, "-j", "1"]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const statuses = new Map((JSON.parse(result.stdout) as JsonResult).files.map((f) => [f.file, f.status]));
    assert.equal(statuses.get("test/models/widget_test.rb"), "passed");
    assert.equal(statuses.get("test/models/failing_widget_test.rb"), "failed");
    assert.ok(
      [...statuses.keys()].every((file) => /^test\/.*_test\.rb$/.test(file)),
      [...statuses.keys()].join(),
    );
    assert.match(
      readFileSync(junit, "utf8"),
      /<testcase name="test\/models\/failing_widget_test\.rb"[^>]*><failure [^>]*>[^<]*Expected: &quot;cog&quot;/,
    );
  });
});
