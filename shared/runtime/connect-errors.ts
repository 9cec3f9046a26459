import { connect as tlsConnect } from "node:tls";

/** Why a connection failed before `ready`, said so that the user knows what to do; `refused` when retrying cannot help. */
export interface Diagnosis {
  message: string;
  refused: boolean;
}

/** Certificate checks that trusting the right CA fixes. */
const UNTRUSTED_CERTIFICATE = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
]);
/** Certificate errors --ca cannot fix. */
const BAD_CERTIFICATE: Record<string, string> = {
  ERR_TLS_CERT_ALTNAME_INVALID: "the master's certificate does not name this host",
  CERT_HAS_EXPIRED: "the master's certificate has expired",
  CERT_NOT_YET_VALID: "the master's certificate is not valid yet",
};

const PROBE_TIMEOUT_MS = 2000;

/** Turns a socket error before the upgrade into one line; a ws:// URL that met a TLS server is probed to say so. */
export async function diagnoseConnectError(url: string, error: NodeJS.ErrnoException): Promise<Diagnosis> {
  const prefix = `cannot connect to ${url}: ${error.message}`;
  const code = error.code ?? "";
  if (UNTRUSTED_CERTIFICATE.has(code))
    return { message: `${prefix} (trust the CA that signed the master's certificate with --ca FILE)`, refused: true };
  const bad = BAD_CERTIFICATE[code];
  if (bad !== undefined) return { message: `${prefix} (${bad})`, refused: true };
  const target = new URL(url);
  if (target.protocol === "ws:" && code === "ECONNRESET" && (await speaksTls(target))) {
    const secure = url.replace(/^ws:/, "wss:");
    return { message: `cannot connect to ${url}: the master speaks TLS; use ${secure}`, refused: true };
  }
  return { message: prefix, refused: false };
}

/** Whether the server at the URL's address answers a TLS handshake (its certificate unchecked: this only asks what it speaks). */
function speaksTls(target: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: target.hostname.replace(/^\[|\]$/g, ""),
      port: Number(target.port || 80),
      rejectUnauthorized: false,
    });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
    socket.once("secureConnect", () => done(true));
    socket.once("error", () => done(false));
  });
}
