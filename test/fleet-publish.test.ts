import assert from "node:assert/strict";
import { it } from "node:test";
import type { KV } from "@nats-io/kv";
import { Fleet, type FleetContext } from "../server/federation/fleet.js";
import { slaveKey } from "../server/federation/names.js";
import type { SlaveRegistry, SlaveSession } from "../server/sessions/registry.js";
import type { Watchers } from "../server/sessions/watchers.js";
import { type SlaveInfo, slaveEvent } from "../shared/protocol/messages.js";
import { eventually } from "./helpers/processes.js";

it("writes a slave's registry entry again when the write failed, so the other masters see it", async () => {
  const info: SlaveInfo = {
    id: 1,
    name: "web-1",
    agent: "olympus",
    version: "test",
    address: "127.0.0.1",
    connected_at: new Date().toISOString(),
  };
  const session = { info, tree: { slave: "web-1", nodes: [], commands: [] } } as unknown as SlaveSession;
  // A JetStream bucket whose first write of each key times out, as it did under a burst of 3,000 slaves.
  const puts: string[] = [];
  const kv = {
    put: async (key: string) => {
      puts.push(key);
      if (puts.filter((put) => put === key).length === 1) throw new Error("timeout");
      return puts.length;
    },
    delete: async () => {},
  } as unknown as KV;
  let onBroadcast: (definition: unknown, data: unknown) => void = () => {};
  const lines: string[] = [];
  const context = {
    kv,
    masterId: "m1",
    url: "ws://127.0.0.1:1/api/socket",
    registry: { sessions: () => [session] } as unknown as SlaveRegistry,
    watchers: { listen: (listener: typeof onBroadcast) => (onBroadcast = listener) } as unknown as Watchers,
    tunnels: { serve: () => {} },
    leaseMs: 1000,
    log: (line: string) => lines.push(line),
  } as unknown as FleetContext;
  const fleet = new Fleet(context);
  onBroadcast(slaveEvent, { slave: info, connected: true });
  await eventually(() => puts.length === 2, 5000, "the entry written again");
  assert.deepEqual(puts, [slaveKey("web-1"), slaveKey("web-1")]);
  assert.deepEqual(lines, ["federation: registry write: timeout"]);
  await fleet.stop();
});
