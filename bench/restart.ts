/**
 * bench/restart: from a write to a file a leaf node loaded, to that leaf being
 * ready again, next to a bare chokidar watcher on the same file in the same
 * run (the agent's options: `watch([], {ignoreInitial, atomic})`, then add).
 *
 * The leaf's own action only imports that file (about 0 ms), so what is left
 * is the agent: noticing the change, the debounce (--file-change-delay), the
 * restart, and the Python fork from the parent phase that re-runs the leaf
 * phase and reports R:OK. "Ready" is seen as a node_state event through the
 * master, not by polling.
 */
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { watch } from "chokidar";
import { OlympusClient, resolveMaster } from "../control/client/client.js";
import { nodeStateEvent } from "../shared/protocol/messages.js";
import { loadNote, main, onCleanup, pythonApp, startOlympus } from "./harness.js";
import { median, quantile, report } from "./report.js";

const DELAY_MS = Number(process.env.BENCH_FILE_CHANGE_DELAY_MS ?? 50);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20);
const WARMUP = 2;
const SAMPLE_TIMEOUT_MS = 10_000;
/** After ready, how long to watch for a second (spurious) restart of the same write. */
const QUIET_MS = 400;

const PLAN = `
def boot():
    pass

def leaf():
    import leaf_lib  # noqa: F401

def noop():
    pass
`;

interface Sample {
  watcher: number;
  restartBegins: number;
  ready: number;
}

await main(async () => {
  const notes = [loadNote("at start")];
  const app = pythonApp("restart", { boot: { leaf: { noop: [] } } }, { "plan.py": PLAN, "leaf_lib.py": "VALUE = 0\n" });
  const file = join(app, "leaf_lib.py");
  await startOlympus(app, ["--file-change-delay", String(DELAY_MS)]);

  // Every state change of the leaf, stamped on arrival.
  const leafEvents: { at: number; state: string; pid: number | null }[] = [];
  let onLeafEvent = () => {};
  const client = await OlympusClient.connect(resolveMaster({}, app), {
    agent: "bench restart",
    setup: (link) =>
      link.onEvent(nodeStateEvent, ({ node }) => {
        if (node.name !== "leaf") return;
        leafEvents.push({ at: performance.now(), state: node.state, pid: node.pid });
        onLeafEvent();
      }),
  });
  onCleanup(() => client.close());
  await client.watch();

  const watcherEvents: { at: number; event: string }[] = [];
  let onWatcherEvent = () => {};
  const watcher = watch([file], { ignoreInitial: true, atomic: true });
  onCleanup(() => watcher.close());
  watcher.on("all", (event) => {
    watcherEvents.push({ at: performance.now(), event });
    onWatcherEvent();
  });
  await once(watcher, "ready");

  const until = (condition: () => boolean, what: string, set: (wake: () => void) => void): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${SAMPLE_TIMEOUT_MS} ms`)), SAMPLE_TIMEOUT_MS);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        set(() => {});
        resolve();
      };
      set(check);
      check();
    });

  const samples: Sample[] = [];
  let extraRestarts = 0;
  let watcherEventsPerWrite = 0;
  let crashes = 0;
  for (let i = 0; i < WARMUP + SAMPLES; i++) {
    await sleep(150 + Math.random() * 150);
    const leafFrom = leafEvents.length;
    const watcherFrom = watcherEvents.length;
    const wrote = performance.now();
    writeFileSync(file, `VALUE = ${i + 1}\n`);
    const since = () => leafEvents.slice(leafFrom);
    await until(
      () => watcherEvents.length > watcherFrom,
      "chokidar event",
      (wake) => (onWatcherEvent = wake),
    );
    await until(
      () => since().some((event) => event.state === "ready" || event.state === "crashed"),
      "leaf ready",
      (wake) => (onLeafEvent = wake),
    );
    const events = since();
    const readyEvent = events.find((event) => event.state === "ready" || event.state === "crashed")!;
    if (readyEvent.state === "crashed") crashes++;
    const restartEvent = events.find((event) => event.state === "unbooted" || event.state === "booting")!;
    await sleep(QUIET_MS);
    const after = leafEvents.slice(leafFrom).filter((event) => event.at > readyEvent.at && event.state === "unbooted");
    extraRestarts += after.length;
    if (after.length > 0) {
      // Wait for the spurious restart to finish so the next write starts clean.
      await until(
        () => leafEvents.at(-1)?.state === "ready",
        "leaf ready after extra restart",
        (wake) => (onLeafEvent = wake),
      );
    }
    if (i < WARMUP) continue;
    watcherEventsPerWrite += watcherEvents.length - watcherFrom;
    samples.push({
      watcher: (watcherEvents[watcherFrom] as { at: number }).at - wrote,
      restartBegins: restartEvent.at - wrote,
      ready: readyEvent.at - wrote,
    });
  }

  const column = (pick: (sample: Sample) => number) => samples.map(pick);
  const row = (label: string, values: number[]) => [label, median(values), quantile(values, 0.9)];
  const watcherMs = column((s) => s.watcher);
  const agentMs = column((s) => s.ready);
  const overhead = column((s) => s.ready - s.watcher - DELAY_MS);
  const ratio = median(agentMs) / (median(watcherMs) + DELAY_MS);
  const rows = [
    row("bare chokidar: write → change event", watcherMs),
    row(
      "agent: write → leaf restart begins (unbooted event)",
      column((s) => s.restartBegins),
    ),
    row(
      "agent: restart begins → leaf ready (fork + phase + R:OK)",
      column((s) => s.ready - s.restartBegins),
    ),
    row("agent: write → leaf ready", agentMs),
    row(`overhead = agent − chokidar − debounce (${DELAY_MS} ms)`, overhead),
    ["ratio: agent ÷ (chokidar + debounce), medians", ratio, ""],
  ];
  notes.push(
    `${SAMPLES} writes (after ${WARMUP} warm-up), --file-change-delay ${DELAY_MS} ms; chokidar events per write: ${(watcherEventsPerWrite / SAMPLES).toFixed(2)}; spurious extra restarts: ${extraRestarts}; crashes: ${crashes}.`,
    `Target: overhead ≤ 30 ms (median ${median(overhead).toFixed(1)} ms: ${median(overhead) <= 30 ? "met" : "missed"}).`,
    loadNote("at end"),
  );
  report("restart", ["measure", "median ms", "p90 ms"], rows, notes);
});
