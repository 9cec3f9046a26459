import type { FastifyInstance, onRequestAsyncHookHandler } from "fastify";
import { PROTOCOL_VERSION } from "../shared/version.js";
import type { Authenticator } from "./auth.js";
import { countControls, type PeerConnection } from "./peer-connection.js";
import type { SlaveRegistry } from "./registry.js";

export interface HttpApiOptions {
  auth: Authenticator;
  registry: SlaveRegistry;
  peers: Set<PeerConnection>;
}

/** An `onRequest` hook that answers 401 unless the request carries a control's token (viewer is enough); for every HTTP route but the dashboard's page. */
export function requireBearer(auth: Authenticator): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const refusal = await auth.refuseBearer(request.headers.authorization);
    if (refusal !== null) return reply.code(401).send({ error: refusal });
  };
}

/** `GET /api/health`, open to probes and load balancers (its details behind a bearer token), and `GET /api/slaves`, behind one. */
export async function httpApi(app: FastifyInstance, { auth, registry, peers }: HttpApiOptions): Promise<void> {
  app.get("/api/health", async (request) => {
    if ((await auth.refuseBearer(request.headers.authorization)) !== null) return { status: "ok" };
    return {
      status: "ok",
      version: PROTOCOL_VERSION,
      slaves: registry.size,
      controls: countControls(peers),
      uptime_s: Math.round(process.uptime()),
    };
  });

  app.get("/api/slaves", { onRequest: requireBearer(auth) }, async () => ({ slaves: registry.list() }));
}
