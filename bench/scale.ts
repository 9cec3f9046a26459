/**
 * bench/scale: 1,000 simulated slaves (one load-generator process,
 * bench/scale-slaves) and 10 controls on one master. Measures
 *
 *   - the master's RSS per idle slave connection: RSS with N slaves minus RSS
 *     with none (after a warm-up; each reading after a quiet spell and a full
 *     GC forced through the inspector, so garbage does not count), divided by N;
 *   - a fan-out ping: one control sends `ping_request {slave}` to every slave
 *     at once and waits for all the answers (one unmeasured round, then
 *     SCALE_ROUNDS measured);
 *
 * and the same two on a bare `ws` server in the same run, so the ratios show
 * what Olympus adds. Targets: ≤ 60 KB per idle connection, fan-out ≤ 500 ms.
 *
 * If the master refuses the slaves with its handshakes-per-address limit, that
 * is reported, and the run is repeated with the limit raised (when the master
 * has a flag for it). SCALE_EXPLAIN=1 also takes heap snapshots of the master
 * and lists which objects the bytes per connection are.
 *
 * Env: SCALE_SLAVES (1000), SCALE_ROUNDS (5), SCALE_EXPLAIN.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { type Inspector, rssMb } from "../test/helpers/inspector.js";
import { eventually, olympusBin, stop } from "../test/helpers/processes.js";
import { RawClient } from "../test/helpers/raw-client.js";
import { loadNote, main, tempDir } from "./harness.js";
import { explainSnapshots, snapshot } from "./heap-snapshots.js";
import { median, report } from "./report.js";
import {
  countSlaves,
  fanOutRounds,
  generate,
  generatorBin,
  names,
  SETTLE_MS,
  settledRssKb,
  startInspected,
} from "./simulated-slaves.js";

const SLAVES = Number(process.env.SCALE_SLAVES ?? 1000);
const ROUNDS = Number(process.env.SCALE_ROUNDS ?? 5);
const EXPLAIN = process.env.SCALE_EXPLAIN === "1";
const CONTROLS = 10;
const WARM_UP_SLAVES = 50;
const TOKEN = "bench-scale-token";
const TARGET_KB_PER_CONNECTION = 60;
const TARGET_FAN_OUT_MS = 500;

// ---------------------------------------------------------------- memory

interface Memory {
  rssKb: number;
  heapUsedKb: number;
  externalKb: number;
}

/** The master's own view, from /metrics: JS heap in use and memory held outside it (buffers). */
async function masterMemory(httpUrl: string, pid: number, inspector: Inspector): Promise<Memory> {
  const rss = await settledRssKb(pid, inspector);
  const text = await (await fetch(`${httpUrl}metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1]) / 1024;
  return {
    rssKb: rss,
    heapUsedKb: metric("nodejs_heap_size_used_bytes"),
    externalKb: metric("nodejs_external_memory_bytes"),
  };
}

// ----------------------------------------------------------- measurements

interface Measured {
  baseline: Memory;
  loaded: Memory;
  connectMs: number;
  fanOutMs: number[];
  notes: string[];
}

/** The handshakes-per-address flag, if this master has one. */
function handshakeLimitFlag(): string | null {
  const help = spawnSync(process.execPath, [olympusBin, "master", "--help"], { encoding: "utf8" }).stdout;
  return ["--handshake-limit", "--handshake-rate"].find((flag) => help.includes(flag)) ?? null;
}

type OlympusRun = Measured | { refused: Record<string, number>; connected: number };

async function measureOlympus(extraArgs: string[]): Promise<OlympusRun> {
  // Its own working directory: a master may keep state (token secrets) there.
  const directory = tempDir("scale");
  const env = EXPLAIN ? { ...process.env, NODE_OPTIONS: "--heapsnapshot-signal=SIGUSR2" } : process.env;
  const master = await startInspected(
    olympusBin,
    ["master", "--port", "0", "--token", TOKEN, ...extraArgs],
    /master listening on (ws:\/\/\S+)/,
    { cwd: directory, env },
  );
  const url = master.match[1] as string;
  const httpUrl = url.replace(/^ws/, "http").replace(/api\/socket$/, "");
  const { pid, inspector } = master;
  try {
    const controls = await Promise.all(
      Array.from({ length: CONTROLS }, async () => {
        const control = await RawClient.open(url);
        await control.registerControl(TOKEN, "bench/scale");
        return control;
      }),
    );
    const fanner = controls[0] as RawClient;

    // Warm-up: every code path once, then back to no slaves.
    const warm = await generate(["slaves", url, String(WARM_UP_SLAVES), TOKEN, "warm"]);
    if (warm.connected < WARM_UP_SLAVES) return { refused: warm.refused, connected: warm.connected };
    await fanOutRounds(fanner, names("warm", WARM_UP_SLAVES), ROUNDS);
    await stop(warm.started);
    await eventually(async () => (await countSlaves(fanner)) === 0, 30_000, "the warm-up slaves to be gone");
    if (EXPLAIN) await snapshot(pid, directory);
    const baseline = await masterMemory(httpUrl, pid, inspector);

    const sims = await generate(["slaves", url, String(SLAVES), TOKEN, "sim"]);
    if (sims.connected < SLAVES) return { refused: sims.refused, connected: sims.connected };
    const listed = await countSlaves(fanner);
    if (listed !== SLAVES) throw new Error(`the master lists ${listed} slaves, not ${SLAVES}`);
    const loaded = await masterMemory(httpUrl, pid, inspector);
    if (EXPLAIN) await snapshot(pid, directory);

    const fanOutMs = await fanOutRounds(fanner, names("sim", SLAVES), ROUNDS);
    const afterFanOut = rssMb(pid) * 1024;
    for (const control of controls) control.close("bench done");
    await stop(sims.started);
    const notes = [
      `Olympus master RSS: ${kb(baseline.rssKb)} with ${CONTROLS} controls and no slaves, ${kb(loaded.rssKb)} with ${SLAVES} idle slaves, ${kb(afterFanOut)} right after the fan-out rounds.`,
    ];
    if (EXPLAIN) notes.push(...explainSnapshots(directory, SLAVES));
    return { baseline, loaded, connectMs: sims.ms, fanOutMs, notes };
  } finally {
    inspector.close();
    await stop(master.started);
  }
}

async function measureBare(): Promise<Measured> {
  const server = await startInspected(generatorBin, ["bare-server"], /listening (\d+)/, {});
  const url = `ws://127.0.0.1:${server.match[1]}`;
  const { pid, inspector } = server;
  try {
    const control = await RawClient.open(`${url}/control`, { hello: false });
    const memory = async (): Promise<Memory> => {
      const rss = await settledRssKb(pid, inspector);
      const { data } = await control.request("memory_request", {});
      return { rssKb: rss, heapUsedKb: (data.heapUsed as number) / 1024, externalKb: (data.external as number) / 1024 };
    };
    const warm = await generate(["bare-clients", url, String(WARM_UP_SLAVES), "warm"]);
    await fanOutRounds(control, names("warm", WARM_UP_SLAVES), ROUNDS);
    await stop(warm.started);
    const baseline = await memory();
    const clients = await generate(["bare-clients", url, String(SLAVES), "sim"]);
    const loaded = await memory();
    const fanOutMs = await fanOutRounds(control, names("sim", SLAVES), ROUNDS);
    control.socket.close();
    await stop(clients.started);
    return {
      baseline,
      loaded,
      connectMs: clients.ms,
      fanOutMs,
      notes: [`Bare ws server RSS: ${kb(baseline.rssKb)} with no clients, ${kb(loaded.rssKb)} with ${SLAVES}.`],
    };
  } finally {
    inspector.close();
    await stop(server.started);
  }
}

const kb = (value: number) => (value >= 10_240 ? `${(value / 1024).toFixed(1)} MB` : `${value.toFixed(0)} KB`);
const perConnection = (run: Measured, key: keyof Memory) => (run.loaded[key] - run.baseline[key]) / SLAVES;

// ------------------------------------------------------------------ main

function openFileLimit(): number {
  return Number(/Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"))?.[1]);
}

await main(async () => {
  const limit = openFileLimit();
  if (limit < SLAVES + 200)
    throw new Error(`ulimit -n is ${limit}; ${SLAVES} slaves need more than ${SLAVES + 200} (raise it with ulimit -n)`);
  const notes: string[] = [loadNote("at the start"), `Open-file limit: ${limit}.`];

  let olympus = await measureOlympus([]);
  if ("refused" in olympus) {
    const reasons = Object.entries(olympus.refused)
      .map(([reason, count]) => `${count} × "${reason}"`)
      .join(", ");
    notes.push(
      `With its default settings the master refused ${SLAVES - olympus.connected} of ${SLAVES} slaves from 127.0.0.1: ${reasons}.`,
    );
    const flag = handshakeLimitFlag();
    if (flag === null)
      throw new Error(`the master refused slaves (${reasons}) and has no flag to raise its handshake limit`);
    notes.push(`Measured again with \`${flag} 100000\`.`);
    olympus = await measureOlympus([flag, "100000"]);
    if ("refused" in olympus) throw new Error(`still refused with ${flag} 100000: ${JSON.stringify(olympus.refused)}`);
  }
  const bare = await measureBare();

  const perSlave = perConnection(olympus, "rssKb");
  const perBare = perConnection(bare, "rssKb");
  const fanOut = { median: median(olympus.fanOutMs), max: Math.max(...olympus.fanOutMs) };
  const bareFanOut = { median: median(bare.fanOutMs), max: Math.max(...bare.fanOutMs) };
  /** Olympus against bare ws, their ratio, and the ceiling Olympus must stay under, if the measure has one. */
  const compared = (measure: string, ours: number, baseline: number, ceiling?: number) => [
    measure,
    ours,
    baseline,
    ours / baseline,
    ceiling === undefined ? "" : `≤ ${ceiling}`,
    ceiling === undefined ? "" : ours <= ceiling ? "yes" : "**no**",
  ];
  report(
    "scale",
    ["measure", "olympus", "bare ws", "ratio", "target", "met"],
    [
      compared("RSS per idle slave connection (KB)", perSlave, perBare, TARGET_KB_PER_CONNECTION),
      compared(
        "  of which JS heap in use (KB)",
        perConnection(olympus, "heapUsedKb"),
        perConnection(bare, "heapUsedKb"),
      ),
      // No ratio: bare ws keeps next to nothing outside the heap.
      [
        "  of which external, buffers (KB)",
        perConnection(olympus, "externalKb"),
        perConnection(bare, "externalKb"),
        "",
        "",
        "",
      ],
      compared(
        `fan-out ping to ${SLAVES} slaves, median of ${ROUNDS} (ms)`,
        fanOut.median,
        bareFanOut.median,
        TARGET_FAN_OUT_MS,
      ),
      compared(
        `fan-out ping to ${SLAVES} slaves, max of ${ROUNDS} (ms)`,
        fanOut.max,
        bareFanOut.max,
        TARGET_FAN_OUT_MS,
      ),
      compared(`connecting ${SLAVES} slaves, 50 at a time (ms)`, olympus.connectMs, bare.connectMs),
    ],
    [
      `${SLAVES} slaves from one load generator (bench/scale-slaves), ${CONTROLS} controls; one control sends all the pings. RSS read from /proc after ${SETTLE_MS / 1000} s idle and a full GC (through the inspector), with and without the slaves, after a warm-up of ${WARM_UP_SLAVES}.`,
      `Fan-out rounds, Olympus: ${olympus.fanOutMs.map((ms) => ms.toFixed(0)).join(", ")} ms; bare: ${bare.fanOutMs.map((ms) => ms.toFixed(0)).join(", ")} ms.`,
      ...olympus.notes,
      ...bare.notes,
      ...notes,
      loadNote("at the end"),
    ],
  );
});
