import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** The shared-token check. Hashing first makes the comparison constant-time whatever the lengths. */
export class TokenAuth {
  private readonly digest: Buffer;

  constructor(readonly token: string) {
    this.digest = sha256(token);
  }

  static generate(): TokenAuth {
    return new TokenAuth(randomBytes(24).toString("base64url"));
  }

  accepts(candidate: string): boolean {
    return timingSafeEqual(this.digest, sha256(candidate));
  }

  /** Checks an HTTP `Authorization: Bearer <token>` header. */
  acceptsBearer(header: string | undefined): boolean {
    const match = /^Bearer (.+)$/.exec(header ?? "");
    return match !== null && this.accepts(match[1] as string);
  }
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
