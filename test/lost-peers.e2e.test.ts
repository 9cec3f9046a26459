import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { makeApp } from "./helpers/app.js";
import {
  slaveBehindProxy,
  slaveLostLines,
  startControl,
  startMaster,
  startSlave,
  TEST_TOKEN,
} from "./helpers/cluster.js";
import { controlBin, eventually, isAlive, startNode, stopAll } from "./helpers/processes.js";
import { CuttableProxy } from "./helpers/proxy.js";

after(stopAll);

/** Counts up every 0.1 s until a file named `stop` appears in its directory, then says how far it got. */
const COUNTER = "i=0; while [ ! -e stop ]; do i=$((i+1)); echo $i; sleep 0.1; done; echo done $i";
const counted = (stdout: string) => stdout.split("\n").filter((line) => /^\d+$/.test(line)).length;
/** How long each cut lasts: the scenario itself (a Wi-Fi drop), past the 10 s a silent peer is dropped after. */
const CUT_MS = 12_000;

it("loses nothing through a silent network cut of more than 10 s, on the agent's side and then the control's", async () => {
  const app = makeApp({});
  // The default heartbeat: a peer is dropped after 10 s of silence, and may resume for 60 s.
  const { process: master, port } = await startMaster();
  const { agent, proxy: agentProxy } = await slaveBehindProxy(port, "far", app);
  const controlProxy = await CuttableProxy.start(port);
  const flags = ["--master", `ws://127.0.0.1:${controlProxy.port}`, "--token", TEST_TOKEN];
  const running = startNode(controlBin, [...flags, "exec", "-T", "--", "sh", "-c", COUNTER], { cwd: app });
  await eventually(() => counted(running.stdout) >= 10, 30_000, "the first lines");

  assert.equal(agentProxy.silence(), 1, "the agent's connection silenced");
  await delay(CUT_MS);
  await running.waitFor(/^control: far: slave far lost its connection; waiting up to 60 s for it to resume$/m, 60_000);
  await agent.waitFor(/connection to \S+ lost, resuming \(up to 60 s\)/, 60_000);
  agentProxy.restore();
  await running.waitFor(/^control: far: slave far is back$/m, 60_000);
  await agent.waitFor(/resumed the session/);
  const afterAgentCut = counted(running.stdout);
  await eventually(() => counted(running.stdout) > afterAgentCut + 5, 30_000, "output to flow again");

  assert.equal(controlProxy.silence(), 1, "the control's connection silenced");
  await delay(CUT_MS);
  await running.waitFor(/^control: connection to \S+ lost, resuming \(up to 60 s\)$/m, 60_000);
  await master.waitFor(/control .* lost its connection/, 60_000);
  controlProxy.restore();
  await running.waitFor(/^control: resumed the session/m, 60_000);
  const afterControlCut = counted(running.stdout);
  await eventually(() => counted(running.stdout) > afterControlCut + 5, 30_000, "output to flow again");

  writeFileSync(join(app, "stop"), "");
  assert.equal((await running.exited).code, 0, running.stderr);
  const lines = running.stdout.trimEnd().split("\n");
  const last = lines.length - 1;
  assert.deepEqual(
    lines,
    lines.map((_, index) => (index === last ? `done ${last}` : String(index + 1))),
    "every line, in order",
  );
  agentProxy.close();
  controlProxy.close();
});

it("ends a command whose slave stays away past the session timeout: one line at the control, the process gone", async () => {
  const app = makeApp({});
  const { port } = await startMaster(["--heartbeat-interval", "500", "--session-timeout", "2000"]);
  const { agent, proxy: agentProxy } = await slaveBehindProxy(port, "gone", app);
  const flags = ["--master", `ws://127.0.0.1:${port}`, "--token", TEST_TOKEN];
  const running = startNode(controlBin, [...flags, "exec", "-T", "--", "sh", "-c", "echo $$; exec sleep 300"]);
  await running.waitFor(/^\d+\n/);
  const pid = Number(running.stdout.trim());
  assert.ok(isAlive(pid));

  agentProxy.silence();
  assert.equal((await running.exited).code, 1);
  assert.equal(running.stderr, [...slaveLostLines("gone", 2), ""].join("\n"));
  // The agent gives up on its session too, and ends the command nobody can read any more.
  await agent.waitFor(/ending 1 command\(s\) whose session with the master is over/);
  await eventually(() => !isAlive(pid), 30_000, `command ${pid} to end`);
  agentProxy.close();
});

it("reports a master that shuts down as that, not as its slaves' loss", async () => {
  const { process: master, url } = await startMaster();
  await startSlave(url, "b");
  const running = await startControl(url, ["exec", "--", "sh", "-c", "echo started; exec sleep 300"], /started/);
  await master.kill("SIGTERM");
  assert.equal((await running.exited).code, 1);
  assert.equal(running.stderr, "control: b: lost the master: master closed the session: master shutting down\n");
});
