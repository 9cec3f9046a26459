import type { FastifyInstance } from "fastify";
import { PROTOCOL_VERSION } from "../shared/version.js";
import type { TokenAuth } from "./auth.js";
import type { PeerConnection } from "./peer-connection.js";
import type { SlaveRegistry } from "./registry.js";

export interface HttpApiOptions {
  auth: TokenAuth;
  registry: SlaveRegistry;
  peers: Set<PeerConnection>;
}

/** `GET /api/health` and `GET /api/slaves`, both behind the bearer token. */
export async function httpApi(app: FastifyInstance, { auth, registry, peers }: HttpApiOptions): Promise<void> {
  app.addHook("onRequest", async (request, reply) => {
    if (!auth.acceptsBearer(request.headers.authorization)) {
      return reply.code(401).send({ error: "missing or bad bearer token" });
    }
  });

  app.get("/api/health", async () => {
    let controls = 0;
    for (const peer of peers) if (peer.role === "control") controls++;
    return { status: "ok", version: PROTOCOL_VERSION, slaves: registry.size, controls, uptime_s: Math.round(process.uptime()) };
  });

  app.get("/api/slaves", async () => ({ slaves: registry.list() }));
}
