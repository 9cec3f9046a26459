/**
 * The dashboard's connection to the master: a control session on
 * /api/socket as docs/protocol.md describes it (hello → register_control →
 * ready, then requests and events), opened again with backoff whenever it
 * drops, until the master refuses the token.
 */

const AGENT = "Olympus dashboard";
/** Waits before each new attempt; the last one repeats. */
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000];

/** The master's WebSocket endpoint on the origin that served this page. */
export function socketUrl(location) {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/socket`;
}

export class ControlSession {
  #socket = null;
  #seq = 0;
  #pending = new Map();
  #failures = 0;

  /**
   * handlers.ready()           registered: (re)load the state with requests
   * handlers.event(type, data) a `*_event` frame from the master
   * handlers.down(text)        the session dropped; another attempt follows
   * handlers.refused(reason)   the master refused the token; no retry
   */
  constructor(url, token, handlers) {
    this.url = url;
    this.token = token;
    this.handlers = handlers;
  }

  open() {
    const socket = new WebSocket(this.url);
    let closeReason = null;
    this.#socket = socket;
    this.#seq = 0;
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "close") closeReason = frame.data.reason;
      else this.#receive(frame);
    };
    socket.onclose = () => this.#lost(closeReason);
  }

  /** Sends `<name>_request` and resolves with the response's data; an error response rejects. */
  request(name, data = {}) {
    return new Promise((resolve, reject) => {
      const seq = this.#send(`${name}_request`, data);
      this.#pending.set(seq, { resolve, reject });
    });
  }

  #send(type, data) {
    this.#seq += 1;
    this.#socket.send(JSON.stringify({ seq: this.#seq, type, data }));
    return this.#seq;
  }

  #receive(frame) {
    const { type, data } = frame;
    if (type === "hello") {
      // The page comes from this master, so its protocol version is ours.
      this.#send("register_control", { agent: AGENT, version: data.version, token: this.token });
    } else if (type === "ready") {
      this.#failures = 0;
      this.handlers.ready();
    } else if (type.endsWith("_response")) {
      const waiting = this.#pending.get(data.seq);
      this.#pending.delete(data.seq);
      if (typeof data.error === "string") waiting?.reject(new Error(data.error));
      else waiting?.resolve(data);
    } else if (type.endsWith("_event")) {
      this.handlers.event(type, data);
    } else if (type.endsWith("_request")) {
      this.#send(type.replace(/_request$/, "_response"), {
        seq: frame.seq,
        error: `${type} is not handled by the dashboard`,
      });
    }
  }

  #lost(closeReason) {
    for (const waiting of this.#pending.values()) waiting.reject(new Error("connection lost"));
    this.#pending.clear();
    // Every token refusal ("bad token", "bad token: \"ci\" was revoked", ...) is final.
    if (closeReason?.startsWith("bad token")) return this.handlers.refused(closeReason);
    const delay = RETRY_DELAYS_MS[Math.min(this.#failures, RETRY_DELAYS_MS.length - 1)];
    this.#failures += 1;
    this.handlers.down(`${closeReason ?? "connection lost"}; retrying in ${delay / 1000} s`);
    setTimeout(() => this.open(), delay);
  }
}
