import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { makeApp } from "./helpers/app.js";
import { control, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { controlBin, eventually, isAlive, type Started, startNode, stopAll } from "./helpers/processes.js";
import { runsIn, type SuiteFile, writeSuiteApp } from "./helpers/suite-app.js";
import { controlInTerminal } from "./helpers/terminal.js";

after(stopAll);

interface JsonResult {
  stopped: boolean;
  files: { file: string; slave: string | null; status: string; output?: string }[];
  slaves: { name: string; files: number; failures: number }[];
  requeued: { file: string; slave: string; reason: string }[];
}

/** A master keeping its state in a fresh app, and slaves of that app with their test phase ready. */
async function suiteCluster(files: Record<string, SuiteFile>, names = ["a", "b", "c"]) {
  const directory = writeSuiteApp(files);
  const { url } = await startMaster([], 0, directory);
  const slaves = new Map<string, Started>();
  for (const name of names) slaves.set(name, await startSlave(url, name, ["--config", join(directory, "zeus.json")]));
  const ready = await control(url, ["status", "--wait"]);
  assert.equal(ready.code, 0, ready.stderr);
  return { directory, url, slaves };
}

/** One app directory per slave, as on separate hosts: a change there touches that slave alone. */
async function hostsCluster(files: Record<string, SuiteFile>) {
  const apps = ["a", "b", "c"].map(() => writeSuiteApp(files));
  const { url } = await startMaster([], 0, apps[0]);
  for (const [index, name] of ["a", "b", "c"].entries())
    await startSlave(url, name, ["--config", join(apps[index] as string, "zeus.json")]);
  const ready = await control(url, ["status", "--wait"]);
  assert.equal(ready.code, 0, ready.stderr);
  return { apps, url };
}

function filesOf(count: number, file: (index: number) => SuiteFile): Record<string, SuiteFile> {
  return Object.fromEntries(Array.from({ length: count }, (_, index) => [`tests/test_${index}.py`, file(index)]));
}

/** `control test` as a process of its own, to signal it or to act while it runs. */
function startControlTest(url: string, args: string[]): Started {
  return startNode(controlBin, ["--master", url, "--token", TEST_TOKEN, "test", ...args]);
}

/** A hang fails the test instead of holding the whole run. */
const limit = { timeout: 120_000 };

describe("control test", () => {
  it(
    "runs every file exactly once over three slaves; a failing file fails the run and is in the JUnit report",
    limit,
    async () => {
      const { directory, url } = await suiteCluster(filesOf(8, (index) => ({ sleep: 0.3, passes: index !== 5 })));
      const junit = join(directory, "junit.xml");
      const result = await control(url, ["test", "-j", "2", "--json", "--junit", junit]);
      assert.equal(result.code, 1, result.stderr);
      const json = JSON.parse(result.stdout) as JsonResult;
      const statuses = Object.fromEntries(json.files.map((file) => [file.file, file.status]));
      assert.deepEqual(statuses, {
        ...Object.fromEntries(Array.from({ length: 8 }, (_, index) => [`tests/test_${index}.py`, "passed"])),
        "tests/test_5.py": "failed",
      });
      assert.match(json.files.find((file) => file.status === "failed")?.output ?? "", /this file fails on purpose/);
      const runs = runsIn(directory).map((run) => run.file);
      assert.deepEqual([...runs].sort(), Object.keys(statuses).sort(), "each file ran exactly once");
      assert.deepEqual(
        json.slaves.map((slave) => [slave.name, slave.files > 0]),
        [
          ["a", true],
          ["b", true],
          ["c", true],
        ],
      );
      assert.deepEqual(
        json.slaves.map((slave) => slave.failures).reduce((sum, count) => sum + count),
        1,
      );

      const xml = readFileSync(junit, "utf8");
      assert.equal(xml.match(/<testcase /g)?.length, 8);
      assert.match(xml, /<testcase name="tests\/test_5\.py"[^>]*><failure [^>]*>[^<]*this file fails on purpose/);
      assert.match(xml, /<testcase name="tests\/test_0\.py"[^>]*\/>/);

      const passing = await control(url, ["test", "tests/test_1.py", "tests/test_2*.py"]);
      assert.equal(passing.code, 0, passing.stdout + passing.stderr);
      assert.match(passing.stdout, /^2 files: 2 passed, 0 failed in [\d.]+ s$/m);
      assert.equal(runsIn(directory).length, 10);
    },
  );

  it(
    "orders the second run by the durations of the first, and --rerun-failed puts the last failures first",
    limit,
    async () => {
      const { directory, url } = await suiteCluster(
        {
          // 0.8 s apart: far more than a loaded machine adds to one file.
          "tests/test_a.py": { sleep: 0.8 },
          "tests/test_b.py": { sleep: 2.4 },
          "tests/test_c.py": { sleep: 1.6 },
          "tests/test_d.py": { sleep: 0, passes: false },
        },
        ["a"],
      );
      const order = async (args: string[]) => {
        const before = runsIn(directory).length;
        const result = await control(url, ["test", "-j", "1", ...args]);
        assert.equal(result.code, 1, result.stdout + result.stderr);
        return runsIn(directory)
          .slice(before)
          .map((run) => run.file.replace(/^tests\/test_(.)\.py$/, "$1"))
          .join("");
      };
      assert.equal(await order([]), "abcd", "new files run in the order given");
      assert.equal(await order([]), "bcad", "longest first");
      assert.equal(await order(["--rerun-failed"]), "dbca");
    },
  );

  it("finishes the files of a slave killed mid-run on the others", limit, async () => {
    const { directory, url, slaves } = await suiteCluster(filesOf(6, () => ({ sleep: 2 })));
    const junit = join(directory, "junit.xml");
    const run = startControlTest(url, ["-j", "1", "--junit", junit]);
    await eventually(() => runsIn(directory).length >= 3, 30_000, "a file running on each slave");
    await slaves.get("c")?.kill("SIGKILL");
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output);
    assert.match(run.output, /^requeued tests\/test_\d\.py \(was on c\): slave c disconnected$/m);
    assert.match(run.output, /^6 files: 6 passed, 0 failed/m);
    const xml = readFileSync(junit, "utf8");
    assert.equal(xml.match(/<testcase /g)?.length, 6);
    assert.doesNotMatch(xml, /<failure/);
    const runs = runsIn(directory).map((entry) => entry.file);
    assert.equal(runs.length, 7, "the lost file ran once more");
    assert.equal(new Set(runs).size, 6);
  });

  it("puts back the file whose phase restarted while it ran, and runs it again", limit, async () => {
    const { apps, url } = await hostsCluster(filesOf(6, () => ({ sleep: 3 })));
    const run = startControlTest(url, ["-j", "1"]);
    await eventually(() => runsIn(apps[2] as string).length >= 1, 30_000, "a file running on c");
    const restarted = await control(url, ["restart", "c", "test_environment"]);
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output);
    assert.match(
      run.output,
      /^requeued tests\/test_\d\.py \(was on c\): phase test_environment restarted on c while it ran$/m,
    );
    assert.match(run.output, /^6 files: 6 passed, 0 failed/m);
  });

  it("shows a phase that crashed on a slave, and runs that slave's files on the others", limit, async () => {
    const { apps, url } = await hostsCluster(filesOf(9, () => ({ sleep: 2 })));
    const run = startControlTest(url, ["-j", "1"]);
    await eventually(() => runsIn(apps[2] as string).length >= 1, 30_000, "a file running on c");
    const plan = join(apps[2] as string, "plan.py");
    writeFileSync(
      plan,
      readFileSync(plan, "utf8").replace("import unittest  # noqa: F401", "raise RuntimeError('no test database')"),
    );
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output);
    assert.match(run.output, /^requeued tests\/test_\d\.py \(was on c\): phase test_environment crashed:$/m);
    assert.match(run.output, /RuntimeError: no test database/);
    assert.match(run.output, /^9 files: 9 passed, 0 failed/m);
    const lastOnC = runsIn(apps[2] as string).length;
    assert.ok(lastOnC <= 2, `c ran ${lastOnC} files`);
  });

  it(
    "stops every remote file on Ctrl-C within 2 s, prints the partial summary and leaves no process behind",
    limit,
    async () => {
      const { directory, url } = await suiteCluster(filesOf(6, () => ({ sleep: 60 })));
      const run = startControlTest(url, ["-j", "1"]);
      await eventually(() => runsIn(directory).length >= 3, 30_000, "a file running on each slave");
      const pids = runsIn(directory).map((entry) => entry.pid);
      assert.ok(pids.every(isAlive));
      run.child.kill("SIGINT");
      await eventually(() => !pids.some(isAlive), 2000, `test pids ${pids.join(", ")} to be gone`);
      assert.deepEqual(await run.exited, { code: 130, signal: null }, run.output);
      assert.match(run.output, /^stopped: 6 files: 0 passed, 0 failed, 6 not run in [\d.]+ s$/m);
      assert.match(run.output, /^SLAVE +FILES +SECONDS +FAILURES$/m);
    },
  );

  it(
    "on a terminal, draws one live line per slave in place, then the failures in full and the summary",
    limit,
    async () => {
      const { directory, url } = await suiteCluster(filesOf(6, (index) => ({ sleep: 1.5, passes: index !== 4 })));
      const run = controlInTerminal(["--master", url, "--token", TEST_TOKEN, "test", "-j", "1"], {
        cwd: directory,
        cols: 120,
      });
      // Three lines (a, b, c), redrawn in place: up three lines, clear to the end.
      const redraw = "\x1b[3A\x1b[J";
      await eventually(() => run.output().includes(redraw), 30_000, "a redraw");
      await run.waitFor(/^b +█*░* \d\/6 +\d done +tests\/test_\d\.py \d+\.\ds/m);
      assert.equal((await run.exited).exitCode, 1, run.output());
      // What a screen would show after each redraw starts on a line of its own.
      const output = run.output().replaceAll("\r\n", "\n").replaceAll(redraw, "\n");
      assert.match(output, /^FAIL +[abc] +tests\/test_4\.py /m);
      assert.match(
        output,
        /^--- FAIL tests\/test_4\.py on [abc] ---\n[\s\S]*AssertionError: False is not true : this file fails on purpose/m,
      );
      assert.match(output, /^SLAVE +FILES +SECONDS +FAILURES\na +2 /m);
      assert.match(output, /^6 files: 5 passed, 1 failed in [\d.]+ s$/m);
    },
  );

  it("ends at once with one line when no slave is connected, or none has the phase ready", limit, async () => {
    const { url } = await startMaster([], 0, makeApp({}));
    const none = await control(url, ["test"]);
    assert.deepEqual([none.code, none.stderr], [1, "control: no slaves are connected\n"]);

    const broken = makeApp({
      "zeus.json": JSON.stringify({
        command: "python3 -m olympus_zeus plan",
        plan: { boot: { test_environment: { test: [] } } },
      }),
      "plan.py": "def boot(): pass\ndef test_environment(): raise RuntimeError('no database')\n",
    });
    await startSlave(url, "x", ["--config", join(broken, "zeus.json")]);
    assert.equal((await control(url, ["status", "--wait"])).code, 1);
    const crashed = await control(url, ["test"]);
    assert.deepEqual(
      [crashed.code, crashed.stderr],
      [1, "control: no slave has phase test_environment ready for test (x: crashed)\n"],
    );
  });
});
