/**
 * Where the federation keeps things in NATS. A slave's name may hold any
 * character, and NATS subjects and keys allow few, so names appear there in
 * base64url.
 */

/** The JetStream key-value bucket of the shared registry. */
export const FLEET_BUCKET = "olympus_fleet";

export function encodeName(name: string): string {
  return Buffer.from(name).toString("base64url");
}

export function decodeName(encoded: string): string {
  return Buffer.from(encoded, "base64url").toString();
}

/** The key of a slave's entry in the bucket. */
export function slaveKey(name: string): string {
  return `slave.${encodeName(name)}`;
}

/** The key of a master's lease in the bucket. */
export function masterKey(masterId: string): string {
  return `master.${masterId}`;
}

/** The key that marks a token (by its id) revoked fleet-wide. */
export function revokedTokenKey(id: string): string {
  return `revoked.${id}`;
}

/**
 * Frames from other masters to the master a slave is connected to:
 * `olympus.slave.<name>.<master id>.<tunnel>`. The master is named too, so
 * that frames for a master that died never reach the one the slave moved to.
 */
export function toSlaveSubject(name: string, masterId: string, tunnel: string): string {
  return `olympus.slave.${encodeName(name)}.${masterId}.${tunnel}`;
}

export function toSlaveWildcard(name: string, masterId: string): string {
  return `olympus.slave.${encodeName(name)}.${masterId}.>`;
}

/** Frames back to the master that opened the tunnel; a tunnel is `<master id>.<n>`. */
export function tunnelSubject(tunnel: string): string {
  return `olympus.tunnel.${tunnel}`;
}

/** The tunnel named at the end of a `toSlaveSubject`. */
export function tunnelOf(subject: string): string {
  return subject.split(".").slice(4).join(".");
}

/** The master that opened a tunnel. */
export function tunnelOwner(tunnel: string): string {
  return tunnel.split(".")[0] as string;
}
