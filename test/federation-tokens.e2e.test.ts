import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { startMaster } from "./helpers/cluster.js";
import { startNats } from "./helpers/nats.js";
import { controlBin, eventually, olympusBin, run, startNode, stopAll } from "./helpers/processes.js";

after(stopAll);

/** The first master's secret and token list, copied to another's directory, as to another host. */
function copyState(from: string, to: string): void {
  mkdirSync(join(to, ".olympus"), { mode: 0o700 });
  for (const file of ["secret", "tokens.json"]) copyFileSync(join(from, ".olympus", file), join(to, ".olympus", file));
}

it("refuses a token revoked on one master on every master, and ends its sessions there", async () => {
  const nats = await startNats();
  // A directory per master, as on hosts of their own.
  const [first, ...others] = [1, 2, 3].map(() => mkdtempSync(join(tmpdir(), "olympus-federated-"))) as [
    string,
    string,
    string,
  ];
  const created = await run(olympusBin, ["token", "create", "--role", "operator", "--name", "ops"], { cwd: first });
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trimEnd().split("\n").at(-1) as string;
  for (const directory of others) copyState(first, directory);
  const masters = [];
  for (const directory of [first, ...others]) masters.push(await startMaster(["--nats", nats.url], 0, directory));

  const slaves = (url: string) => run(controlBin, ["--master", url, "--token", token, "slaves"]);
  for (const { url } of masters) assert.equal((await slaves(url)).code, 0, url);
  const watchers = masters.map(({ url }) => startNode(controlBin, ["--master", url, "--token", token, "watch"]));

  const revoked = await run(olympusBin, ["token", "revoke", "ops"], { cwd: first });
  assert.equal(revoked.code, 0, revoked.stderr);
  await Promise.all(
    watchers.map((watcher) => eventually(async () => watcher.child.exitCode !== null, 10_000, "watch ended")),
  );
  for (const watcher of watchers) assert.match(watcher.output, /"ops" was revoked/);
  for (const { url } of masters) {
    const refused = await slaves(url);
    assert.notEqual(refused.code, 0, url);
    assert.match(refused.stderr, /"ops" was revoked/, url);
  }
});
