import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { PROTOCOL_VERSION } from "../shared/protocol/version.js";
import { controlIn, type NodeStatus, startLocal, waitForStates, writeApp, writePythonApp } from "./helpers/app.js";
import { control, startControl, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { controlBin, eventually, olympusBin, projectRoot, run, startNode, stopAll } from "./helpers/processes.js";

after(stopAll);

it("prints the package and protocol versions on both CLIs", async () => {
  const { version } = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as { version: string };
  for (const bin of [olympusBin, controlBin]) {
    const result = await run(bin, ["--version"]);
    assert.deepEqual([result.code, result.stdout], [0, `olympus ${version} (protocol ${PROTOCOL_VERSION})\n`], bin);
  }
});

it("exits 127 with one line when the program does not exist, as a shell does, and 126 when it cannot be executed", async () => {
  const { url } = await startMaster();
  await Promise.all([startSlave(url, "a"), startSlave(url, "b")]);
  const missing = await control(url, ["exec", "--slave", "a", "--", "nosuchprogram"]);
  assert.deepEqual(
    [missing.code, missing.stdout, missing.stderr],
    [127, "", "control: nosuchprogram: command not found\n"],
  );
  const notExecutable = await control(url, ["exec", "--slave", "a", "--", "/etc/passwd"]);
  assert.deepEqual([notExecutable.code, notExecutable.stderr], [126, "control: /etc/passwd: permission denied\n"]);
  const fannedOut = await control(url, ["exec", "--all", "--", "nosuchprogram"]);
  assert.equal(fannedOut.code, 127);
  assert.deepEqual(fannedOut.stderr.split("\n").sort(), [
    "",
    "a | nosuchprogram: command not found",
    "b | nosuchprogram: command not found",
    "exit codes: a 127, b 127",
  ]);
});

describe("control status --wait", () => {
  const states = (stdout: string) =>
    (JSON.parse(stdout) as { nodes: NodeStatus[] }[]).flatMap((tree) =>
      tree.nodes.map((node) => `${node.name} ${node.state}`),
    );

  it("exits 0 once every phase is ready", async () => {
    const app = writePythonApp();
    writeApp(app, "lib.py", 'import time\ntime.sleep(1)\nGREETING = "hello"\n');
    await startLocal(app);
    const result = await controlIn(app, ["status", "--wait", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(states(result.stdout), ["boot ready", "work ready"]);
  });

  it("exits 1 once a phase has crashed, naming it", async () => {
    const app = writePythonApp();
    writeApp(app, "lib.py", "GREETING = (\n");
    const olympus = await startLocal(app);
    const result = await controlIn(app, ["status", "--wait"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `control: crashed: ${hostname()}/work (control status --errors shows why)\n`);
    // The agent's own line names the phase and the exception, not a traceback's header.
    await olympus.waitFor(/work crashed: SyntaxError: /);
  });

  it("gives up after --timeout, saying what it waited for", async () => {
    const app = writePythonApp();
    writeApp(app, "lib.py", "import time\ntime.sleep(60)\n");
    await startLocal(app);
    // The root first: on a busy machine it may still be booting after 1.5 s.
    await waitForStates(app, { boot: "ready", work: "booting" });
    const result = await controlIn(app, ["status", "--wait", "--timeout", "1.5"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `control: timed out after 1.5 s waiting for ${hostname()}/work (booting)\n`);
    const unknown = await controlIn(app, ["status", "nosuch", "--wait", "--timeout", "0.5"]);
    assert.deepEqual(
      [unknown.code, unknown.stderr],
      [1, "control: timed out after 0.5 s waiting for slave nosuch to connect\n"],
    );
  });
});

it("prints JSON from ping and, one object per line, from watch", async () => {
  const { url } = await startMaster();
  await startSlave(url, "pinged");
  for (const target of [[], ["pinged"]]) {
    const result = await control(url, ["ping", "--json", ...target]);
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout) as { target: string; ms: number };
    assert.equal(answer.target, target[0] ?? "master");
    assert.ok(answer.ms >= 0, result.stdout);
  }
  const watcher = startNode(controlBin, ["--master", url, "--token", TEST_TOKEN, "watch", "--json"]);
  // The master tells a watcher of slaves only as they come and go: a second one comes once it watches.
  await eventually(async () => {
    const late = await startSlave(url, "late");
    await late.kill();
    return /"event":"slave".*"connected":false/.test(watcher.output);
  });
  const events = watcher.output
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { at: string; event: string; slave: string; connected: boolean });
  assert.ok(
    events.some((event) => event.event === "slave" && event.slave === "late" && event.connected),
    watcher.output,
  );
  for (const event of events) assert.ok(!Number.isNaN(Date.parse(event.at)), event.at);
});

it("says what it stopped on Ctrl-C of olympus slave", async () => {
  const { url } = await startMaster();
  const app = writePythonApp();
  const slave = startNode(olympusBin, ["slave", "--master", url, "--name", "stopped", "--token", TEST_TOKEN], {
    cwd: app,
  });
  await slave.waitFor(/connected to/);
  assert.equal((await control(url, ["status", "--wait"])).code, 0);
  const running = await startControl(url, ["exec", "--", "sh", "-c", "echo started; exec sleep 300"], /started/);
  await slave.kill("SIGINT");
  assert.match(
    slave.output,
    new RegExp(`slave stopped: SIGINT: stopped 1 command, 2 workers \\(boot, work\\) and the session with ${url}\\n$`),
  );
  assert.equal((await running.exited).code, 1);
});
