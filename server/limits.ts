/** The master's own defaults and bounds; the protocol's limits are in shared/protocol/limits.ts. */
/** New connections one address may open per minute. */
export const DEFAULT_HANDSHAKES_PER_MINUTE = 1200;
/** Bytes the master holds unsent for one peer; past it the peer is closed as too slow. */
export const MAX_UNSENT_BYTES_PER_PEER = 16 * 1024 * 1024;
/** Seconds between heartbeats (as milliseconds); a peer silent for twice this is dropped. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/** How long a session whose socket dropped waits for the peer to resume it: a Wi-Fi drop or a VPN reconnect of up to a minute loses nothing. */
export const DEFAULT_SESSION_TIMEOUT_MS = 60_000;
