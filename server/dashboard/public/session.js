/**
 * The dashboard's connection to the master: a control session on
 * /api/socket as docs/protocol.md describes it (hello → register_control →
 * ready, then requests and events). It heartbeats and keeps what it sent
 * until the master acknowledges it, so a dropped socket is resumed with
 * nothing lost, as the CLI's session is; a session the master no longer
 * knows is registered anew. It stops only when the master refuses the token.
 * Commands' bytes travel as binary frames (./binary-frame.js).
 */
import { BINARY_FRAMES, decodeBinaryFrame, encodeBinaryFrame } from "./binary-frame.js";

const AGENT = "Olympus dashboard";
/** Waits before each new registration attempt; the last one repeats. */
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
/** How soon a lost socket is resumed; doubled per failure up to a second, as the CLI does. */
const FIRST_RESUME_RETRY_MS = 100;
const MAX_RESUME_RETRY_MS = 1000;
/** Acknowledge at least this often under heavy output, as shared/protocol/heartbeat.ts does. */
const ACKNOWLEDGE_EVERY_BYTES = 1024 * 1024;
const ACKNOWLEDGE_EVERY_FRAMES = 1024;

/** The master's WebSocket endpoint on the origin that served this page. */
export function socketUrl(location) {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/api/socket`;
}

export class ControlSession {
  #socket = null;
  /** A socket carries the session: numbered frames go out now, else they wait in #kept. */
  #attached = false;
  #nextSeq = 1;
  #lastReceived = 0;
  /** Numbered frames sent and not yet acknowledged, oldest first: [seq, text or binary frame]. */
  #kept = [];
  #pending = new Map();
  #sessionToken = null;
  #heartbeatMs = 0;
  #sessionTimeoutMs = 0;
  #resumeDeadline = 0;
  #ticker = null;
  #watchdog = null;
  #framesSinceBeat = 0;
  #bytesSinceBeat = 0;
  #failures = 0;
  #stopped = false;
  /** The master's protocol version, from its `hello`: the page comes from this master, so it is ours. */
  #version = null;

  /**
   * handlers.ready(identity)   registered anew ({role, token_name}): (re)load the state with requests
   * handlers.resumed()         the same session continues on a new socket; nothing was lost
   * handlers.event(type, data) a `*_event` frame from the master
   * handlers.bytes(frame)      a command's bytes ({commandId, stream, payload}), from a binary frame
   * handlers.down(text)        the socket dropped; another attempt follows
   * handlers.lost(reason)      the session is gone (what it had running is lost); a new one follows
   * handlers.refused(reason)   the master refused the token; no retry
   */
  constructor(url, token, handlers) {
    this.url = url;
    this.token = token;
    this.handlers = handlers;
  }

  open() {
    const socket = new WebSocket(this.url);
    socket.binaryType = "arraybuffer";
    let closeReason = null;
    this.#socket = socket;
    socket.onmessage = (message) => {
      if (socket !== this.#socket) return;
      if (typeof message.data !== "string") return this.#receiveBytes(message.data);
      const frame = JSON.parse(message.data);
      if (frame.type === "close") closeReason = frame.data.reason;
      else this.#receive(frame, message.data.length);
    };
    socket.onclose = () => {
      if (socket === this.#socket) this.#lost(closeReason);
    };
  }

  /** Ends the session for good (sign-out): the master hangs up whatever it ran for us. */
  stop(reason) {
    this.#stopped = true;
    this.#stopHeartbeat();
    if (this.#socket?.readyState === WebSocket.OPEN) this.#sendUnnumbered("close", { reason });
    this.#socket?.close(1000);
    this.#socket = null;
  }

  /** Sends `<name>_request` and resolves with the response's data; an error response rejects. */
  request(name, data = {}) {
    return new Promise((resolve, reject) => {
      const seq = this.#send(`${name}_request`, data);
      this.#pending.set(seq, { resolve, reject });
    });
  }

  /** Sends `<name>_event`; kept until acknowledged, so a drop does not lose it. */
  event(name, data) {
    this.#send(`${name}_event`, data);
  }

  /** Sends a command's input as one binary frame; kept until acknowledged, as every numbered frame is. */
  input(commandId, bytes) {
    this.#keepAndSend((seq) => encodeBinaryFrame(seq, "stdin", commandId, bytes));
  }

  #send(type, data) {
    return this.#keepAndSend((seq) => JSON.stringify({ seq, type, data }));
  }

  /** Numbers a frame (text, or binary) made by `encode(seq)`, keeps it, and sends it if a socket carries the session. */
  #keepAndSend(encode) {
    const seq = this.#nextSeq++;
    const frame = encode(seq);
    this.#kept.push([seq, frame]);
    if (this.#attached) this.#socket.send(frame);
    return seq;
  }

  #sendUnnumbered(type, data) {
    this.#socket.send(JSON.stringify({ seq: null, type, data }));
  }

  #receive(frame, bytes) {
    const { seq, type, data } = frame;
    if (typeof seq === "number" && !this.#isNew(seq, bytes)) return;
    if (type === "hello") this.#hello(data.version);
    else if (type === "ready") this.#ready(data);
    else if (type === "continue") this.#continue(data.last_seq);
    else if (type === "invalidate") this.#invalidated("the master no longer knows this session");
    else if (type === "heartbeat") this.#acknowledged(data.last_seq);
    else if (type.endsWith("_response")) {
      const waiting = this.#pending.get(data.seq);
      this.#pending.delete(data.seq);
      if (typeof data.error === "string") waiting?.reject(new Error(data.error));
      else waiting?.resolve(data);
    } else if (type.endsWith("_event")) {
      this.handlers.event(type, data);
    } else if (type.endsWith("_request")) {
      this.#send(type.replace(/_request$/, "_response"), { seq, error: `${type} is not handled by the dashboard` });
    }
  }

  /** The master sends only well-formed frames; one that is not is a bug to see in the console, not to act on. */
  #receiveBytes(buffer) {
    const frame = decodeBinaryFrame(buffer);
    if (this.#isNew(frame.seq, buffer.byteLength)) this.handlers.bytes(frame);
  }

  /** Counts a numbered frame in; false when it was sent again after a resume and is already handled. */
  #isNew(seq, bytes) {
    if (seq <= this.#lastReceived) return false;
    this.#lastReceived = seq;
    this.#bytesSinceBeat += bytes;
    if (++this.#framesSinceBeat >= ACKNOWLEDGE_EVERY_FRAMES || this.#bytesSinceBeat >= ACKNOWLEDGE_EVERY_BYTES)
      this.#beat();
    return true;
  }

  #hello(version) {
    this.#version = version;
    if (this.#sessionToken !== null) {
      this.#sendUnnumbered("resume", { session_token: this.#sessionToken, last_seq: this.#lastReceived });
      return;
    }
    this.#register();
  }

  /** A new session: numbering starts again, and nothing of the last one is sent. */
  #register() {
    this.#nextSeq = 1;
    this.#lastReceived = 0;
    this.#kept = [];
    this.#attached = true;
    // The page comes from this master, which offers binary frames to every control.
    const extensions = [BINARY_FRAMES];
    this.#send("register_control", { agent: AGENT, version: this.#version, token: this.token, extensions });
  }

  #ready(data) {
    this.#failures = 0;
    this.#resumeDeadline = 0;
    this.#sessionToken = data.session_token ?? null;
    this.#heartbeatMs = (data.heartbeat_interval ?? 0) * 1000;
    this.#sessionTimeoutMs = (data.session_timeout ?? 0) * 1000;
    this.#startHeartbeat();
    this.handlers.ready({ role: data.role ?? "viewer", token_name: data.token_name ?? null });
  }

  #continue(masterLastSeq) {
    this.#acknowledged(masterLastSeq);
    this.#attached = true;
    for (const [, frame] of this.#kept) this.#socket.send(frame);
    this.#resumeDeadline = 0;
    this.#failures = 0;
    this.#startHeartbeat();
    this.handlers.resumed();
  }

  /** The session is gone; register anew, on this socket if it is open. */
  #invalidated(reason) {
    this.#sessionToken = null;
    this.#stopHeartbeat();
    for (const waiting of this.#pending.values()) waiting.reject(new Error(reason));
    this.#pending.clear();
    this.handlers.lost(reason);
    if (this.#socket?.readyState === WebSocket.OPEN) this.#register();
  }

  #acknowledged(lastSeq) {
    let count = 0;
    while (count < this.#kept.length && this.#kept[count][0] <= lastSeq) count++;
    if (count > 0) this.#kept.splice(0, count);
    this.#armWatchdog();
  }

  #startHeartbeat() {
    this.#stopHeartbeat();
    if (this.#heartbeatMs === 0) return;
    this.#ticker = setInterval(() => this.#beat(), this.#heartbeatMs);
    // The first beat at once, before any request, so the master keeps our frames for a resume.
    this.#beat();
    this.#armWatchdog();
  }

  #stopHeartbeat() {
    clearInterval(this.#ticker);
    clearTimeout(this.#watchdog);
    this.#ticker = this.#watchdog = null;
  }

  #beat() {
    this.#framesSinceBeat = this.#bytesSinceBeat = 0;
    if (this.#socket?.readyState === WebSocket.OPEN)
      this.#sendUnnumbered("heartbeat", { last_seq: this.#lastReceived });
  }

  /**
   * A master silent for two intervals is behind a cut network: resume on a
   * new socket at once. The old one is left to close in its own time (a
   * browser waits for the peer's answer to a close), and is ignored from now.
   */
  #armWatchdog() {
    if (this.#ticker === null) return;
    clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(() => {
      const silent = this.#socket;
      this.#lost(null);
      silent?.close();
    }, 2 * this.#heartbeatMs);
  }

  #lost(closeReason) {
    this.#attached = false;
    this.#socket = null;
    this.#stopHeartbeat();
    if (this.#stopped) return;
    // Every token refusal ("bad token", "bad token: \"ci\" was revoked", ...) is final.
    if (closeReason?.startsWith("bad token")) {
      this.#sessionToken = null;
      return this.handlers.refused(closeReason);
    }
    if (this.#sessionToken !== null && closeReason === null) return this.#resumeLater();
    if (this.#sessionToken !== null) this.#invalidated(`the master closed the session: ${closeReason}`);
    const delay = RETRY_DELAYS_MS[Math.min(this.#failures, RETRY_DELAYS_MS.length - 1)];
    this.#failures += 1;
    this.handlers.down(`${closeReason ?? "connection lost"}; retrying in ${delay / 1000} s`);
    setTimeout(() => this.open(), delay);
  }

  /** Within the session timeout the master still holds the session: come back quickly, then resume. */
  #resumeLater() {
    const now = Date.now();
    if (this.#resumeDeadline === 0) this.#resumeDeadline = now + this.#sessionTimeoutMs;
    if (now >= this.#resumeDeadline) {
      this.#invalidated("the connection was lost and not resumed in time");
      return this.#lost("not resumed in time");
    }
    const delay = Math.min(MAX_RESUME_RETRY_MS, FIRST_RESUME_RETRY_MS * 2 ** this.#failures++);
    const left = Math.round((this.#resumeDeadline - now) / 1000);
    this.handlers.down(`connection lost, resuming (up to ${left} s)`);
    setTimeout(() => this.open(), delay);
  }
}
