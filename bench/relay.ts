/**
 * bench/relay: `ping_request` control → master → slave → back, at 1, 16 and
 * 128 requests in flight, next to a bare `ws` relay measured in the same run.
 * The load generator is the same raw-ws client for both, so the difference is
 * the master and agent. Each level alternates the two in SLICES slices, so a
 * change in the machine's speed (this VM's swings by ±30 % over seconds) hits
 * both alike. Before the levels, each side serves WARMUP_LOAD_MS of load
 * unmeasured: both are long-running servers, and their first few thousand
 * requests, before V8 has optimized the hot paths, are not what users meet.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { quantile, report } from "./report.js";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const SLICES = 8;
const WARMUP_MS = 250;
const WARMUP_LOAD_MS = 3000;
const TOKEN = "bench-token";
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const children: ChildProcess[] = [];

function startProcess(args: string[], ready: RegExp): Promise<RegExpMatchArray> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(ready);
      if (match !== null) resolve(match);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}:\n${output}`)));
  });
}

function nextFrame(socket: WebSocket): Promise<{ type: string; data: Record<string, unknown> }> {
  return new Promise((resolve) => socket.once("message", (text) => resolve(JSON.parse(text.toString()))));
}

interface Slice {
  completed: number;
  elapsedMs: number;
  latencies: number[];
}

/** Frames are numbered for the whole session (the master drops a seq it has seen), so across runs too. */
let seq = 1000;

/** Keeps `inFlight` requests outstanding for `durationMs` (after a warm-up) and records each round trip. */
async function load(socket: WebSocket, inFlight: number, durationMs: number, frame: (seq: number) => string): Promise<Slice> {
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let measuring = false;
  let stopping = false;
  let completed = 0;
  const send = () => {
    const id = ++seq;
    sentAt.set(id, performance.now());
    socket.send(frame(id));
  };
  const onMessage = (text: WebSocket.RawData) => {
    const { data } = JSON.parse(text.toString()) as { data: { seq: number } };
    const started = sentAt.get(data.seq);
    if (started === undefined) return;
    sentAt.delete(data.seq);
    if (measuring) {
      latencies.push(performance.now() - started);
      completed++;
    }
    if (!stopping) send();
  };
  socket.on("message", onMessage);
  for (let i = 0; i < inFlight; i++) send();
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  measuring = true;
  const began = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const elapsedMs = performance.now() - began;
  measuring = false;
  stopping = true;
  while (sentAt.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  socket.off("message", onMessage);
  return { completed, elapsedMs, latencies };
}

/** Slices of one side, summed: requests per second, p50 and p99 in ms. */
function summarize(slices: Slice[]): { rps: number; p50: number; p99: number } {
  const latencies = slices.flatMap((slice) => slice.latencies);
  const completed = slices.reduce((sum, slice) => sum + slice.completed, 0);
  const elapsedMs = slices.reduce((sum, slice) => sum + slice.elapsedMs, 0);
  return { rps: (completed / elapsedMs) * 1000, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

async function olympusSocket(): Promise<WebSocket> {
  const olympus = here("../bin/olympus.js");
  const [, url] = (await startProcess([olympus, "master", "--port", "0", "--token", TOKEN], /listening on (\S+)/)) as string[];
  await startProcess([olympus, "slave", "--master", url as string, "--name", "bench", "--token", TOKEN], /connected to/);
  const socket = new WebSocket(url as string);
  await nextFrame(socket);
  socket.send(JSON.stringify({ seq: 1, type: "register_control", data: { agent: "bench", version: "2.0.0", token: TOKEN } }));
  await nextFrame(socket);
  return socket;
}

async function bareSocket(): Promise<WebSocket> {
  const relay = here("bare-relay.js");
  const [, port] = (await startProcess([relay, "relay"], /listening (\d+)/)) as string[];
  const url = `ws://127.0.0.1:${port}`;
  await startProcess([relay, "responder", url], /connected/);
  const socket = new WebSocket(`${url}/control`);
  await new Promise((resolve) => socket.once("open", resolve));
  return socket;
}

/** Olympus's ping names the slave that answers it; the bare relay has only one. */
function pingFrame(toOlympus: boolean, seq: number): string {
  return JSON.stringify({ seq, type: "ping_request", data: toOlympus ? { slave: "bench" } : {} });
}

try {
  const olympus = await olympusSocket();
  const bare = await bareSocket();
  for (const socket of [bare, olympus]) await load(socket, 16, WARMUP_LOAD_MS, (seq) => pingFrame(socket === olympus, seq));
  const rows: (string | number)[][] = [];
  for (const inFlight of [1, 16, 128]) {
    const bareSlices: Slice[] = [];
    const ourSlices: Slice[] = [];
    for (let slice = 0; slice < SLICES; slice++) {
      bareSlices.push(await load(bare, inFlight, DURATION_MS / SLICES, (seq) => pingFrame(false, seq)));
      ourSlices.push(await load(olympus, inFlight, DURATION_MS / SLICES, (seq) => pingFrame(true, seq)));
    }
    const [ours, baseline] = [summarize(ourSlices), summarize(bareSlices)];
    rows.push([inFlight, ours.rps, baseline.rps, ours.rps / baseline.rps, ours.p50, ours.p99, baseline.p50, baseline.p99, ours.p99 / baseline.p99]);
  }
  report(
    "relay",
    ["in flight", "olympus req/s", "bare req/s", "throughput ratio", "olympus p50 ms", "olympus p99 ms", "bare p50 ms", "bare p99 ms", "p99 ratio"],
    rows,
    [`${DURATION_MS} ms per side and level, in ${SLICES} alternating slices, each after ${WARMUP_MS} ms of warm-up; each side first served ${WARMUP_LOAD_MS} ms of load at 16 in flight, unmeasured.`, "Targets: throughput ratio ≥ 0.7, p99 ratio ≤ 1.5."],
  );
} catch (error) {
  console.error(`bench/relay failed: ${(error as Error).stack}`);
  process.exitCode = 1;
} finally {
  for (const child of children) child.kill("SIGKILL");
  process.exit();
}
