/**
 * bench/fleet-test: `control test` over 3 slaves with `-j 2` on loopback, on a
 * generated Python suite of 60 files whose durations are long-tailed (3 of
 * 2 s, the rest 50–300 ms; sleeps, since every slave shares this machine's
 * cores) in an app whose boot takes BOOT_SECONDS. Measured in the same run:
 *
 *   (a) `control test`, whole process, on the second, timing-informed run
 *       (the first run's time is printed too);
 *   (b) the ideal: the sum of durations ÷ 6, or the longest file if larger;
 *   (c) the same suite on one slave with `-j 1`;
 *   (d) each file run cold, one after another: a fresh Python that boots
 *       the app and runs the file, as a team without a preloader would.
 *
 * And the scheduler's overhead per file: from the moment its slot was free
 * (the file before it on that slot ended, or the file was taken off the queue
 * for an idle slot) to its first output byte (each test prints a line as it
 * starts), which holds the handshake, the command's fork and the test
 * module's import; a file held back behind another has its runner forked
 * before then.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { OlympusClient } from "../control/client/client.js";
import { control, startMaster, startSlave, TEST_TOKEN } from "../test/helpers/cluster.js";
import { loadNote, main, tempDir, timed } from "./harness.js";
import { median, quantile, report } from "./report.js";

const FILES = 60;
const SLAVES = ["a", "b", "c"];
const JOBS = 2;
/** What the app's boot costs, cold: a small Rails or Django app takes 1–5 s. */
const BOOT_SECONDS = Number(process.env.BENCH_BOOT_SECONDS ?? 0.5);

/** 3 files of 2 s, the rest spread over 50–300 ms by a fixed formula, so every run has the same suite. */
function durationOf(index: number): number {
  if (index % 20 === 7) return 2;
  return 0.05 + ((index * 37) % 251) / 1000;
}

function writeApp(): string {
  const directory = tempDir("fleet-test");
  mkdirSync(join(directory, "tests"));
  writeFileSync(
    join(directory, "zeus.json"),
    JSON.stringify({ command: "python3 -m olympus_zeus plan", plan: { boot: { test_environment: { test: [] } } } }),
  );
  writeFileSync(
    join(directory, "plan.py"),
    [
      "import os, sys, time",
      `def boot(): time.sleep(${BOOT_SECONDS})`,
      "def test_environment():",
      "    import unittest  # noqa: F401",
      "def test():",
      "    import unittest",
      "    names = [arg[:-3].replace('/', '.') for arg in sys.argv[1:]]",
      "    suite = unittest.defaultTestLoader.loadTestsFromNames(names)",
      "    return 0 if unittest.TextTestRunner().run(suite).wasSuccessful() else 1",
      "",
    ].join("\n"),
  );
  writeFileSync(join(directory, "tests/__init__.py"), "");
  for (let index = 0; index < FILES; index++) {
    writeFileSync(
      join(directory, `tests/test_${String(index).padStart(2, "0")}.py`),
      [
        "import time, unittest",
        'print("started", flush=True)',
        "class Test(unittest.TestCase):",
        `    def test_it(self): time.sleep(${durationOf(index)})`,
        "",
      ].join("\n"),
    );
  }
  return directory;
}

/** A master in the app directory and the slaves, resolved once every slave's test phase is ready. */
async function startCluster(directory: string): Promise<string> {
  const { url } = await startMaster([], 0, directory);
  for (const name of SLAVES) await startSlave(url, name, ["--config", join(directory, "zeus.json")]);
  const client = await OlympusClient.connect({ urls: [url], token: TEST_TOKEN });
  try {
    for (;;) {
      const trees = await client.status();
      const ready = trees.filter((tree) =>
        tree.nodes.some((n) => n.name === "test_environment" && n.state === "ready"),
      );
      if (ready.length === SLAVES.length) return url;
      await sleep(100);
    }
  } finally {
    client.close();
  }
}

interface SuiteRun {
  seconds: number;
  firstBytes: number[];
}

/** `control test --json` as a whole process: its wall time, and each file's time to first byte. */
async function controlTest(url: string, args: string[]): Promise<SuiteRun> {
  const began = performance.now();
  const run = await control(url, ["test", "--json", ...args]);
  const seconds = (performance.now() - began) / 1000;
  if (run.code !== 0) throw new Error(`control test exited ${run.code}: ${run.stderr}`);
  const result = JSON.parse(run.stdout) as { files: { first_byte_seconds?: number }[] };
  if (result.files.length !== FILES) throw new Error(`control test ran ${result.files.length} files, not ${FILES}`);
  return { seconds, firstBytes: result.files.map((file) => file.first_byte_seconds ?? NaN) };
}

/** Every file in a fresh Python that boots the app first, one after another. */
async function coldRun(directory: string): Promise<number> {
  const began = performance.now();
  for (let index = 0; index < FILES; index++) {
    const file = `tests/test_${String(index).padStart(2, "0")}.py`;
    const script = `import sys, plan; plan.boot(); plan.test_environment(); sys.argv = ["test", "${file}"]; sys.exit(plan.test())`;
    const run = await timed("python3", ["-c", script], { cwd: directory });
    if (run.code !== 0) throw new Error(`cold ${file} exited ${run.code}: ${run.output}`);
  }
  return (performance.now() - began) / 1000;
}

await main(async () => {
  const notes = [loadNote("at start")];
  const directory = writeApp();
  const url = await startCluster(directory);
  const durations = Array.from({ length: FILES }, (_, index) => durationOf(index));
  const sum = durations.reduce((total, seconds) => total + seconds, 0);
  const ideal = Math.max(sum / (SLAVES.length * JOBS), Math.max(...durations));

  const first = await controlTest(url, ["-j", String(JOBS)]);
  const timed_ = await controlTest(url, ["-j", String(JOBS)]);
  const single = await controlTest(url, ["--slave", "a", "-j", "1"]);
  const cold = await coldRun(directory);
  notes.push(loadNote("at the end"));

  const overheads = timed_.firstBytes.map((seconds) => seconds * 1000);
  notes.push(
    `Suite: ${FILES} files, ${sum.toFixed(2)} s of sleeps in all, the longest 2 s; the app's boot: ${BOOT_SECONDS} s.`,
    `The first run (no timings yet) took ${first.seconds.toFixed(2)} s, ${(first.seconds / ideal).toFixed(2)} × the ideal.`,
    `Scheduler overhead per file (slot free → handshake → fork → first byte), second run: median ${median(overheads).toFixed(1)} ms, p90 ${quantile(overheads, 0.9).toFixed(1)} ms, max ${Math.max(...overheads).toFixed(1)} ms.`,
  );
  report(
    "fleet-test",
    ["run", "wall s", "÷ ideal (b)", "÷ cold (d)", "target"],
    [
      [
        `(a) control test, 3 slaves × -j ${JOBS}, second run`,
        timed_.seconds,
        timed_.seconds / ideal,
        timed_.seconds / cold,
        "≤ 1.2 × (b), ≤ 0.1 × (d)",
      ],
      ["(b) ideal: sum ÷ 6, or the longest file", ideal, 1, ideal / cold, ""],
      ["(c) control test, 1 slave × -j 1", single.seconds, single.seconds / ideal, single.seconds / cold, ""],
      ["(d) each file cold, one after another", cold, cold / ideal, 1, ""],
    ],
    notes,
  );
});
