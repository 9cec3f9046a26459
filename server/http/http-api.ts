import type { FastifyInstance } from "fastify";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.js";
import { type Authenticator, requireBearer } from "../auth/auth.js";
import { countControls, type PeerConnection } from "../sessions/peer-connection.js";
import type { SlaveRegistry } from "../sessions/registry.js";

export interface HttpApiOptions {
  auth: Authenticator;
  registry: SlaveRegistry;
  peers: Set<PeerConnection>;
  /** A federated master's NATS state, else undefined. */
  federation: () => object | undefined;
}

/** `GET /api/health`, open to probes and load balancers (its details behind a bearer token), and `GET /api/slaves`, behind one. */
export async function httpApi(
  app: FastifyInstance,
  { auth, registry, peers, federation }: HttpApiOptions,
): Promise<void> {
  app.get("/api/health", async (request) => {
    if ((await auth.refuseBearer(request.headers.authorization)) !== null) return { status: "ok" };
    return {
      status: "ok",
      version: PROTOCOL_VERSION,
      slaves: registry.size,
      controls: countControls(peers),
      uptime_s: Math.round(process.uptime()),
      federation: federation(),
    };
  });

  app.get("/api/slaves", { onRequest: requireBearer(auth) }, async () => ({ slaves: registry.list() }));
}
