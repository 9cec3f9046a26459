/** A frame larger than this gets `close {reason}`: the protocol's own limit. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Past this the WebSocket layer cuts the connection (status 1009) before buffering it all. */
export const MAX_WEBSOCKET_PAYLOAD_BYTES = 4 * MAX_FRAME_BYTES;
/** A peer must complete the handshake within this time. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Requests from one peer being handled at once; past it they get an error response. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 1024;
/** New connections one address may open per minute. */
export const DEFAULT_HANDSHAKES_PER_MINUTE = 1200;
/** Bytes the master holds unsent for one peer; past it the peer is closed as too slow. */
export const MAX_UNSENT_BYTES_PER_PEER = 16 * 1024 * 1024;
/** Seconds between heartbeats (as milliseconds); a peer silent for twice this is dropped. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/** How long a session whose socket dropped waits for the peer to resume it. */
/** A Wi-Fi drop or a VPN reconnect of up to a minute loses nothing. */
export const DEFAULT_SESSION_TIMEOUT_MS = 60_000;
