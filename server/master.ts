import { join } from "node:path";
import websocket from "@fastify/websocket";
import Fastify, { type FastifyInstance } from "fastify";
import type { WebSocket } from "ws";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, MAX_WEBSOCKET_PAYLOAD_BYTES } from "../shared/protocol/limits.js";
import { DEFAULT_REQUEST_TIMEOUT_MS } from "../shared/protocol/link.js";
import type { Logger } from "../shared/runtime/log.js";
import { MemorySocket } from "../shared/runtime/memory-socket.js";
import { SOCKET_PATH } from "../shared/runtime/url.js";
import { Authenticator } from "./auth/auth.js";
import { STATE_DIRECTORY, TokenStore } from "./auth/tokens.js";
import { dashboard } from "./dashboard/plugin.js";
import { type Federation, startFederation } from "./federation/federation.js";
import { httpApi } from "./http/http-api.js";
import { MasterMetrics, metricsRoute } from "./http/metrics.js";
import { DEFAULT_HANDSHAKES_PER_MINUTE, DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_SESSION_TIMEOUT_MS } from "./limits.js";
import { CommandHistory } from "./routing/command-history.js";
import { CommandRoutes } from "./routing/command-routes.js";
import { NodeTimeline } from "./routing/node-timeline.js";
import { HandshakeLimiter } from "./sessions/handshake-limiter.js";
import type { MasterSession } from "./sessions/master-session.js";
import { PeerConnection } from "./sessions/peer-connection.js";
import { SlaveRegistry } from "./sessions/registry.js";
import { Watchers } from "./sessions/watchers.js";
import { TestSuites } from "./testing/serve-tests.js";
import { TimingStore } from "./testing/timings.js";

export interface MasterOptions {
  host: string;
  port: number;
  /** A shared token, accepted as an admin token; tokens the store signed are accepted either way. */
  token?: string;
  /** Holds the secret, the token list, the command history and the test timings (default: .olympus in the working directory). */
  stateDirectory?: string;
  /** Serve HTTPS and wss:// with this certificate (PEM). */
  tls?: { cert: Buffer; key: Buffer };
  handshakeTimeoutMs?: number;
  /** New connections one address may open per minute. */
  handshakesPerMinute?: number;
  heartbeatIntervalMs?: number;
  /** How long a session whose socket dropped waits for a resume. */
  sessionTimeoutMs?: number;
  /** NATS servers: join the masters federated there (see server/federation/). */
  nats?: string[];
  log: Logger;
  /** Log detail too: a control's registration and goodbye. */
  verbose?: boolean;
}

export interface Master {
  app: FastifyInstance;
  registry: SlaveRegistry;
  auth: Authenticator;
  /** `ws://host:port/api/socket` (or `wss://`) as bound. */
  url: string;
  /** A connection from this same process (the embedded slave of `olympus start`): the client's end. */
  connectInProcess(): MemorySocket;
  stop(reason?: string): Promise<void>;
}

/** Builds and starts a master: the WebSocket endpoint and the HTTP API. */
export async function startMaster(options: MasterOptions): Promise<Master> {
  const stateDirectory = options.stateDirectory ?? join(process.cwd(), STATE_DIRECTORY);
  const auth = new Authenticator(new TokenStore(stateDirectory), options.token);
  const history = new CommandHistory(stateDirectory, options.log);
  await history.load();
  const registry = new SlaveRegistry();
  const peers = new Set<PeerConnection>();
  const watchers = new Watchers();
  const routes = new CommandRoutes(watchers, history, options.log);
  const sessions = new Map<string, MasterSession>();
  let federation: Federation | null = null;
  const metrics = new MasterMetrics({
    registry,
    peers,
    countRunningCommands: () => routes.size,
    federation: () => federation?.health(),
  });
  const app = Fastify({ logger: false, https: options.tls ?? null });

  await app.register(websocket, {
    // UTF-8 is checked by PeerConnection, so that a bad frame gets a `close` with a reason rather than a bare 1007.
    options: { maxPayload: MAX_WEBSOCKET_PAYLOAD_BYTES, skipUTF8Validation: true },
    errorHandler: closeOnlyIfStillOpen,
  });
  const context = {
    auth,
    registry,
    watchers,
    routes,
    suites: new TestSuites(),
    timings: new TimingStore(stateDirectory, options.log),
    history,
    timeline: new NodeTimeline(),
    peers,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    handshakes: new HandshakeLimiter(options.handshakesPerMinute ?? DEFAULT_HANDSHAKES_PER_MINUTE),
    sessions,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
    sessionTimeoutMs: options.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
    linkObserver: metrics.linkObserver,
    log: options.log,
    debug: options.verbose ? options.log : () => {},
  };
  app.get(SOCKET_PATH, { websocket: true }, (socket, request) => {
    new PeerConnection(socket, request.raw.socket, request.ip, context);
  });
  await app.register(httpApi, { auth, registry, peers, federation: () => federation?.health() });
  await app.register(metricsRoute, { auth, metrics });
  await app.register(dashboard);

  await app.listen({ host: options.host, port: options.port });
  const stopEndingRevokedSessions = auth.endRevokedSessions(() => sessions.values(), options.log);
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const url = `${options.tls === undefined ? "ws" : "wss"}://${host}:${port}${SOCKET_PATH}`;
  if (options.nats !== undefined) {
    federation = await startFederation({
      servers: options.nats,
      url,
      auth,
      registry,
      watchers,
      routes,
      suites: context.suites,
      timings: context.timings,
      history,
      timeline: context.timeline,
      leaseMs: 2 * context.heartbeatIntervalMs,
      sessionTimeoutMs: context.sessionTimeoutMs,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      log: options.log,
    });
  }
  return {
    app,
    registry,
    auth,
    url,
    connectInProcess() {
      const [client, master] = MemorySocket.pair();
      new PeerConnection(master, master, "in-process", context);
      return client;
    },
    async stop(reason = "master shutting down") {
      stopEndingRevokedSessions();
      // Controls first: their commands end with the master's reason, not with their slaves' loss.
      const all = [...sessions.values()];
      for (const session of all.filter((session) => session.slave === null)) session.end(reason);
      for (const session of all.filter((session) => session.slave !== null)) session.end(reason);
      for (const peer of peers) peer.end(reason);
      await federation?.stop();
      await app.close();
      await history.flushed();
    },
  };
}

/**
 * A socket error has already closed the socket, or started to (an oversize
 * frame: ws sends a 1009 close and waits for the peer's), and PeerConnection
 * logs it. The plugin's default would reset the socket at once, and the reset
 * overtakes the close frame, so the peer saw 1006 instead of 1009. A handler
 * that threw leaves the socket open: that one is cut.
 */
function closeOnlyIfStillOpen(_error: Error, socket: WebSocket): void {
  if (socket.readyState === socket.OPEN) socket.terminate();
}
