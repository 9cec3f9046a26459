/** Bytes of a command's output, or input, sent and not yet acknowledged; past it the sender waits (an SSH-style window). */
export const COMMAND_WINDOW_BYTES = 256 * 1024;
/** A frame larger than this gets `close {reason}`: the protocol's own limit. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/** Past this the WebSocket layer cuts the connection (status 1009) before buffering it all. */
export const MAX_WEBSOCKET_PAYLOAD_BYTES = 4 * MAX_FRAME_BYTES;
/** A peer must complete the handshake within this time. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Requests from one peer being handled at once; past it they get an error response. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 1024;
