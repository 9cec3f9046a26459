/**
 * What bench/pty-throughput and bench/vs-ssh share: a command's output
 * counted from its first byte to its last, the resident memory of the
 * processes on its way, and a terminal whose keystroke echo can be timed.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import pty from "node-pty";
import { start } from "../test/helpers/processes.js";
import { onCleanup } from "./harness.js";

const MB = 1024 * 1024;

export interface Transfer {
  bytes: number;
  /** First byte to last byte, ms. */
  streamMs: number;
  /** Start to the first byte, ms. */
  firstMs: number;
  /** Start to exit, ms. */
  wallMs: number;
  /** Peak resident memory of each group of processes, kB (sampled every 20 ms). */
  peakKb: Record<string, number>;
}

/** MB/s from the first byte to the last. */
export const rate = (transfer: Transfer) => transfer.bytes / MB / (transfer.streamMs / 1000);

/** Processes to watch by name: the spawned command's pid is given, for groups that hang off it. */
export type Watched = Record<string, (child: number) => number[]>;

/** Runs a command with its stdout a pipe to us; counts bytes, and samples the RSS of `watched`. */
export function transfer(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
  watched: Watched = {},
): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const { child } = start(file, args, { ...options, stdio: ["pipe", "pipe", "pipe"], keepOutput: false });
    const peakKb: Record<string, number> = {};
    const sample = () => {
      for (const [name, pids] of Object.entries(watched))
        peakKb[name] = Math.max(peakKb[name] ?? 0, residentKb(pids(child.pid as number)));
    };
    const sampler = setInterval(sample, 20);
    let bytes = 0;
    let first = 0;
    let last = 0;
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      last = performance.now();
      if (bytes === 0) first = last;
      bytes += chunk.length;
    });
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`${file} ${args.join(" ")} exited ${code}: ${stderr}`));
      resolve({ bytes, streamMs: last - first, firstMs: first - began, wallMs: performance.now() - began, peakKb });
    });
  });
}

/** The summed VmRSS of these processes, kB; those gone count nothing. */
export function residentKb(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return total;
}

export function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** A terminal whose round trip for one byte can be timed. */
export interface EchoTerminal {
  roundTrip(byte: string): Promise<number>;
  close(): Promise<void>;
}

/** Runs `file` in a node-pty terminal (the user's terminal); it must print READY, then echo what it reads. */
export async function echoTerminal(file: string, args: string[], cwd: string): Promise<EchoTerminal> {
  const terminal = pty.spawn(file, args, { cols: 80, rows: 24, cwd, env: process.env as Record<string, string> });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    terminal.onExit(() => {
      exited = true;
      resolve();
    }),
  );
  onCleanup(() => {
    if (!exited) killQuietly(terminal.pid);
  });
  let output = "";
  let wake = () => {};
  terminal.onData((data) => {
    output += data;
    wake();
  });
  const waitFor = (test: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `${file} ${args.join(" ")}: no ${what} within 10 s; output ${JSON.stringify(output.slice(-200))}`,
            ),
          ),
        10_000,
      );
      wake = () => {
        if (!test()) return;
        clearTimeout(timer);
        wake = () => {};
        resolve();
      };
      wake();
    });
  await waitFor(() => output.includes("READY"), "READY");
  return {
    async roundTrip(byte: string): Promise<number> {
      output = "";
      const began = performance.now();
      terminal.write(byte);
      await waitFor(() => output.includes(byte), `echo of ${JSON.stringify(byte)}`);
      return performance.now() - began;
    },
    async close(): Promise<void> {
      // control and ssh forward SIGTERM (or the hangup) to the remote command; a local shell gets it directly.
      if (!exited) process.kill(terminal.pid, "SIGTERM");
      const timer = setTimeout(() => killQuietly(terminal.pid), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Alternates one sample on each terminal, after a warm-up; the samples in ms, by terminal. */
export async function echoSamples(terminals: EchoTerminal[], samples: number, warmup: number): Promise<number[][]> {
  const results = terminals.map((): number[] => []);
  for (let i = 0; i < warmup + samples; i++) {
    const byte = String.fromCharCode(97 + (i % 26));
    for (const [index, terminal] of terminals.entries()) {
      const ms = await terminal.roundTrip(byte);
      if (i >= warmup) results[index]?.push(ms);
    }
    await sleep(2);
  }
  return results;
}
