import assert from "node:assert/strict";
import { hostname } from "node:os";
import { after, describe, it } from "node:test";
import { control, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { eventually, olympusBin, type Started, startNode, stopAll } from "./helpers/processes.js";
import { CuttableProxy } from "./helpers/proxy.js";

after(stopAll);

/** The connected slaves' names and agent pids. */
async function slaves(url: string): Promise<{ name: string; pid?: number }[]> {
  const result = await control(url, ["slaves", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { name: string; pid?: number }[]).map(({ name, pid }) => ({ name, pid }));
}

function agent(url: string, name: string, extraArgs: string[] = []): Started {
  return startNode(olympusBin, ["slave", "--master", url, "--name", name, "--token", TEST_TOKEN, ...extraArgs]);
}

const refusal = (pid: number) =>
  new RegExp(
    `^.*master refused: a slave named a is already connected from 127\\.0\\.0\\.1 \\(pid ${pid}, since \\d\\d:\\d\\d:\\d\\d\\)$`,
    "m",
  );

describe("two agents under one name", { timeout: 60_000 }, () => {
  it("refuses the second with one line and a non-zero exit, whatever its id, and keeps the first", async () => {
    const { url } = await startMaster();
    const first = await startSlave(url, "a");
    for (const extraArgs of [[], ["--id", "7"]]) {
      const second = agent(url, "a", extraArgs);
      await second.waitFor(refusal(first.child.pid as number));
      assert.equal((await second.exited).code, 1, second.output);
      assert.doesNotMatch(second.output, /reconnecting/);
    }
    assert.deepEqual(await slaves(url), [{ name: "a", pid: first.child.pid }]);
    assert.doesNotMatch(first.output, /replaced/);
  });

  it("lets --replace take the name once; the replaced agent is refused when it comes back, and stops", async () => {
    const { url } = await startMaster();
    // Told to replace as well: only its first registration may, or the two would take turns forever.
    const first = await startSlave(url, "a", ["--replace"]);
    const second = await startSlave(url, "a", ["--replace"]);
    await first.waitFor(refusal(second.child.pid as number));
    assert.equal((await first.exited).code, 1, first.output);
    assert.match(first.output, /master closed the session: replaced by a new connection/);
    assert.deepEqual(await slaves(url), [{ name: "a", pid: second.child.pid }]);
  });

  it("gives the name at once to a new agent when the old one's connection is closed", async () => {
    // A long session timeout: the old session still waits for a resume when the new agent comes.
    const { url, process: master } = await startMaster(["--session-timeout", "60000"]);
    const first = await startSlave(url, "a");
    await first.kill("SIGKILL");
    await master.waitFor(/slave a \(id \d+, detached\) lost its connection/);
    const second = await startSlave(url, "a");
    assert.deepEqual(await slaves(url), [{ name: "a", pid: second.child.pid }]);
  });

  it("lets a dropped agent resume its own session", async () => {
    const { url, port } = await startMaster();
    const proxy = await CuttableProxy.start(port);
    after(() => proxy.close());
    const dropped = await startSlave(`ws://127.0.0.1:${proxy.port}`, "a");
    proxy.cutAll();
    await dropped.waitFor(/resumed the session/);
    await eventually(async () => (await slaves(url)).length === 1, 5000, "the agent to be listed again");
    assert.deepEqual(await slaves(url), [{ name: "a", pid: dropped.child.pid }]);
    assert.equal(dropped.child.exitCode, null);
    assert.doesNotMatch(dropped.output, /refused/);
  });
});

it("reads OLYMPUS_MASTER and names the agent after its host by default", async () => {
  const { url } = await startMaster();
  const started = startNode(olympusBin, ["slave", "--token", TEST_TOKEN], {
    env: { ...process.env, OLYMPUS_MASTER: url },
  });
  await started.waitFor(/connected to/);
  assert.deepEqual(await slaves(url), [{ name: hostname(), pid: started.child.pid }]);
});
