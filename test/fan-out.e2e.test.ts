import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { controlBin, eventually, isAlive, startNode, stopAll } from "./helpers/processes.js";

after(stopAll);

describe("a command fanned out to several slaves", () => {
  let url: string;
  before(async () => {
    ({ url } = await startMaster());
    await Promise.all([startSlave(url, "a"), startSlave(url, "b")]);
  });

  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const) {
    it(`forwards ${signal} to every remote command, prints the summary and exits with their code`, async () => {
      // `exec` keeps the shell's pid, so the printed pid is the remote sleep itself.
      const control = startNode(controlBin, [
        "--master",
        url,
        "--token",
        TEST_TOKEN,
        "exec",
        "--slave",
        "a,b",
        "--",
        "sh",
        "-c",
        "echo pid $$; exec sleep 41",
      ]);
      const pids = await Promise.all(
        ["a", "b"].map(async (slave) =>
          Number((await control.waitFor(new RegExp(`^${slave} \\| pid (\\d+)$`, "m")))[1]),
        ),
      );
      assert.ok(pids.every(isAlive));
      control.child.kill(signal);
      const code = 128 + { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 }[signal];
      assert.deepEqual(await control.exited, { code, signal: null }, control.output);
      assert.match(control.output, new RegExp(`^exit codes: a ${code}, b ${code}$`, "m"));
      await eventually(() => !pids.some(isAlive), 5000, `remote pids ${pids.join(", ")} to be gone`);
    });
  }
});
