import { createHash, timingSafeEqual } from "node:crypto";
import type { onRequestAsyncHookHandler } from "fastify";
import type { Logger } from "../../shared/runtime/log.js";
import { mayRegisterAs } from "./roles.js";
import { type Credential, type TokenEntry, TokenRefusedError, type TokenStore } from "./tokens.js";

/**
 * Who may in: holders of a token signed by the store, and holders of the
 * master's shared `--token` if it was given one, which counts as an admin
 * token (so it registers as anything).
 */
export class Authenticator {
  private readonly sharedDigest: Buffer | null;
  /** Tokens revoked on another master of a federation (by id, with their names): refused here too. */
  private readonly revokedElsewhere = new Map<string, string>();
  private readonly revocationListeners = new Set<() => void>();

  constructor(
    readonly store: TokenStore,
    sharedToken?: string,
  ) {
    this.sharedDigest = sharedToken === undefined ? null : sha256(sharedToken);
  }

  /** The credential `token` stands for if it may register as `peer`; TokenRefusedError says why not. */
  async admit(token: string, peer: "slave" | "control"): Promise<Credential> {
    const credential = await this.identify(token);
    if (!mayRegisterAs(credential.role, peer))
      throw new TokenRefusedError(`bad token: a ${credential.role} token may not register as a ${peer}`);
    return credential;
  }

  /** Another master revoked the token with this id: it is refused here as well, and its sessions end. */
  revokedOnAnotherMaster(id: string, name: string): void {
    if (this.revokedElsewhere.has(id)) return;
    this.revokedElsewhere.set(id, name);
    for (const listener of this.revocationListeners) listener();
  }

  /** For the HTTP routes: `Authorization: Bearer <a control's token>` (viewer is enough). Returns the refusal, or null. */
  async refuseBearer(header: string | undefined): Promise<string | null> {
    const match = /^Bearer (.+)$/.exec(header ?? "");
    if (match === null) return "missing bearer token";
    try {
      await this.admit(match[1] as string, "control");
      return null;
    } catch (error) {
      if (error instanceof TokenRefusedError) return error.message;
      throw error;
    }
  }

  /**
   * Whenever the token list changes, ends each session whose token is no
   * longer in force, attached or waiting for a resume. Returns a stop function.
   */
  endRevokedSessions(
    sessions: () => Iterable<{ credential: Credential | null; end(reason: string): void }>,
    log: Logger,
  ): () => void {
    const endRevoked = (entries: TokenEntry[]) => {
      for (const session of [...sessions()]) {
        const id = session.credential?.entry?.id;
        const refusal = id === undefined ? null : this.refusal(id, entries);
        if (refusal === null) continue;
        log(`ending a session: ${refusal}`);
        session.end(refusal);
      }
    };
    const onError = (error: Error) => log(`cannot read the token list: ${error.message}`);
    const onRevokedElsewhere = () => {
      try {
        endRevoked(this.store.list());
      } catch (error) {
        onError(error as Error);
      }
    };
    this.revocationListeners.add(onRevokedElsewhere);
    const stopWatching = this.store.watch(endRevoked, onError);
    return () => {
      stopWatching();
      this.revocationListeners.delete(onRevokedElsewhere);
    };
  }

  private refusal(id: string, entries: TokenEntry[]): string | null {
    return this.refusedElsewhere(id) ?? this.store.refusal(id, entries);
  }

  private refusedElsewhere(id: string): string | null {
    const name = this.revokedElsewhere.get(id);
    return name === undefined ? null : `bad token: ${JSON.stringify(name)} was revoked`;
  }

  private async identify(token: string): Promise<Credential> {
    // Hashing first makes the comparison constant-time whatever the lengths.
    if (this.sharedDigest !== null && timingSafeEqual(this.sharedDigest, sha256(token)))
      return { role: "admin", entry: null };
    const credential = await this.store.verify(token);
    const refusal = credential.entry === null ? null : this.refusedElsewhere(credential.entry.id);
    if (refusal !== null) throw new TokenRefusedError(refusal);
    return credential;
  }
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The admin token a local master writes to .olympus/master.json; each start's replaces (and so retires) the last. */
export async function issueLocalAdminToken(store: TokenStore): Promise<string> {
  return (await store.create({ role: "admin", name: "local-admin", replace: true })).token;
}

/** An `onRequest` hook that answers 401 unless the request carries a control's token (viewer is enough); for every HTTP route but the dashboard's page. */
export function requireBearer(auth: Authenticator): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const refusal = await auth.refuseBearer(request.headers.authorization);
    if (refusal !== null) return reply.code(401).send({ error: refusal });
  };
}
