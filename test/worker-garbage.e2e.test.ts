/**
 * Fuzzing an agent: garbage from workers on its worker sockets (from
 * test/fixtures/python/fuzz_worker.py, seeded like the master's fuzzing). It
 * must stay up, crash only the node that misbehaves with a one-line error,
 * and leak no file descriptors.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { controlIn, makeApp, startLocal, waitForStates } from "./helpers/app.js";
import { SEED } from "./helpers/fuzz-frames.js";
import { stopAll } from "./helpers/processes.js";

after(stopAll);

describe("garbage on an agent's worker sockets", () => {
  const fuzzWorker = fileURLToPath(new URL("../../test/fixtures/python/fuzz_worker.py", import.meta.url));
  const zeusJson = (env: string, plan: object) =>
    JSON.stringify({ command: `${env} FUZZ_SEED=${SEED} python3 ${fuzzWorker}`, plan });
  const garbagePreview = /^worker sent garbage: ".*"$/;
  /** Each misbehaving phase of fuzz_worker.py and the error it must be crashed with. */
  const expectedErrors: Record<string, RegExp> = {
    garbage_nul: garbagePreview,
    garbage_unterminated: /^worker sent an unterminated message ".*"$/,
    invalid_utf8: garbagePreview,
    nul_storm: garbagePreview,
    garbage_after_ready: garbagePreview,
    result_twice: /^worker sent a second result: R:OK$/,
    second_identity: /^worker sent a second P: message out of turn$/,
    exit_code: /^worker sent an exit code out of turn$/,
    // Before P: a socket names no node; it is pinned on the only node still waiting, if there is one.
    garbage_first: /^(no result \(R:\) within 5000 ms|worker sent garbage: ".*")$/,
    fd_alone: /^worker sent a file descriptor nobody asked for$/,
    fd_with_garbage: garbagePreview,
    fd_flood: /fds truncated/,
    oversized_datagram: /datagram larger than \d+ bytes was truncated/,
    overlong_stream: /^worker sent over 1048576 bytes without a terminating \\0$/,
    stream_eof_partial: /^worker closed its socket after an unterminated message "R:O"$/,
    modern_junk_pipe: garbagePreview,
  };
  const good = { boot: "ready", good: "ready", good_too: "ready" };

  it("crashes each misbehaving node with a one-line error, keeps the rest ready, and leaks no fds over restarts", async (t: TestContext) => {
    const phases = Object.fromEntries(["good", "good_too", ...Object.keys(expectedErrors)].map((name) => [name, {}]));
    const app = makeApp({ "zeus.json": zeusJson("", { boot: phases }) });
    const agent = await startLocal(app, ["--boot-timeout", "5000"]);
    const wanted = { ...good, ...Object.fromEntries(Object.keys(expectedErrors).map((name) => [name, "crashed"])) };
    const fdCounts: number[] = [];
    for (let round = 0; round < 3; round++) {
      if (round > 0) {
        const restarted = await controlIn(app, ["restart"]);
        assert.equal(restarted.code, 0, restarted.stderr);
      }
      const status = await waitForStates(app, wanted, 15_000);
      for (const [name, pattern] of Object.entries(expectedErrors)) {
        const error = status.get(name)?.error ?? "";
        assert.match(error, pattern, name);
        assert.doesNotMatch(error, /[\r\n]/, `${name}: the error is one line`);
      }
      // The agent kills crashed workers after its 1 s grace (CRASH_GRACE_MS) and closes their fds; no outside sign says when.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      fdCounts.push(readdirSync(`/proc/${agent.child.pid}/fd`).length);
    }
    t.diagnostic(`agent fds after each round: ${fdCounts.join(", ")}`);
    assert.ok((fdCounts[2] as number) - (fdCounts[0] as number) <= 2, `agent fds grew: ${fdCounts.join(", ")}`);
    assert.equal(agent.child.exitCode, null, "the agent is still running");
    const slaves = await controlIn(app, ["slaves"]);
    assert.equal(slaves.code, 0, slaves.stderr);
    assert.doesNotMatch(agent.output, /internal error|Uncaught|TypeError|RangeError/);
  });

  // Found by this fuzzer: the agent's master socket used to close on a truncated datagram, so no worker could register again.
  it("keeps accepting workers after one sends an oversized datagram on the master socket", async () => {
    const app = makeApp({ "zeus.json": zeusJson("ABUSE_MASTER_FD=1", { boot: { good: {} } }) });
    await startLocal(app, ["--boot-timeout", "5000"]);
    await waitForStates(app, { boot: "ready", good: "ready" }, 15_000);
  });
});
