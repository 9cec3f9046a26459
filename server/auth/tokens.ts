import { randomBytes, randomUUID } from "node:crypto";
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  unwatchFile,
  watchFile,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeJwt, errors, jwtVerify, SignJWT } from "jose";
import * as z from "../../shared/protocol/zod.js";
import { type TokenRole, tokenRoles } from "./roles.js";

/** Where a master keeps its state, in its working directory: master.json, secret, tokens.json. */
export const STATE_DIRECTORY = ".olympus";

const ISSUER = "olympus";
const SECRET_BYTES = 32;
const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** A change holds the list's lock for milliseconds: a lock this old was left by a process that died holding it. */
const STALE_LOCK_MS = 5_000;

const entrySchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(tokenRoles),
  created_at: z.string(),
  expires_at: z.nullable(z.string()),
  revoked_at: z.nullable(z.string()),
});
export type TokenEntry = z.infer<typeof entrySchema>;
const listSchema = z.object({ tokens: z.array(entrySchema) });

/** Who presented a token: its role, and the store's entry (null for a master's shared `--token`, which never expires). */
export interface Credential {
  role: TokenRole;
  entry: TokenEntry | null;
}

/** Why a token past its expiry is refused, and the sessions it opened are ended. */
export function expiredRefusal(name: unknown): string {
  return `bad token: ${JSON.stringify(name)} expired`;
}

/** A token the master refuses; the message says why and is the close reason. */
export class TokenRefusedError extends Error {
  override name = "TokenRefusedError";
}

/**
 * Signed tokens (JWT, HS256) and the list of those issued. The secret and the
 * list live in a directory, each file readable by its owner only. The list is
 * the authority: a token is good while its signature is, its `jti` names an
 * entry here that is not revoked, and it has not expired. It is read afresh
 * each time a token is presented, so `olympus token revoke` acts at once.
 */
export class TokenStore {
  private readonly listPath: string;
  private secret: Uint8Array | null = null;

  constructor(readonly directory: string) {
    this.listPath = join(directory, "tokens.json");
  }

  /** Read, or made, the first time a token is signed or checked: listing or revoking needs none. */
  private get key(): Uint8Array {
    this.secret ??= loadOrCreateSecret(join(this.directory, "secret"));
    return this.secret;
  }

  list(): TokenEntry[] {
    let text: string;
    try {
      text = readFileSync(this.listPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    try {
      return listSchema.parse(JSON.parse(text)).tokens;
    } catch (error) {
      const reason = error instanceof z.core.$ZodError ? error.issues[0]?.message : (error as Error).message;
      throw new Error(`${this.listPath} is not a valid token list: ${reason}`);
    }
  }

  /**
   * Signs a new token and adds it to the list. `expiresIn` is a span such as
   * "12h" or "30d". With `replace`, an older token of the same name is dropped
   * (and stops working) instead of being an error.
   */
  async create(options: {
    role: TokenRole;
    name?: string;
    expiresIn?: string;
    replace?: boolean;
  }): Promise<{ token: string; entry: TokenEntry }> {
    const id = randomUUID();
    const name = options.name ?? `${options.role}-${id.slice(0, 8)}`;
    if (!NAME_PATTERN.test(name))
      throw new Error(`token name ${JSON.stringify(name)} must be 1 to 64 letters, digits, '.', '_' or '-'`);
    return this.locked(async () => {
      let entries = this.list();
      if (options.replace) entries = entries.filter((entry) => entry.name !== name);
      else if (entries.some((entry) => entry.name === name))
        throw new Error(`a token named ${JSON.stringify(name)} exists already`);

      const jwt = new SignJWT({ role: options.role })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(ISSUER)
        .setSubject(name)
        .setJti(id)
        .setIssuedAt();
      if (options.expiresIn !== undefined) {
        try {
          jwt.setExpirationTime(options.expiresIn);
        } catch {
          throw new Error(`expiry ${JSON.stringify(options.expiresIn)} is not a time span such as 90m, 12h or 30d`);
        }
      }
      const token = await jwt.sign(this.key);
      const { iat, exp } = decodeJwt(token);
      const entry: TokenEntry = {
        id,
        name,
        role: options.role,
        created_at: new Date((iat as number) * 1000).toISOString(),
        expires_at: exp === undefined ? null : new Date(exp * 1000).toISOString(),
        revoked_at: null,
      };
      this.write([...entries, entry]);
      return { token, entry };
    });
  }

  /** Marks the named token revoked; returns its entry as it was before. */
  revoke(name: string): Promise<TokenEntry> {
    return this.locked(() => {
      const entries = this.list();
      const entry = entries.find((candidate) => candidate.name === name);
      if (entry === undefined) throw new Error(`no token named ${JSON.stringify(name)}`);
      if (entry.revoked_at === null)
        this.write(
          entries.map((candidate) =>
            candidate === entry ? { ...entry, revoked_at: new Date().toISOString() } : candidate,
          ),
        );
      return entry;
    });
  }

  /** The credential a token stands for; TokenRefusedError says why when there is none. */
  async verify(token: string): Promise<Credential> {
    let id: string | undefined;
    try {
      ({
        payload: { jti: id },
      } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ["HS256"] }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new TokenRefusedError(expiredRefusal(error.payload.sub));
      throw new TokenRefusedError("bad token");
    }
    const entries = this.list();
    const refusal = this.refusal(id ?? "", entries);
    if (refusal !== null) throw new TokenRefusedError(refusal);
    const entry = entries.find((candidate) => candidate.id === id) as TokenEntry;
    return { role: entry.role, entry };
  }

  /** Why the token with this id is not in force (revoked, or gone from the list), or null while it is. */
  refusal(id: string, entries = this.list()): string | null {
    const entry = entries.find((candidate) => candidate.id === id);
    if (entry === undefined) return "bad token: it is not in the master's token list";
    if (entry.revoked_at !== null) return `bad token: ${JSON.stringify(entry.name)} was revoked`;
    return null;
  }

  /** Calls `onChange` with the list whenever its file changes (polled, since it is replaced by rename). Returns a stop function. */
  watch(onChange: (entries: TokenEntry[]) => void, onError: (error: Error) => void, intervalMs = 250): () => void {
    const listener = () => {
      let entries: TokenEntry[];
      try {
        entries = this.list();
      } catch (error) {
        return onError(error as Error);
      }
      onChange(entries);
    };
    watchFile(this.listPath, { interval: intervalMs, persistent: false }, listener);
    return () => unwatchFile(this.listPath, listener);
  }

  /**
   * Runs `change` (which reads the list, then writes it) holding
   * tokens.json.lock, created with O_EXCL, so that `olympus token` commands
   * and a starting master change the list one at a time: two that both read
   * it and then wrote it would lose one's entry.
   */
  private async locked<T>(change: () => T | Promise<T>): Promise<T> {
    const lock = `${this.listPath}.lock`;
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    const deadline = Date.now() + 2 * STALE_LOCK_MS;
    for (;;) {
      try {
        closeSync(openSync(lock, "wx", 0o600));
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      if (Date.now() > deadline)
        throw new Error(`${lock} stays locked; remove it if no olympus token command is running`);
      if (isOlderThan(lock, STALE_LOCK_MS)) rmSync(lock, { force: true });
      else await sleep(5 + Math.random() * 20);
    }
    try {
      return await change();
    } finally {
      rmSync(lock, { force: true });
    }
  }

  /** Written aside, then renamed into place: a reader (the master) sees the old list or the new, never half of one. */
  private write(entries: TokenEntry[]): void {
    const temporary = `${this.listPath}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ tokens: entries }, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, this.listPath);
  }
}

/** False also when the file is gone (its holder just released it). */
function isOlderThan(path: string, ms: number): boolean {
  try {
    return statSync(path).mtimeMs < Date.now() - ms;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** Reads the secret, or creates it: written aside, then linked into place so two first starts agree on one. */
function loadOrCreateSecret(path: string): Uint8Array {
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  try {
    return readSecret(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${randomBytes(SECRET_BYTES).toString("base64url")}\n`, { mode: 0o600 });
  try {
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(temporary);
  }
  return readSecret(path);
}

function readSecret(path: string): Uint8Array {
  const text = readFileSync(path, "utf8");
  // Like ssh with its keys: a secret others can read is no secret.
  if ((statSync(path).mode & 0o077) !== 0)
    throw new Error(`${path} must be readable by its owner only: chmod 600 ${path}`);
  const key = Buffer.from(text.trim(), "base64url");
  if (key.length < SECRET_BYTES)
    throw new Error(`${path} holds no valid secret (expected ${SECRET_BYTES} bytes, base64url)`);
  return key;
}
