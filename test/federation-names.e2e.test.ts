import assert from "node:assert/strict";
import { after, it } from "node:test";
import type { SlaveInfo } from "../shared/protocol/messages.js";
import { control, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { startNats } from "./helpers/nats.js";
import { eventually, olympusBin, startNode, stopAll } from "./helpers/processes.js";

after(stopAll);

/** The slaves a master lists, as name, agent pid and the master each is connected to. */
async function slavesVia(url: string): Promise<Pick<SlaveInfo, "name" | "pid" | "master">[]> {
  const result = await control(url, ["slaves", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as SlaveInfo[]).map(({ name, pid, master }) => ({ name, pid, master }));
}

async function twoMasters() {
  const nats = await startNats();
  const a = await startMaster(["--nats", nats.url]);
  const b = await startMaster(["--nats", nats.url]);
  return { a: a.url, b: b.url };
}

it("refuses a slave's name on one master while another agent holds it on another", { timeout: 60_000 }, async () => {
  const { a, b } = await twoMasters();
  const first = await startSlave(a, "web");
  await eventually(async () => (await slavesVia(b)).length === 1, 10_000, "the slave listed on the other master");

  const second = startNode(olympusBin, ["slave", "--master", b, "--name", "web", "--token", TEST_TOKEN]);
  const since = "\\d\\d:\\d\\d:\\d\\d";
  await second.waitFor(
    new RegExp(
      `master refused: a slave named web is already connected to ${a} from 127\\.0\\.0\\.1 \\(pid ${first.child.pid}, since ${since}\\)`,
    ),
  );
  assert.equal((await second.exited).code, 1, second.output);
  for (const url of [a, b]) assert.deepEqual(await slavesVia(url), [{ name: "web", pid: first.child.pid, master: a }]);
  assert.doesNotMatch(first.output, /replaced|closed the session/);
});

it("lets --replace take a name from an agent on another master, which stops", { timeout: 60_000 }, async () => {
  const { a, b } = await twoMasters();
  const first = await startSlave(a, "web");
  await eventually(async () => (await slavesVia(b)).length === 1, 10_000, "the slave listed on the other master");

  const second = await startSlave(b, "web", ["--replace"]);
  await first.waitFor(/master closed the session: replaced by a slave of the same name on ws:/);
  assert.equal((await first.exited).code, 1, first.output);
  for (const url of [a, b])
    await eventually(
      async () =>
        JSON.stringify(await slavesVia(url)) === JSON.stringify([{ name: "web", pid: second.child.pid, master: b }]),
      10_000,
      `only the new agent listed on ${url}`,
    );
});
