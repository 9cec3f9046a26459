/** The peer broke the protocol; the session must end with `close {reason}`. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** A request was answered with an error response. */
export class RequestError extends Error {
  override name = "RequestError";
}

/** A request got no response within its timeout. */
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";
}

/** The link closed while a request was waiting for its response. */
export class LinkClosedError extends Error {
  override name = "LinkClosedError";
}
