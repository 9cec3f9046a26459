import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Started, start } from "./processes.js";

export interface NatsServer {
  process: Started;
  url: string;
  port: number;
  /** JetStream's store: a restart on the same port and store keeps the buckets. */
  store: string;
}

/** A real nats-server with JetStream on loopback: a free port and a fresh store unless given. */
export async function startNats(port = -1, store = mkdtempSync(join(tmpdir(), "olympus-nats-"))): Promise<NatsServer> {
  const server = start("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store]);
  const [, bound] = (await server.waitFor(/Listening for client connections on 127\.0\.0\.1:(\d+)/)) as string[];
  return { process: server, url: `nats://127.0.0.1:${bound}`, port: Number(bound), store };
}
