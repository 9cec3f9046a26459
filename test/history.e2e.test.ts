import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { controlIn, startOlympus, writePythonApp } from "./helpers/app.js";
import { stopAll } from "./helpers/processes.js";

interface Entry {
  command_id: string;
  command: string;
  slave: string;
  who: string;
  started: string;
  duration: number;
  exit_code: number | null;
  output_bytes: number;
}

describe("the history of commands", () => {
  let dir: string;
  let olympus: Awaited<ReturnType<typeof startOlympus>>;
  const history = async () => {
    const result = await controlIn(dir, ["history", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as Entry[];
  };

  before(async () => {
    dir = writePythonApp();
    olympus = await startOlympus(dir);
    await controlIn(dir, ["status", "--wait"]);
  });
  after(stopAll);

  it("keeps who ran what, where, when, how long, its exit code and its last 64 KiB of output", async () => {
    const started = Date.now();
    assert.equal((await controlIn(dir, ["run", "hello"])).code, 0);
    assert.equal((await controlIn(dir, ["exec", "--", "sh", "-c", "echo bye; exit 3"])).code, 3);
    const big = await controlIn(dir, ["exec", "--", "sh", "-c", "head -c 100000 /dev/zero | tr '\\000' y; echo end"]);
    assert.equal(big.code, 0);

    const [hello, exited, long] = await history();
    assert.equal(hello?.command, "hello");
    assert.equal(hello?.exit_code, 0);
    assert.equal(hello?.who, "local-admin");
    assert.ok(hello !== undefined && Date.parse(hello.started) >= started - 1000, "started is the command's start");
    assert.ok(hello !== undefined && hello.duration > 0 && hello.duration < 60);
    assert.equal(exited?.command, "sh -c 'echo bye; exit 3'");
    assert.equal(exited?.exit_code, 3);
    assert.equal(long?.output_bytes, 64 * 1024);

    const output = await controlIn(dir, ["history", "--output", exited?.command_id as string]);
    assert.equal(output.stdout, "bye\n");
    const tail = await controlIn(dir, ["history", "--output", long?.command_id as string]);
    assert.equal(tail.stdout.length, 64 * 1024);
    assert.ok(/^y+end\n$/.test(tail.stdout), `the last bytes of y…yend: ${JSON.stringify(tail.stdout.slice(-20))}`);
    const table = await controlIn(dir, ["history"]);
    assert.match(table.stdout, /^STARTED +SLAVE +WHO +TOOK +EXIT +ID +COMMAND\n/);
    assert.match(table.stdout, / 3 +\S+ +sh -c 'echo bye; exit 3'\n/);
  });

  it("outlives a restart of the master", async () => {
    const before = await history();
    await olympus.process.kill();
    olympus = await startOlympus(dir);
    assert.deepEqual(await history(), before);
  });

  it("answers an unknown command id with one line", async () => {
    const result = await controlIn(dir, ["history", "--output", "no-such-command"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "control: no command no-such-command in the history\n");
  });
});
