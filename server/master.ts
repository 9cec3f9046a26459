import websocket from "@fastify/websocket";
import Fastify, { type FastifyInstance } from "fastify";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, MAX_WEBSOCKET_PAYLOAD_BYTES } from "../shared/limits.js";
import type { Logger } from "../shared/log.js";
import { SOCKET_PATH } from "../shared/url.js";
import { TokenAuth } from "./auth.js";
import { dashboard } from "./dashboard/plugin.js";
import { httpApi } from "./http-api.js";
import { MasterMetrics, metricsRoute } from "./metrics.js";
import { PeerConnection } from "./peer-connection.js";
import { SlaveRegistry } from "./registry.js";
import { Watchers } from "./watchers.js";
import { CommandRoutes } from "./command-routes.js";

export interface MasterOptions {
  host: string;
  port: number;
  /** Without one, a random token is generated. */
  token?: string;
  handshakeTimeoutMs?: number;
  log: Logger;
}

export interface Master {
  app: FastifyInstance;
  registry: SlaveRegistry;
  auth: TokenAuth;
  /** `ws://host:port/api/socket` as bound. */
  url: string;
  stop(reason?: string): Promise<void>;
}

/** Builds and starts a master: the WebSocket endpoint and the HTTP API. */
export async function startMaster(options: MasterOptions): Promise<Master> {
  const auth = options.token === undefined ? TokenAuth.generate() : new TokenAuth(options.token);
  const registry = new SlaveRegistry();
  const peers = new Set<PeerConnection>();
  const watchers = new Watchers();
  const routes = new CommandRoutes(watchers);
  const metrics = new MasterMetrics({ registry, peers, countRunningCommands: () => routes.size });
  const app = Fastify({ logger: false });

  await app.register(websocket, { options: { maxPayload: MAX_WEBSOCKET_PAYLOAD_BYTES } });
  const context = {
    auth,
    registry,
    watchers,
    routes,
    peers,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    frameObserver: () => metrics.frameObserver(),
    log: options.log,
  };
  app.get(SOCKET_PATH, { websocket: true }, (socket, request) => {
    new PeerConnection(socket, request.ip, context);
  });
  await app.register(httpApi, { auth, registry, peers });
  await app.register(metricsRoute, { auth, metrics });
  await app.register(dashboard);

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    app,
    registry,
    auth,
    url: `ws://${host}:${port}${SOCKET_PATH}`,
    async stop(reason = "master shutting down") {
      for (const peer of peers) peer.end(reason);
      await app.close();
    },
  };
}
