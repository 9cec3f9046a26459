import assert from "node:assert/strict";
import { after, it } from "node:test";
import { makeApp, startOlympus, waitForStates } from "./helpers/app.js";
import { control, startMaster, TEST_TOKEN } from "./helpers/cluster.js";
import {
  controlBin,
  eventually,
  olympusBin,
  processesIn,
  type Started,
  start,
  startNode,
  stopAll,
} from "./helpers/processes.js";

after(stopAll);

const zeusJson = JSON.stringify({ command: "python3 -m olympus_zeus plan", plan: { boot: { work: { sleepy: [] } } } });
const planPy = [
  "import time",
  "def boot(): pass",
  "def work(): pass",
  "def sleepy():",
  "    print('sleeping', flush=True); time.sleep(60)",
  "",
].join("\n");

/** Starts a plan command and an exec'd program from a control outside the app directory. */
async function startCommands(url: string, token: string): Promise<Started[]> {
  const flags = ["--master", url, "--token", token];
  const commands = [
    start(process.execPath, [controlBin, ...flags, "run", "-T", "sleepy"], { cwd: "/" }),
    start(process.execPath, [controlBin, ...flags, "exec", "-t", "--", "sh", "-c", "echo started; sleep 60"], {
      cwd: "/",
    }),
  ];
  await Promise.all([commands[0]?.waitFor(/sleeping/), commands[1]?.waitFor(/started/)]);
  return commands;
}

async function assertAllGoneAfterKill(agent: Started, app: string): Promise<void> {
  const before = processesIn(app);
  assert.ok(before.length >= 4, `expected workers and commands, found ${before.length}`);
  const killedAt = Date.now();
  agent.child.kill("SIGKILL");
  await eventually(
    () => processesIn(app).length === 0,
    2000,
    `every process of ${app} to be gone (left: ${processesIn(app).join(", ")})`,
  );
  assert.ok(Date.now() - killedAt <= 2000);
}

it("leaves no worker or command behind when olympus start is killed with SIGKILL", async () => {
  const app = makeApp({ "zeus.json": zeusJson, "plan.py": planPy });
  const { process: olympus, url, token } = await startOlympus(app);
  await waitForStates(app, { boot: "ready", work: "ready" });
  await startCommands(url, token);
  await assertAllGoneAfterKill(olympus, app);
});

it("leaves no worker or command behind when an agent is killed with SIGKILL", async () => {
  const app = makeApp({ "zeus.json": zeusJson, "plan.py": planPy });
  const { url } = await startMaster();
  const agent = startNode(olympusBin, [
    "slave",
    "--master",
    url,
    "--name",
    "doomed",
    "--token",
    TEST_TOKEN,
    "--config",
    `${app}/zeus.json`,
  ]);
  await agent.waitFor(/connected to/);
  await eventually(
    async () => {
      const status = await control(url, ["status", "--json"]);
      const nodes =
        status.code === 0 ? (JSON.parse(status.stdout) as { nodes: { state: string }[] }[])[0]?.nodes : undefined;
      return nodes?.length === 2 && nodes.every((node) => node.state === "ready");
    },
    15_000,
    "boot and work to be ready",
  );
  await startCommands(url, TEST_TOKEN);
  await assertAllGoneAfterKill(agent, app);
});
