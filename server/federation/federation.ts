import { randomBytes } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import type { Logger } from "../../shared/runtime/log.js";
import type { Authenticator } from "../auth/auth.js";
import type { ControlContext } from "../routing/control-requests.js";
import { Fleet } from "./fleet.js";
import { FLEET_BUCKET } from "./names.js";
import { shareRevocations } from "./revocations.js";
import { Tunnels } from "./tunnels.js";

export interface FederationOptions extends ControlContext {
  auth: Authenticator;
  /** NATS servers, `nats://host:port`. */
  servers: string[];
  /** This master's URL, as slaves and controls reach it. */
  url: string;
  /** A master silent for this long is gone, and its slaves with it: the heartbeat timeout. */
  leaseMs: number;
  /** How long the controls of a master that died have to resume their commands elsewhere before these are hung up. */
  sessionTimeoutMs: number;
  /** How long a request to a slave on another master may wait. */
  requestTimeoutMs: number;
  log: Logger;
}

export interface FederationHealth {
  nats: "connected" | "disconnected";
  /** Masters holding a lease, this one included. */
  masters: number;
  tunnels: number;
  /** Frames to and from other masters, in bytes. */
  bytes_in: number;
  bytes_out: number;
}

export interface Federation {
  /** What `/api/health` and `/metrics` say of it. */
  health(): FederationHealth;
  stop(): Promise<void>;
}

/** How long a stopping master tries to take its entries out of the bucket. */
const STOP_TIMEOUT_MS = 2_000;

/** A master joins the others on NATS: a shared registry, tunnels to their slaves, and theirs to its own. */
export async function startFederation(options: FederationOptions): Promise<Federation> {
  const { servers, log } = options;
  const nats = await connect({
    servers,
    name: `olympus master ${options.url}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  const masterId = randomBytes(8).toString("hex");
  const kv = await new Kvm(nats).create(FLEET_BUCKET, { history: 1 });
  const tunnels = new Tunnels({ ...options, nats, masterId });
  const fleet = new Fleet({ ...options, kv, masterId, tunnels });
  await fleet.start();
  const stopSharingRevocations = await shareRevocations(kv, options.auth, log);
  options.registry.elsewhere = fleet;
  let connected = true;
  void (async () => {
    for await (const status of nats.status()) {
      if (status.type === "disconnect") {
        connected = false;
        fleet.online = false;
        log(`federation: lost NATS; serving this master's own slaves and controls until it is back`);
      } else if (status.type === "reconnect") {
        connected = true;
        fleet.online = true;
        log(`federation: NATS is back (${status.server})`);
        fleet.republish();
      }
    }
  })();
  log(`federation: joined NATS at ${nats.getServer()} as master ${masterId}`);
  return {
    health: () => ({
      nats: connected ? "connected" : "disconnected",
      masters: fleet.masterCount,
      tunnels: tunnels.size,
      ...tunnels.traffic,
    }),
    async stop() {
      options.registry.elsewhere = null;
      stopSharingRevocations();
      tunnels.stop("master shutting down");
      // Without NATS the goodbye cannot be said: the lease lapses instead.
      const goodbye = fleet.stop().then(() => nats.drain());
      const timer = setTimeout(() => void nats.close(), STOP_TIMEOUT_MS);
      await goodbye.catch(() => {});
      clearTimeout(timer);
    },
  };
}
