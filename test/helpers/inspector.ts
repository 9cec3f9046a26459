import { readFileSync } from "node:fs";
import WebSocket from "ws";

export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1]) / 1024;
}

/** The master's inspector: a full GC on demand, so a memory reading counts what is live rather than garbage. */
export class Inspector {
  private nextId = 1;
  private readonly waiting = new Map<number, (result: Record<string, unknown>) => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (payload) => {
      const { id, result } = JSON.parse(payload.toString()) as { id?: number; result?: Record<string, unknown> };
      if (id !== undefined) this.waiting.get(id)?.(result ?? {});
    });
  }

  /** Connects to the inspector whose address the process printed. */
  static async open(output: string): Promise<Inspector> {
    const address = /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
    if (address === undefined) throw new Error(`the master printed no inspector address:\n${output}`);
    const socket = new WebSocket(address);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    return new Inspector(socket);
  }

  private call(method: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ id, method }));
    });
  }

  /** A full garbage collection, so a reading that follows counts live memory. */
  async collectGarbage(): Promise<void> {
    await this.call("HeapProfiler.collectGarbage");
  }

  /** RSS and live JS heap, in MB, right after a full GC. */
  async memory(pid: number): Promise<{ rss: number; heap: number }> {
    await this.collectGarbage();
    const { usedSize } = (await this.call("Runtime.getHeapUsage")) as { usedSize: number };
    return { rss: rssMb(pid), heap: usedSize / 1024 / 1024 };
  }

  close(): void {
    this.socket.close();
  }
}

/** Starts `start` with the inspector on for the process it spawns (NODE_OPTIONS is read at spawn time). */
export async function withInspector<T>(start: () => Promise<T>): Promise<T> {
  const saved = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${saved ?? ""} --inspect=127.0.0.1:0`.trim();
  const started = start();
  if (saved === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = saved;
  return started;
}
