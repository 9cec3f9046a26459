import type { KV } from "@nats-io/kv";
import * as z from "../../shared/protocol/zod.js";
import type { Logger } from "../../shared/runtime/log.js";
import type { Authenticator } from "../auth/auth.js";
import type { TokenEntry } from "../auth/tokens.js";
import { parse } from "./fleet.js";
import { revokedTokenKey } from "./names.js";

const revocation = z.object({ name: z.string() });

/**
 * Token revocation, fleet-wide: a master that sees a token revoked in its
 * own list writes it to the bucket, and every master refuses it from then
 * on and ends its sessions. For masters whose token lists are copies (one
 * per host, the same secret); masters that share one directory see its list
 * change anyway.
 */
export async function shareRevocations(kv: KV, auth: Authenticator, log: Logger): Promise<() => void> {
  const shared = new Set<string>();
  const share = (entries: TokenEntry[]) => {
    for (const entry of entries) {
      if (entry.revoked_at === null || shared.has(entry.id)) continue;
      shared.add(entry.id);
      kv.put(revokedTokenKey(entry.id), JSON.stringify({ name: entry.name })).catch((error: Error) => {
        shared.delete(entry.id);
        log(`federation: cannot share the revocation of ${JSON.stringify(entry.name)}: ${error.message}`);
      });
    }
  };
  const onError = (error: Error) => log(`federation: cannot read the token list: ${error.message}`);
  try {
    share(auth.store.list());
  } catch (error) {
    onError(error as Error);
  }
  const stopWatching = auth.store.watch(share, onError);
  const watch = await kv.watch({ key: revokedTokenKey("*") });
  void (async () => {
    for await (const entry of watch) {
      const revoked = entry.operation === "PUT" ? parse(revocation, entry) : null;
      if (revoked !== null) auth.revokedOnAnotherMaster(entry.key.split(".")[1] as string, revoked.name);
    }
  })().catch((error: Error) => log(`federation: watching revocations failed: ${error.message}`));
  return () => {
    stopWatching();
    watch.stop();
  };
}
