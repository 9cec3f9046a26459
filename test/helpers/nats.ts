import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Started, start } from "./processes.js";

/** A real nats-server with JetStream, on a free loopback port, its store in a fresh directory. */
export async function startNats(port = -1): Promise<{ process: Started; url: string; port: number }> {
  const store = mkdtempSync(join(tmpdir(), "olympus-nats-"));
  const server = start("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store]);
  const [, bound] = (await server.waitFor(/Listening for client connections on 127\.0\.0\.1:(\d+)/)) as string[];
  return { process: server, url: `nats://127.0.0.1:${bound}`, port: Number(bound) };
}
