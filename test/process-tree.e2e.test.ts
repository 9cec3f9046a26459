import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { controlIn, makeApp, nodes, startLocal, waitForRestart, waitForStates, writeApp } from "./helpers/app.js";
import {
  controlBin,
  eventually,
  isAlive,
  olympusBin,
  run,
  type Started,
  startNode,
  stopAll,
} from "./helpers/processes.js";

after(stopAll);

const zeusJson = (command: string, plan: object) => JSON.stringify({ command, plan });
const threeLevels = { boot: { environment: { test_helper: { test: ["t"] }, console_helper: { console: ["c"] } } } };

describe("a three-level Python plan", () => {
  const app = makeApp({
    "zeus.json": zeusJson("python3 -m olympus_zeus plan", threeLevels),
    "plan.py": [
      "import root_lib",
      "def boot(): pass",
      "def environment(): import env_lib",
      "def test_helper(): import leaf_lib",
      "def console_helper(): pass",
      "def test(): print('ok')",
      "def console(): print('console')",
      "",
    ].join("\n"),
    "root_lib.py": "ROOT = 1\n",
    "env_lib.py": "ENV = 1\n",
    "leaf_lib.py": "LEAF = 1\n",
  });
  const allReady = { boot: "ready", environment: "ready", test_helper: "ready", console_helper: "ready" };

  it("boots every phase to ready", async () => {
    await startLocal(app);
    const status = await waitForStates(app, allReady);
    for (const node of status.values()) assert.ok(node.pid !== null && node.pid > 0);
    const chart = await controlIn(app, ["status"]);
    assert.match(chart.stdout, /test_helper \[ready\]/);
    assert.match(chart.stdout, /test \(t\)/);
  });

  it("restarts only the leaf when a file the leaf loaded changes", async () => {
    const before = await waitForStates(app, allReady);
    writeApp(app, "leaf_lib.py", "LEAF = 2\n");
    await waitForRestart(app, before, ["test_helper"]);
    const now = await nodes(app);
    for (const name of ["boot", "environment", "console_helper"])
      assert.equal(now.get(name)?.pid, before.get(name)?.pid, name);
  });

  it("restarts everything when a file the root loaded changes", async () => {
    const before = await waitForStates(app, allReady);
    writeApp(app, "root_lib.py", "ROOT = 2\n");
    await waitForRestart(app, before, ["boot"]);
    const now = await waitForStates(app, allReady);
    for (const name of Object.keys(allReady)) assert.notEqual(now.get(name)?.pid, before.get(name)?.pid, name);
  });

  it("crashes a phase with its traceback, its children wait for it, and fixing the file reboots them", async () => {
    writeApp(app, "env_lib.py", "ENV = (\n");
    const crashed = await waitForStates(app, {
      boot: "ready",
      environment: "crashed",
      test_helper: "waiting",
      console_helper: "waiting",
    });
    const error = crashed.get("environment")?.error ?? "";
    assert.match(error, /SyntaxError/);
    assert.match(error, /env_lib\.py/);
    assert.equal(crashed.get("test_helper")?.error, null);
    const chart = await controlIn(app, ["status", "--errors"]);
    assert.match(chart.stdout, /SyntaxError/);
    assert.match(chart.stdout, /test_helper \[waiting\]/);
    // A command under a waiting phase names the phase that crashed, then its report.
    const refused = await controlIn(app, ["run", "test"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /phase environment crashed:\n(.|\n)*SyntaxError/);

    writeApp(app, "env_lib.py", "ENV = 3\n");
    await waitForStates(app, allReady);
  });

  it("prints a line for every state change to `control watch`", async () => {
    await waitForStates(app, allReady);
    const watcher = startNode(controlBin, ["watch"], { cwd: app });
    await untilWatching(app, watcher);
    writeApp(app, "leaf_lib.py", "LEAF = 3\n");
    await watcher.waitFor(/test_helper unbooted[\s\S]*test_helper booting[\s\S]*test_helper ready \(pid \d+\)/);
    assert.doesNotMatch(watcher.output, / boot (unbooted|booting)/, "only the leaf restarted");
    await watcher.kill("SIGINT");
  });

  it("restarts a subtree on request", async () => {
    const before = await waitForStates(app, allReady);
    const result = await controlIn(app, ["restart", await slaveName(app), "environment"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /restarted environment, test_helper, console_helper/);
    await waitForRestart(app, before, ["environment"]);
    const now = await waitForStates(app, allReady);
    assert.equal(now.get("boot")?.pid, before.get("boot")?.pid);
  });
});

describe("misbehaving workers", () => {
  const rawWorker = fileURLToPath(new URL("../../test/fixtures/python/raw_worker.py", import.meta.url));
  const app = makeApp({
    "zeus.json": zeusJson(`python3 ${rawWorker}`, {
      boot: { good: { cmd: [] }, garbage: {}, unterminated: {}, silent: {}, dies: {} },
    }),
  });

  it("crashes only the node that misbehaves, with a clear error; the rest go on", async () => {
    const started = await startLocal(app, ["--boot-timeout", "5000"]);
    const status = await waitForStates(app, {
      boot: "ready",
      good: "ready",
      garbage: "crashed",
      unterminated: "crashed",
      silent: "crashed",
      dies: "crashed",
    });
    assert.equal(status.get("garbage")?.error, 'worker sent garbage: "Z:this is not the protocol"');
    assert.equal(status.get("unterminated")?.error, 'worker sent an unterminated message "R:OK"');
    assert.equal(status.get("silent")?.error, "no result (R:) within 5000 ms");
    assert.match(status.get("dies")?.error ?? "", /^worker exited \(.*\) before it reported a result$/);
    assert.equal(started.child.exitCode, null, "the agent is still running");
  });

  it("shows a root that breaks the protocol before P: as crashed, with what it sent", async () => {
    const register =
      "import os, socket; m = socket.socket(fileno=int(os.environ['ZEUS_MASTER_FD'])); l, r = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)";
    const speak = "socket.send_fds(m, [b'\\0'], [r.fileno()]); l.send(b'P:abc:boot\\0'); l.recv(1)";
    const brokenApp = makeApp({ "zeus.json": zeusJson(`python3 -c "${register}; ${speak}"`, { boot: { cmd: [] } }) });
    await startLocal(brokenApp);
    const status = await waitForStates(brokenApp, { boot: "crashed" });
    assert.equal(status.get("boot")?.error, 'worker sent a malformed identity: "P:abc:boot"');
    const errors = await controlIn(brokenApp, ["status", "--errors"]);
    assert.match(errors.stdout, /malformed identity: "P:abc:boot"/);
  });

  it("kills a process that registers as a phase nobody asked for", async () => {
    const intruderApp = makeApp({
      "zeus.json": zeusJson(`RAW_WORKER_INTRUDER=1 python3 ${rawWorker}`, { boot: { good: {} } }),
    });
    const started = await startLocal(intruderApp);
    const [, pid] = (await started.waitFor(
      /killed pid (\d+): it registered as "intruder", which nobody asked for/,
    )) as string[];
    await eventually(() => !isAlive(Number(pid)), 5000, `the intruder (pid ${pid}) to be gone`);
    await waitForStates(intruderApp, { boot: "ready", good: "ready" });
  });
});

describe("an invalid zeus.json", () => {
  it("gives one line naming the place in the file, and exit 1", async () => {
    const cases: [object | string, string][] = [
      [
        { command: "x", plan: { boot: { test: 5 } } },
        "zeus.json: plan.boot.test: expected an object (a phase), an array of aliases or null (a command), got number\n",
      ],
      [{ plan: { boot: {} } }, "zeus.json: command: Invalid input: expected string, received undefined\n"],
      [{ command: "x", plan: { boot: { t: [1] } } }, "zeus.json: plan.boot.t.0: expected an alias name\n"],
      [{ command: "x", plan: { a: {}, b: {} } }, "zeus.json: plan: expected exactly one root phase, found 2\n"],
      ["{ not json", "zeus.json:1:3: not valid JSON: Expected property name or '}'\n"],
      ['{"command": "x",\n  "plan": }', "zeus.json:2:11: not valid JSON: Unexpected token '}'\n"],
    ];
    for (const [contents, message] of cases) {
      const app = makeApp({ "zeus.json": typeof contents === "string" ? contents : JSON.stringify(contents) });
      const result = await run(olympusBin, ["start", "--config", "zeus.json"], { cwd: app });
      assert.equal(result.code, 1);
      assert.ok(result.stderr.startsWith(`olympus: ${message}`), `${result.stderr} should start with ${message}`);
      assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
    }
    const nowhere = await run(olympusBin, ["start"], { cwd: makeApp({}) });
    assert.equal(nowhere.code, 1);
    assert.match(
      nowhere.stderr,
      /^olympus: zeus\.json: cannot read \(ENOENT\) in \/\S+; run where zeus\.json is, or pass --config PATH\n$/,
    );
  });
});

async function slaveName(app: string): Promise<string> {
  const result = await controlIn(app, ["slaves", "--json"]);
  return (JSON.parse(result.stdout) as { name: string }[])[0]?.name as string;
}

/**
 * Resolves once `control watch` is subscribed: it shows a probe agent's
 * arrival. A probe that came before the subscription leaves and another
 * comes, until one shows; it leaves too before this returns.
 */
async function untilWatching(app: string, watcher: Started): Promise<void> {
  const { url, token } = JSON.parse(readFileSync(join(app, ".olympus", "master.json"), "utf8")) as {
    url: string;
    token: string;
  };
  for (let attempt = 1; ; attempt++) {
    const name = `watch-probe-${attempt}`;
    const probe = startNode(olympusBin, ["slave", "--master", url, "--name", name, "--token", token], {
      cwd: mkdtempSync(join(tmpdir(), "olympus-probe-")),
    });
    await probe.waitFor(/connected to/);
    const shown = await watcher.waitFor(new RegExp(` ${name} connected`), 2000).then(
      () => true,
      () => false,
    );
    await probe.kill();
    if (shown) return void (await watcher.waitFor(new RegExp(` ${name} disconnected`)));
    if (attempt === 10) throw new Error(`control watch never showed a probe agent:\n${watcher.output}`);
  }
}
