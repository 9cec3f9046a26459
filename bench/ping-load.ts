/**
 * The ping load both relay benchmarks use (bench/relay, bench/federation):
 * a raw-ws control that keeps N `ping_request`s in flight on one side and
 * records each round trip, with the CPU time the side's servers used.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type WebSocket from "ws";
import { onCleanup } from "./harness.js";
import { quantile } from "./report.js";

/** Each measured slice starts after this much load, unmeasured. */
export const WARMUP_MS = 250;

/** Starts a process (Node unless `command` says otherwise) and resolves once its output matches `ready`. */
export function startProcess(
  args: string[],
  ready: RegExp,
  pids: number[],
  command = process.execPath,
): Promise<RegExpMatchArray> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  onCleanup(() => void child.kill("SIGKILL"));
  pids.push(child.pid!);
  let output = "";
  let matched = false;
  return new Promise((resolve, reject) => {
    // Once ready, the output is drained unread: matching a growing log on every chunk costs this process, the load generator, quadratic CPU.
    const onData = (chunk: Buffer) => {
      if (matched) return;
      output += chunk.toString();
      const match = output.match(ready);
      if (match === null) return;
      matched = true;
      resolve(match);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}:\n${output}`)));
  });
}

export function nextFrame(socket: WebSocket): Promise<{ type: string; data: Record<string, unknown> }> {
  return new Promise((resolve) => socket.once("message", (text) => resolve(JSON.parse(text.toString()))));
}

export interface Slice {
  completed: number;
  elapsedMs: number;
  latencies: number[];
  /** CPU time the side's server processes used while measured. */
  cpuSeconds: number;
}

/** One side under load: the load generator's socket and the pids of the processes that serve it. */
export interface Side {
  socket: WebSocket;
  pids: number[];
}

/** Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) in /proc/<pid>/stat. */
const TICKS_PER_SECOND = 100;

/** User plus system CPU time of these processes so far. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    // The fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** Frames are numbered for the whole session (the master drops a seq it has seen), so across runs too. */
let seq = 1000;

/** Keeps `inFlight` requests outstanding for `durationMs` (after a warm-up) and records each round trip. */
export async function load(
  { socket, pids }: Side,
  inFlight: number,
  durationMs: number,
  frame: (seq: number) => string,
): Promise<Slice> {
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
  const cpuBefore = cpuSeconds(pids);
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const elapsedMs = performance.now() - began;
  const cpuUsed = cpuSeconds(pids) - cpuBefore;
  measuring = false;
  stopping = true;
  while (sentAt.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  socket.off("message", onMessage);
  return { completed, elapsedMs, latencies, cpuSeconds: cpuUsed };
}

/** Slices of one side, summed: requests per second, p50 and p99 in ms, and server CPU per request in µs. */
export function summarize(slices: Slice[]): { rps: number; p50: number; p99: number; cpuPerRequest: number } {
  const latencies = slices.flatMap((slice) => slice.latencies);
  const sum = (field: "completed" | "elapsedMs" | "cpuSeconds") =>
    slices.reduce((total, slice) => total + slice[field], 0);
  return {
    rps: (sum("completed") / sum("elapsedMs")) * 1000,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPerRequest: (sum("cpuSeconds") / sum("completed")) * 1e6,
  };
}

export function pingFrame(seq: number): string {
  return JSON.stringify({ seq, type: "ping_request", data: { slave: "bench" } });
}
