import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeApp } from "./app.js";

export interface SuiteFile {
  /** Seconds its one test sleeps. */
  sleep: number;
  passes?: boolean;
}

/**
 * A Python app for the project's shim whose `test` command runs one test
 * file given as its argument. Each test appends `FILE PID` to runs.log when
 * it starts, so a test can count the runs and find their processes.
 */
export function writeSuiteApp(files: Record<string, SuiteFile>): string {
  const app: Record<string, string> = {
    "zeus.json": JSON.stringify({
      command: "python3 -m olympus_zeus plan",
      plan: { boot: { test_environment: { test: ["t"] } } },
    }),
    "plan.py": [
      "import os, sys",
      "APP_DIR = os.path.dirname(os.path.abspath(__file__))",
      "def boot(): pass",
      "def test_environment():",
      "    import unittest  # noqa: F401",
      "def test():",
      "    import unittest",
      "    names = [os.path.relpath(arg[:-3], '.').replace(os.sep, '.') for arg in sys.argv[1:]]",
      "    suite = unittest.defaultTestLoader.loadTestsFromNames(names)",
      "    return 0 if unittest.TextTestRunner().run(suite).wasSuccessful() else 1",
      "",
    ].join("\n"),
    "tests/__init__.py": "",
  };
  for (const [name, { sleep, passes = true }] of Object.entries(files)) {
    app[name] = [
      "import os, time, unittest",
      "class Test(unittest.TestCase):",
      "    def test_it(self):",
      `        with open(${JSON.stringify("runs.log")}, "a") as log:`,
      `            log.write(${JSON.stringify(name)} + " " + str(os.getpid()) + "\\n")`,
      `        time.sleep(${sleep})`,
      `        self.assertTrue(${passes ? "True" : "False"}, "this file fails on purpose")`,
      "",
    ].join("\n");
  }
  return makeApp(app);
}

/** The runs so far, in the order they started: file and pid. */
export function runsIn(directory: string): { file: string; pid: number }[] {
  let text = "";
  try {
    text = readFileSync(join(directory, "runs.log"), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [file, pid] = line.split(" ");
      return { file: file as string, pid: Number(pid) };
    });
}
