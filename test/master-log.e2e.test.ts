import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { controlBin, olympusBin, run, type Started, startNode, stopAll } from "./helpers/processes.js";

after(stopAll);

/** A master with its own state directory, so that it knows the tokens created there. */
async function masterIn(directory: string, extraArgs: string[] = []): Promise<{ master: Started; url: string }> {
  const master = startNode(olympusBin, ["master", "--port", "0", "--token", TEST_TOKEN, ...extraArgs], {
    cwd: directory,
  });
  const [, url] = (await master.waitFor(/listening on (ws:\/\/\S+)/)) as string[];
  return { master, url: url as string };
}

async function createToken(directory: string, role: string, name: string): Promise<string> {
  const result = await run(olympusBin, ["token", "create", "--role", role, "--name", name], { cwd: directory });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

const as = (url: string, token: string, args: string[]) =>
  run(controlBin, ["--master", url, "--token", token, ...args], { cwd: tmpdir() });

const TIME = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

it("logs one line per control call, naming the token's name and role (the agent one per command), each line with its time", async () => {
  const directory = mkdtempSync(join(tmpdir(), "olympus-log-"));
  const ci = await createToken(directory, "operator", "ci");
  const eyes = await createToken(directory, "viewer", "eyes");
  const { master, url } = await masterIn(directory);
  const slave = await startSlave(url, "web");

  assert.equal((await as(url, ci, ["exec", "--slave", "web", "--", "sh", "-c", "exit 3"])).code, 3);
  await master.waitFor(
    new RegExp(
      `^${TIME} master: control ci \\(operator\\) from 127\\.0\\.0\\.1: exec sh -c exit 3 on web \\(exit 3, \\d+\\.\\d s\\)$`,
      "m",
    ),
  );
  // The agent's own line for the command: it does not know the token, the master does.
  await slave.waitFor(new RegExp(`^${TIME} slave web: exec sh -c exit 3 \\(exit 3, \\d+\\.\\d s\\)$`, "m"));
  assert.equal((await as(url, eyes, ["status"])).code, 0);
  await master.waitFor(
    new RegExp(`^${TIME} master: control eyes \\(viewer\\) from 127\\.0\\.0\\.1: status \\(ok, \\d+\\.\\d s\\)$`, "m"),
  );
  // An answered ping is a liveness probe: detail. A failed one is news, and comes after it in the log.
  assert.equal((await as(url, ci, ["ping", "web"])).code, 0);
  assert.equal((await as(url, ci, ["ping", "nosuch"])).code, 1);
  await master.waitFor(
    /^.* master: control ci \(operator\) from 127\.0\.0\.1: ping on nosuch \(error: .*nosuch.*, \d+\.\d s\)$/m,
  );
  assert.doesNotMatch(master.output, /ping on web/);

  // A control's comings and goings are detail: without --verbose, only its calls.
  assert.doesNotMatch(master.output, /control .* (registered|closed the session|ended: control done)/);
  for (const line of master.output.trimEnd().split("\n")) assert.match(line, new RegExp(`^${TIME} `), line);
});

it("logs a control's registration and goodbye with --verbose", async () => {
  const { master, url } = await masterIn(mkdtempSync(join(tmpdir(), "olympus-log-")), ["--verbose"]);
  assert.equal((await as(url, TEST_TOKEN, ["slaves"])).code, 0);
  await master.waitFor(/control shared-token \(admin\) from 127\.0\.0\.1 registered/);
  await master.waitFor(/control shared-token \(admin\) from 127\.0\.0\.1: list_slaves \(ok, /);
  await master.waitFor(/control shared-token \(admin\) from 127\.0\.0\.1 closed the session: control done/);
});
