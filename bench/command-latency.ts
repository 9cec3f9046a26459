/**
 * bench/command-latency: whole-process wall time of `control run hello`
 * against the example app (examples/python-app, copied to a temp directory
 * and started with `olympus start`), next to the cold start of the same
 * command measured in the same run: a fresh Python that boots the app from
 * nothing (every phase of hello's branch) and then runs hello. Reference rows:
 * a bare `node -e 0` and `control --help`, to show how much is Node's own
 * start-up and the CLI's module loading. With Debian's ruby-rails, a Rails row
 * too: `control run runner 'nil'` in a generated Rails app whose root command
 * is the real Zeus gem with its upstream zeus.json, next to a cold
 * `bin/rails runner 'nil'`. The runs are interleaved, so a change in machine
 * load hits every row alike. Each row's ratio is to the cold start of its app.
 *
 * NODE_EXTRA_CA_CERTS makes every Node process parse those certificates as it
 * starts, before any of our code runs (the whole system bundle costs ~57 ms
 * here). When it is set, `node -e 0` and `control run hello` are measured
 * without it as well, and the target is judged on both.
 */
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { controlBin, projectRoot, start } from "../test/helpers/processes.js";
import { railsApp, railsMissing } from "../test/helpers/rails-app.js";
import { zeusGemLib } from "../test/helpers/zeus-gem.js";
import { loadNote, main, onCleanup, startOlympus, tempDir, timed } from "./harness.js";
import { median, quantile, report } from "./report.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const COLD_RUNS = Number(process.env.BENCH_COLD_RUNS ?? 5);
const WARMUP = 2;
const COLD_SCRIPT =
  "import plan; plan.boot(); plan.default_environment(); plan.development_environment(); plan.hello()";
/**
 * The floor of any fork-based preloader for the Rails rows: the gem's own
 * plan loaded once in one Ruby process, which then forks the runner command
 * (after the plan's after_fork, as the gem does) for each line on stdin and
 * waits for it. No agent, no runner handshake, no terminal, no Node.
 */
const FORK_FLOOR = `
plan = Zeus.plan
plan.boot; plan.default_bundle; plan.development_environment
STDOUT.sync = true
puts "ready"
served = 0
while STDIN.gets
  pid = fork { plan.after_fork; ARGV.replace(["nil"]); plan.runner }
  Process.wait(pid)
  puts "exit #{served += 1} #{$?.exitstatus}"
end
`;

/** Starts the fork floor in the Rails app; returns a run that forks the command once and times it. */
async function forkFloor(directory: string): Promise<() => ReturnType<typeof timed>> {
  const ruby = start("ruby", ["-I", zeusGemLib("modern"), "-rzeus/rails", "-e", FORK_FLOOR], {
    cwd: directory,
    stdio: ["pipe", "pipe", "pipe"],
  });
  await ruby.waitFor(/^ready$/m, 180_000);
  let served = 0;
  return async () => {
    const began = performance.now();
    ruby.child.stdin?.write("\n");
    const [, code] = await ruby.waitFor(new RegExp(`^exit ${++served} (\\d+)$`, "m"));
    return { ms: performance.now() - began, code: Number(code), output: "" };
  };
}

await main(async () => {
  const notes = [loadNote("at start")];
  const app = join(tempDir("command"), "python-app");
  cpSync(join(projectRoot, "examples/python-app"), app, { recursive: true });
  rmSync(join(app, ".olympus"), { recursive: true, force: true });
  await startOlympus(app);

  const node = process.execPath;
  const coldEnv = { ...process.env, PYTHONPATH: app };
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const { NODE_EXTRA_CA_CERTS: _, ...withoutExtraCa } = process.env;
  /** `baseline`: the cold start its ratio is to (default: Python's). */
  type Case = {
    label: string;
    run: () => ReturnType<typeof timed>;
    expect: RegExp;
    every: number;
    samples: number[];
    baseline?: Case;
  };
  const bareNode: Case = {
    label: "`node -e 0`",
    run: () => timed(node, ["-e", "0"], { cwd: app }),
    expect: /^$/,
    every: 1,
    samples: [],
  };
  const help: Case = {
    label: "`control --help`",
    run: () => timed(node, [controlBin, "--help"], { cwd: app }),
    expect: /Usage: control/,
    every: 1,
    samples: [],
  };
  const ours: Case = {
    label: "`control run hello` (preloaded)",
    run: () => timed(node, [controlBin, "run", "hello"], { cwd: app }),
    expect: /^hello from pid/,
    every: 1,
    samples: [],
  };
  const coldEvery = Math.max(1, Math.floor(RUNS / COLD_RUNS));
  const cold: Case = {
    label: "cold start: python3 boots the app, runs hello",
    run: () => timed("python3", ["-c", COLD_SCRIPT], { cwd: app, env: coldEnv }),
    expect: /^hello from pid/,
    every: coldEvery,
    samples: [],
  };
  const withoutCa = (entry: Case, args: string[], cwd = app): Case => ({
    ...entry,
    label: `${entry.label}, NODE_EXTRA_CA_CERTS unset`,
    run: () => timed(node, args, { cwd, env: withoutExtraCa }),
    samples: [],
  });
  const bareNodeWithoutCa = withoutCa(bareNode, ["-e", "0"]);
  const oursWithoutCa = withoutCa(ours, [controlBin, "run", "hello"]);
  const cases =
    extraCa === undefined
      ? [bareNode, help, ours, cold]
      : [bareNode, bareNodeWithoutCa, help, ours, oursWithoutCa, cold];

  let rails: { ours: Case; floor: Case; cold: Case } | null = null;
  if (railsMissing === null) {
    const railsDirectory = await railsApp();
    onCleanup(() => rmSync(railsDirectory, { recursive: true, force: true }));
    await startOlympus(railsDirectory, [], 180_000);
    const railsCold: Case = {
      label: "cold start: `bin/rails runner 'nil'`",
      run: () => timed("bin/rails", ["runner", "nil"], { cwd: railsDirectory }),
      expect: /^$/,
      every: coldEvery,
      samples: [],
    };
    railsCold.baseline = railsCold;
    const runner = [controlBin, "run", "runner", "nil"];
    const railsOurs: Case = {
      label: "Rails: `control run runner 'nil'` (preloaded)",
      run: () => timed(node, runner, { cwd: railsDirectory }),
      expect: /^$/,
      every: 1,
      samples: [],
      baseline: railsCold,
    };
    const floor: Case = {
      label: "Rails: the runner forked from the plan in one Ruby process (fork floor)",
      run: await forkFloor(railsDirectory),
      expect: /^$/,
      every: 1,
      samples: [],
      baseline: railsCold,
    };
    cases.push(
      railsOurs,
      ...(extraCa === undefined ? [] : [withoutCa(railsOurs, runner, railsDirectory)]),
      floor,
      railsCold,
    );
    rails = { ours: railsOurs, floor, cold: railsCold };
  } else {
    notes.push(`No Rails rows: ${railsMissing}.`);
  }

  for (let i = -WARMUP; i < RUNS; i++) {
    for (const entry of cases) {
      if (i >= 0 && i % entry.every !== 0) continue;
      if (i < 0 && entry.every > 1 && i !== -1) continue;
      const result = await entry.run();
      if (result.code !== 0 || !entry.expect.test(result.output)) {
        throw new Error(`${entry.label} failed (exit ${result.code}):\n${result.output}`);
      }
      if (i >= 0) entry.samples.push(result.ms);
    }
  }

  const rows = cases.map((entry) => [
    entry.label,
    entry.samples.length,
    median(entry.samples),
    quantile(entry.samples, 0.9),
    median(entry.samples) / median((entry.baseline ?? cold).samples),
  ]);
  const oursMedian = median(ours.samples);
  const verdict = (ms: number) => `${ms.toFixed(0)} ms: ${ms <= 150 ? "met" : "missed"}`;
  notes.push(
    `Medians: \`control run hello\` is ${(oursMedian - median(bareNode.samples)).toFixed(0)} ms above \`node -e 0\` and ${(oursMedian - median(help.samples)).toFixed(0)} ms above \`control --help\`; ratio to the cold start ${(oursMedian / median(cold.samples)).toFixed(3)}.`,
    extraCa === undefined
      ? `Targets: median ≤ 150 ms (${verdict(oursMedian)}) and ≤ 1/10 of the cold start (${oursMedian <= median(cold.samples) / 10 ? "met" : "missed"}).`
      : `NODE_EXTRA_CA_CERTS=${extraCa} costs every Node process ${(median(bareNode.samples) - median(bareNodeWithoutCa.samples)).toFixed(0)} ms as it starts. ` +
          `Targets: median ≤ 150 ms (${verdict(median(oursWithoutCa.samples))} without it; ${verdict(oursMedian)} with it) and ≤ 1/10 of the cold start (${oursMedian <= median(cold.samples) / 10 ? "met" : "missed"} with it).`,
  );
  if (rails !== null) {
    const [oursMs, floorMs, coldMs] = [rails.ours, rails.floor, rails.cold].map((entry) => median(entry.samples)) as [
      number,
      number,
      number,
    ];
    const ratio = oursMs / coldMs;
    notes.push(
      `Rails: \`control run runner 'nil'\` ${oursMs.toFixed(0)} ms against ${coldMs.toFixed(0)} ms cold, ratio ${ratio.toFixed(3)}; target ≤ 1/10 of the cold start (${ratio <= 0.1 ? "met" : "missed"}). ` +
        `The fork floor takes ${floorMs.toFixed(0)} ms (${(floorMs / coldMs).toFixed(3)} of the cold start): what Olympus adds is ${(oursMs - floorMs).toFixed(0)} ms.`,
    );
  }
  notes.push(loadNote("at end"));
  report("command-latency", ["process", "runs", "median ms", "p90 ms", "÷ cold start"], rows, notes);
});
