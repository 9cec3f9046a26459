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
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { loadNote, main, olympusBin, sleep, tempDir, track } from "./harness.js";
import { median, report } from "./report.js";

const SLAVES = Number(process.env.SCALE_SLAVES ?? 1000);
const ROUNDS = Number(process.env.SCALE_ROUNDS ?? 5);
const EXPLAIN = process.env.SCALE_EXPLAIN === "1";
const CONTROLS = 10;
const WARM_UP_SLAVES = 50;
/** Idle time before RSS is read, so both readings see a settled heap. */
const SETTLE_MS = 5000;
const TOKEN = "bench-scale-token";
const TARGET_KB_PER_CONNECTION = 60;
const TARGET_FAN_OUT_MS = 500;
const generatorBin = fileURLToPath(new URL("scale-slaves.js", import.meta.url));

// ------------------------------------------------------------- processes

interface Started {
  child: ChildProcess;
  match: RegExpMatchArray;
  output: () => string;
}

/** A node process, resolved with the first match of `ready` in its output. */
function startNode(
  args: string[],
  ready: RegExp,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Started> {
  const child = track(spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], ...options }));
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(ready);
      if (match === null) return;
      child.stdout?.off("data", onData);
      // Keep draining, so a chatty process never blocks on a full pipe.
      child.stdout?.on("data", () => {});
      resolve({ child, match, output: () => output });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}:\n${output}`)));
  });
}

/** SIGTERM (the load generator then says goodbye for each slave), SIGKILL after 3 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const stubborn = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(stubborn);
}

interface Generated {
  child: ChildProcess;
  connected: number;
  refused: Record<string, number>;
  ms: number;
}

/** Runs the load generator; resolves once all its clients are connected or refused. */
async function generate(args: string[]): Promise<Generated> {
  const { child, match } = await startNode([generatorBin, ...args], /^\{.*\}$/m);
  return { child, ...(JSON.parse(match[0]) as Omit<Generated, "child">) };
}

const names = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}-${index}`);

// ---------------------------------------------------------------- memory

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
}

/** Measured processes run with `--inspect=127.0.0.1:0`; this is where their inspector listens. */
function inspectorUrl(started: Started): string {
  const match = /Debugger listening on (ws:\/\/\S+)/.exec(started.output());
  if (match === null) throw new Error(`no inspector address in:\n${started.output()}`);
  return match[1] as string;
}

/** A full garbage collection, forced through the inspector, so a reading counts live memory rather than garbage. */
async function collectGarbage(inspector: string): Promise<void> {
  const socket = new WebSocket(inspector);
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  await new Promise<void>((resolve) => {
    socket.on("message", (payload) => (JSON.parse(payload.toString()) as { id?: number }).id === 1 && resolve());
    socket.send(JSON.stringify({ id: 1, method: "HeapProfiler.collectGarbage" }));
  });
  socket.close();
}

/** The median of a few readings, after a quiet spell and a full GC. */
async function settledRssKb(pid: number, inspector: string): Promise<number> {
  await sleep(SETTLE_MS);
  await collectGarbage(inspector);
  await sleep(500);
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(rssKb(pid));
    await sleep(200);
  }
  return median(readings);
}

interface Memory {
  rssKb: number;
  heapUsedKb: number;
  externalKb: number;
}

/** The master's own view, from /metrics: JS heap in use and memory held outside it (buffers). */
async function masterMemory(httpUrl: string, pid: number, inspector: string): Promise<Memory> {
  const rss = await settledRssKb(pid, inspector);
  const text = await (await fetch(`${httpUrl}metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1]) / 1024;
  return {
    rssKb: rss,
    heapUsedKb: metric("nodejs_heap_size_used_bytes"),
    externalKb: metric("nodejs_external_memory_bytes"),
  };
}

// ---------------------------------------------------------------- control

/** A control on a plain socket: registers (Olympus) or not (bare), and fans pings out. */
class Control {
  private seq = 1;
  private lastFromMaster = 0;
  private heartbeats: NodeJS.Timeout | null = null;
  private readonly waiting = new Map<number, (error: unknown) => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (payload) => {
      const frame = JSON.parse(payload.toString()) as {
        seq?: number;
        type: string;
        data: { seq?: number; error?: unknown };
      };
      if (typeof frame.seq === "number") this.lastFromMaster = Math.max(this.lastFromMaster, frame.seq);
      if (!frame.type.endsWith("_response")) return;
      const settle = this.waiting.get(frame.data.seq as number);
      this.waiting.delete(frame.data.seq as number);
      settle?.(frame.data.error ?? (frame.type === "memory_response" ? frame.data : undefined));
    });
  }

  static async open(url: string, register: boolean): Promise<Control> {
    const socket = new WebSocket(url);
    const control = new Control(socket);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    if (!register) return control;
    const ready = new Promise<{ heartbeat_interval?: number }>((resolve, reject) =>
      socket.on("message", (payload) => {
        const frame = JSON.parse(payload.toString()) as {
          type: string;
          data: { reason?: string; heartbeat_interval?: number };
        };
        if (frame.type === "ready") resolve(frame.data);
        if (frame.type === "close") reject(new Error(`control refused: ${frame.data.reason}`));
      }),
    );
    socket.send(
      JSON.stringify({
        seq: control.seq++,
        type: "register_control",
        data: { agent: "bench/scale", version: "2.0.0", token: TOKEN },
      }),
    );
    const { heartbeat_interval: interval } = await ready;
    // A master with sessions drops a peer that sends no heartbeats.
    if (interval !== undefined) {
      control.heartbeats = setInterval(
        () => socket.send(JSON.stringify({ type: "heartbeat", data: { last_seq: control.lastFromMaster } })),
        (interval * 1000) / 2,
      );
    }
    return control;
  }

  /** Sends a request; resolves with its error (or memory data), or undefined. */
  request(type: string, data: object): Promise<unknown> {
    const seq = this.seq++;
    return new Promise((resolve) => {
      this.waiting.set(seq, resolve);
      this.socket.send(JSON.stringify({ seq, type, data }));
    });
  }

  /** Pings every slave at once; resolves with the time until the last answer, in ms. */
  async fanOut(slaves: string[]): Promise<number> {
    const began = performance.now();
    const errors = (await Promise.all(slaves.map((slave) => this.request("ping_request", { slave })))).filter(
      (error) => error !== undefined,
    );
    const milliseconds = performance.now() - began;
    if (errors.length > 0)
      throw new Error(`${errors.length} of ${slaves.length} pings failed, e.g. ${JSON.stringify(errors[0])}`);
    return milliseconds;
  }

  async countSlaves(): Promise<number> {
    let count = 0;
    await new Promise<void>((resolve) => {
      const seq = this.seq++;
      const onMessage = (payload: WebSocket.RawData) => {
        const frame = JSON.parse(payload.toString()) as { type: string; data: { seq: number; slaves: unknown[] } };
        if (frame.type !== "list_slaves_response" || frame.data.seq !== seq) return;
        this.socket.off("message", onMessage);
        count = frame.data.slaves.length;
        resolve();
      };
      this.socket.on("message", onMessage);
      this.socket.send(JSON.stringify({ seq, type: "list_slaves_request", data: {} }));
    });
    return count;
  }

  close(): void {
    if (this.heartbeats !== null) clearInterval(this.heartbeats);
    this.socket.send(JSON.stringify({ seq: this.seq++, type: "close", data: { reason: "bench done" } }));
    this.socket.close();
  }
}

async function fanOutRounds(control: Control, slaves: string[]): Promise<number[]> {
  await control.fanOut(slaves); // warm-up round, not measured
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) times.push(await control.fanOut(slaves));
  return times;
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
  const master = await startNode(
    ["--inspect=127.0.0.1:0", olympusBin, "master", "--port", "0", "--token", TOKEN, ...extraArgs],
    /master listening on (ws:\/\/\S+)/,
    { cwd: directory, env },
  );
  const url = master.match[1] as string;
  const inspector = inspectorUrl(master);
  const httpUrl = url.replace(/^ws/, "http").replace(/api\/socket$/, "");
  const pid = master.child.pid as number;
  try {
    const controls = await Promise.all(Array.from({ length: CONTROLS }, () => Control.open(url, true)));
    const fanner = controls[0] as Control;

    // Warm-up: every code path once, then back to no slaves.
    const warm = await generate(["slaves", url, String(WARM_UP_SLAVES), TOKEN, "warm"]);
    if (warm.connected < WARM_UP_SLAVES) return { refused: warm.refused, connected: warm.connected };
    await fanOutRounds(fanner, names("warm", WARM_UP_SLAVES));
    await stop(warm.child);
    while ((await fanner.countSlaves()) > 0) await sleep(50);
    if (EXPLAIN) await snapshot(pid, directory);
    const baseline = await masterMemory(httpUrl, pid, inspector);

    const sims = await generate(["slaves", url, String(SLAVES), TOKEN, "sim"]);
    if (sims.connected < SLAVES) return { refused: sims.refused, connected: sims.connected };
    const listed = await fanner.countSlaves();
    if (listed !== SLAVES) throw new Error(`the master lists ${listed} slaves, not ${SLAVES}`);
    const loaded = await masterMemory(httpUrl, pid, inspector);
    if (EXPLAIN) await snapshot(pid, directory);

    const fanOutMs = await fanOutRounds(fanner, names("sim", SLAVES));
    const afterFanOut = rssKb(pid);
    for (const control of controls) control.close();
    await stop(sims.child);
    const notes = [
      `Olympus master RSS: ${kb(baseline.rssKb)} with ${CONTROLS} controls and no slaves, ${kb(loaded.rssKb)} with ${SLAVES} idle slaves, ${kb(afterFanOut)} right after the fan-out rounds.`,
    ];
    if (EXPLAIN) notes.push(...explainSnapshots(directory, SLAVES));
    return { baseline, loaded, connectMs: sims.ms, fanOutMs, notes };
  } finally {
    await stop(master.child);
  }
}

async function measureBare(): Promise<Measured> {
  const server = await startNode(["--inspect=127.0.0.1:0", generatorBin, "bare-server"], /listening (\d+)/);
  const url = `ws://127.0.0.1:${server.match[1]}`;
  const inspector = inspectorUrl(server);
  const pid = server.child.pid as number;
  try {
    const control = await Control.open(`${url}/control`, false);
    const memory = async (): Promise<Memory> => {
      const rss = await settledRssKb(pid, inspector);
      const usage = (await control.request("memory_request", {})) as { heapUsed: number; external: number };
      return { rssKb: rss, heapUsedKb: usage.heapUsed / 1024, externalKb: usage.external / 1024 };
    };
    const warm = await generate(["bare-clients", url, String(WARM_UP_SLAVES), "warm"]);
    await fanOutRounds(control, names("warm", WARM_UP_SLAVES));
    await stop(warm.child);
    const baseline = await memory();
    const clients = await generate(["bare-clients", url, String(SLAVES), "sim"]);
    const loaded = await memory();
    const fanOutMs = await fanOutRounds(control, names("sim", SLAVES));
    control.close();
    await stop(clients.child);
    return {
      baseline,
      loaded,
      connectMs: clients.ms,
      fanOutMs,
      notes: [`Bare ws server RSS: ${kb(baseline.rssKb)} with no clients, ${kb(loaded.rssKb)} with ${SLAVES}.`],
    };
  } finally {
    await stop(server.child);
  }
}

const kb = (value: number) => (value >= 10_240 ? `${(value / 1024).toFixed(1)} MB` : `${value.toFixed(0)} KB`);
const perConnection = (run: Measured, key: keyof Memory) => (run.loaded[key] - run.baseline[key]) / SLAVES;

// ---------------------------------------------------------- heap snapshots

/** Asks the master (started with --heapsnapshot-signal) for a snapshot and waits until it is written. */
async function snapshot(pid: number, directory: string): Promise<void> {
  const before = readdirSync(directory).filter((name) => name.endsWith(".heapsnapshot")).length;
  process.kill(pid, "SIGUSR2");
  const deadline = Date.now() + 60_000;
  while (
    readdirSync(directory).filter((name) => name.endsWith(".heapsnapshot")).length === before &&
    Date.now() < deadline
  )
    await sleep(200);
  await sleep(2000); // the file appears before it is complete
}

/** Self size per constructor (or per kind, for strings, arrays, code …) in one snapshot. */
function sizesByKind(path: string): Map<string, { bytes: number; count: number }> {
  const heap = JSON.parse(readFileSync(path, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = heap.snapshot.meta.node_fields;
  const [typeNames] = heap.snapshot.meta.node_types;
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((field) => fields.indexOf(field)) as [
    number,
    number,
    number,
  ];
  const sizes = new Map<string, { bytes: number; count: number }>();
  for (let at = 0; at < heap.nodes.length; at += fields.length) {
    const type = typeNames[heap.nodes[at + typeAt] as number] as string;
    const kind = ["object", "closure", "native", "hidden"].includes(type)
      ? `${type} ${heap.strings[heap.nodes[at + nameAt] as number]}`
      : type;
    const entry = sizes.get(kind) ?? { bytes: 0, count: 0 };
    entry.bytes += heap.nodes[at + sizeAt] as number;
    entry.count++;
    sizes.set(kind, entry);
  }
  return sizes;
}

/** The kinds of object that grew most between the two snapshots, per connection. */
function explainSnapshots(directory: string, connections: number): string[] {
  const files = readdirSync(directory)
    .filter((name) => name.endsWith(".heapsnapshot"))
    .sort();
  if (files.length < 2) return ["(no heap snapshots were written)"];
  const [before, after] = files.slice(-2).map((name) => sizesByKind(join(directory, name))) as [
    ReturnType<typeof sizesByKind>,
    ReturnType<typeof sizesByKind>,
  ];
  const growth = [...after].map(([kind, { bytes, count }]) => ({
    kind,
    bytes: bytes - (before.get(kind)?.bytes ?? 0),
    count: count - (before.get(kind)?.count ?? 0),
  }));
  growth.sort((a, b) => b.bytes - a.bytes);
  const total = growth.reduce((sum, entry) => sum + entry.bytes, 0);
  const rows = growth
    .slice(0, 20)
    .map(
      ({ kind, bytes, count }) =>
        `| ${kind.replace(/\|/g, "\\|").slice(0, 60)} | ${(bytes / connections).toFixed(0)} | ${(count / connections).toFixed(1)} |`,
    );
  return [
    [
      `JS heap growth per connection (heap snapshots, after a full GC; self sizes): ${(total / connections / 1024).toFixed(1)} KB. The largest kinds:`,
      "",
      "| kind | bytes per connection | objects per connection |",
      "|---|---|---|",
      ...rows,
    ].join("\n"),
  ];
}

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
  const met = (ok: boolean) => (ok ? "yes" : "**no**");
  report(
    "scale",
    ["measure", "olympus", "bare ws", "ratio", "target", "met"],
    [
      [
        "RSS per idle slave connection (KB)",
        perSlave,
        perBare,
        perSlave / perBare,
        `≤ ${TARGET_KB_PER_CONNECTION}`,
        met(perSlave <= TARGET_KB_PER_CONNECTION),
      ],
      [
        "  of which JS heap in use (KB)",
        perConnection(olympus, "heapUsedKb"),
        perConnection(bare, "heapUsedKb"),
        perConnection(olympus, "heapUsedKb") / perConnection(bare, "heapUsedKb"),
        "",
        "",
      ],
      [
        "  of which external, buffers (KB)",
        perConnection(olympus, "externalKb"),
        perConnection(bare, "externalKb"),
        "",
        "",
        "",
      ],
      [
        `fan-out ping to ${SLAVES} slaves, median of ${ROUNDS} (ms)`,
        fanOut.median,
        bareFanOut.median,
        fanOut.median / bareFanOut.median,
        `≤ ${TARGET_FAN_OUT_MS}`,
        met(fanOut.median <= TARGET_FAN_OUT_MS),
      ],
      [
        `fan-out ping to ${SLAVES} slaves, max of ${ROUNDS} (ms)`,
        fanOut.max,
        bareFanOut.max,
        fanOut.max / bareFanOut.max,
        `≤ ${TARGET_FAN_OUT_MS}`,
        met(fanOut.max <= TARGET_FAN_OUT_MS),
      ],
      [
        `connecting ${SLAVES} slaves, 50 at a time (ms)`,
        olympus.connectMs,
        bare.connectMs,
        olympus.connectMs / bare.connectMs,
        "",
        "",
      ],
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
