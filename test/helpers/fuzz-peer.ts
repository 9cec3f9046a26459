/** A fuzzing peer of the master, and the workers that drive many of them at once. */
import WebSocket from "ws";
import { BINARY_FRAMES, decodeBinaryFrame } from "../../shared/protocol/binary-frame.js";
import { MAX_WEBSOCKET_PAYLOAD_BYTES } from "../../shared/protocol/limits.js";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.js";
import { TEST_TOKEN } from "./cluster.js";
import { anyFrame, batchFrame, type Candidate, type Random } from "./fuzz-frames.js";
import { type Outcome, type PeerKind, type Prediction, predict } from "./fuzz-oracle.js";
import { keepAlive } from "./raw-client.js";

/** How many frames a run sends; FUZZ_FRAMES sets it. */
export const FRAME_BUDGET = Number(process.env.FUZZ_FRAMES ?? 100_000);

export interface Findings {
  frames: number;
  connections: number;
  /** Connections that sent a frame the master must not survive. */
  badConnections: number;
  /** Unregistered connections, and how many of them registered validly (or resumed and were refused), then sent junk. */
  strangers: number;
  registeredThenJunk: number;
  responses: number;
  unknownRequestsAnswered: number;
  /** Connections the WebSocket layer closed (1009: a frame past its limit), with no close frame from the master. */
  webSocketCloses: Map<number, number>;
  /** Close reasons with digits and quoted parts folded, and how often each came. */
  reasons: Map<string, number>;
  problems: string[];
  /** Set when a worker failed: everyone stops, so the failure shows at once. */
  stopped: boolean;
}

const keepGoing = (findings: Findings) => !findings.stopped && findings.frames < FRAME_BUDGET;

/** Every connection still open, so a failed run can close them all. */
export const openPeers = new Set<FuzzPeer>();

/** Runs a worker; an exception in it (a bug here, or the master gone) stops the whole run. */
export async function guarded(findings: Findings, worker: Promise<unknown>): Promise<void> {
  try {
    await worker;
  } catch (error) {
    findings.problems.push(`a fuzz worker failed: ${(error as Error).stack ?? error}`);
    findings.stopped = true;
  }
}

/**
 * One WebSocket to the master: records its close, answers its requests,
 * sends heartbeats when `ready` asks for them, and awaits responses. Unlike
 * RawClient it numbers frames as the oracle predicts them and reports, rather
 * than throws on, whatever the master sends that it should not.
 */
class FuzzPeer {
  registered = false;
  /** Took the binary_frames extension at registration. */
  binaryFrames = false;
  /** A resume was answered with `invalidate`. */
  invalidated = false;
  /** `data.reason` of the master's close frame, if one came. */
  closeReason: unknown = undefined;
  wsClose: { code: number; reason: string } | null = null;
  /** The highest seq the master has from us (what the oracle needs), and the highest we have from it. */
  lastSeq = 0;
  private lastFromMaster = 0;
  private heartbeats: NodeJS.Timeout | null = null;
  private readonly awaited = new Map<number, { responseType: string; label: string; unknownType: boolean }>();
  private wake: (() => void) | null = null;

  private constructor(
    readonly socket: WebSocket,
    private readonly findings: Findings,
  ) {
    socket.on("message", (payload: Buffer, isBinary) => {
      if (isBinary) this.onBinary(payload);
      else this.onMessage(payload.toString());
      this.wake?.();
    });
    openPeers.add(this);
    socket.on("close", (code, reason) => {
      openPeers.delete(this);
      if (this.heartbeats !== null) clearInterval(this.heartbeats);
      this.wsClose = { code, reason: reason.toString() };
      this.wake?.();
    });
    socket.on("error", () => {}); // the close that follows says enough
  }

  static async open(url: string, findings: Findings): Promise<FuzzPeer> {
    const peer = new FuzzPeer(new WebSocket(url), findings);
    findings.connections++;
    await new Promise<void>((resolve, reject) => {
      peer.socket.once("open", () => resolve());
      peer.socket.once("error", reject);
    });
    return peer;
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  get waitingFor(): number {
    return this.awaited.size;
  }

  /** Command bytes: only for a peer that took them, and always well-formed. */
  private onBinary(payload: Buffer): void {
    if (!this.binaryFrames) return void this.findings.problems.push("the master sent a binary frame unasked");
    try {
      this.lastFromMaster = Math.max(this.lastFromMaster, decodeBinaryFrame(payload).seq);
    } catch (error) {
      this.findings.problems.push(`the master sent a malformed binary frame: ${(error as Error).message}`);
    }
  }

  private onMessage(text: string): void {
    let frame: { seq?: number; type: string; data: Record<string, unknown> };
    try {
      frame = JSON.parse(text);
    } catch {
      this.findings.problems.push(`the master sent a frame that is not JSON: ${text.slice(0, 100)}`);
      return;
    }
    if (typeof frame.seq === "number") this.lastFromMaster = Math.max(this.lastFromMaster, frame.seq);
    if (frame.type === "close") this.closeReason = frame.data?.reason;
    else if (frame.type === "ready") this.onReady(frame.data);
    else if (frame.type === "invalidate") this.invalidated = true;
    else if (frame.type.endsWith("_request")) {
      // Answer at once, so no control's forwarded request waits on a fuzz slave.
      const type = frame.type.replace(/_request$/, "_response");
      this.socket.send(
        JSON.stringify({
          seq: ++this.lastSeq,
          type,
          data: { seq: frame.seq, error: "a fuzz peer serves no requests" },
        }),
      );
    } else if (frame.type.endsWith("_response")) this.settle(frame.type, frame.data ?? {});
  }

  private onReady(data: Record<string, unknown>): void {
    this.registered = true;
    if (this.isOpen) this.heartbeats = keepAlive(this.socket, data, () => this.lastFromMaster);
  }

  /** Ends a session the master should have kept: `close {reason}`, then the socket. */
  async goodbye(): Promise<void> {
    if (this.isOpen)
      this.socket.send(JSON.stringify({ seq: ++this.lastSeq, type: "close", data: { reason: "fuzz run over" } }));
    this.socket.close();
    await this.until(() => this.wsClose !== null, 5000);
  }

  private settle(type: string, data: Record<string, unknown>): void {
    const awaited = this.awaited.get(data.seq as number);
    if (awaited === undefined) return;
    this.awaited.delete(data.seq as number);
    this.findings.responses++;
    if (type !== awaited.responseType)
      this.findings.problems.push(`${awaited.label}: answered by ${type}, expected ${awaited.responseType}`);
    if (!awaited.unknownType) return;
    if (typeof data.error === "string" && data.error !== "") this.findings.unknownRequestsAnswered++;
    else
      this.findings.problems.push(`${awaited.label}: a request of unknown type got no error: ${JSON.stringify(data)}`);
  }

  send(frame: Candidate): void {
    this.findings.frames++;
    this.socket.send(frame.payload, { binary: frame.binary });
  }

  expect(outcome: Extract<Outcome, { kind: "answered" }>, label: string): boolean {
    if (this.awaited.has(outcome.seq)) return false;
    this.awaited.set(outcome.seq, { responseType: outcome.responseType, label, unknownType: outcome.unknownType });
    return true;
  }

  forgetAwaited(): void {
    this.awaited.clear();
  }

  /** Resolves true once `done()` holds, false after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return true;
  }

  async register(role: "slave" | "control", name: string, id: number, binaryFrames: boolean): Promise<void> {
    this.binaryFrames = binaryFrames;
    const extensions = binaryFrames ? { extensions: [BINARY_FRAMES] } : {};
    const common = { agent: "fuzz", version: PROTOCOL_VERSION, token: TEST_TOKEN, ...extensions };
    const data = role === "slave" ? { ...common, name, id } : common;
    this.send({
      payload: JSON.stringify({ seq: 1, type: `register_${role}`, data }),
      binary: false,
      label: "register",
    });
    this.lastSeq = 1;
    await this.until(() => this.registered || this.wsClose !== null, 10_000);
    if (!this.registered) throw new Error(`the master refused to register a ${role}: ${String(this.closeReason)}`);
  }

  /** After a frame the master must not survive: the connection must end, with a reason. */
  async expectClose(label: string, tooBig = false): Promise<void> {
    this.findings.badConnections++;
    if (!(await this.until(() => this.wsClose !== null, 10_000))) {
      this.findings.problems.push(`${label}: the master kept the connection open for 10 s`);
      this.socket.terminate();
      return;
    }
    const { code, reason } = this.wsClose as { code: number; reason: string };
    let shown: string;
    if (this.closeReason !== undefined) {
      shown = String(this.closeReason);
      if (typeof this.closeReason !== "string" || this.closeReason.trim() === "")
        this.findings.problems.push(`${label}: close with an empty reason ${JSON.stringify(this.closeReason)}`);
      else if (this.closeReason.startsWith("internal error"))
        this.findings.problems.push(`${label}: ${this.closeReason}`);
    } else if (tooBig && code === 1009) {
      // A frame past the WebSocket limit ends in the WebSocket layer, with status 1009 and no reason (docs/protocol.md, Limits).
      shown = `(WebSocket close ${code}${reason === "" ? ", no reason" : `: ${reason}`})`;
      this.findings.webSocketCloses.set(code, (this.findings.webSocketCloses.get(code) ?? 0) + 1);
    } else {
      shown = `(no close frame) ${code}`;
      this.findings.problems.push(`${label}: ended (${code} ${JSON.stringify(reason)}) without a close frame`);
    }
    const folded = shown
      .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
      .replace(/\d+/g, "N")
      .slice(0, 110);
    this.findings.reasons.set(folded, (this.findings.reasons.get(folded) ?? 0) + 1);
  }
}

/** Draws frames, numbered after `lastSeq`, until the oracle predicts what `accept` wants. */
function draw(
  rng: Random,
  role: PeerKind,
  lastSeq: number,
  accept: (prediction: Prediction) => boolean,
  make = (seq: number) => anyFrame(rng, role, seq),
  binaryFrames = false,
): { frame: Candidate; prediction: Prediction } {
  for (;;) {
    const frame = make(lastSeq + 1);
    const prediction = predict(frame, role, lastSeq, binaryFrames);
    if (prediction !== null && accept(prediction)) return { frame, prediction };
  }
}

const isTooBig = (frame: Candidate) => frame.payload.length > MAX_WEBSOCKET_PAYLOAD_BYTES;
const ending = ({ outcome }: Prediction) => outcome.kind === "fatal" || outcome.kind === "goodbye";
const fatal = ({ outcome }: Prediction) => outcome.kind === "fatal";

/**
 * A registered slave or control: batches of frames the master must survive,
 * each followed by waiting for every response; a quarter of the batches end
 * with one it must not survive, and the next connection takes over.
 */
export async function registeredPeer(
  url: string,
  findings: Findings,
  rng: Random,
  role: "slave" | "control",
  index: number,
): Promise<void> {
  for (let connection = 0; keepGoing(findings); connection++) {
    const peer = await FuzzPeer.open(url, findings);
    // Every other connection takes binary frames, so both forms are fuzzed, by slaves and by controls.
    const name = `fuzz-${index}-${connection}`;
    await peer.register(role, name, 2 ** 40 + index * 1_000_000 + connection, connection % 2 === 1);
    let ended = false;
    while (!ended && keepGoing(findings)) ended = await sendBatch(peer, findings, rng, role);
    if (!ended) await peer.goodbye();
  }
}

/** Returns true when the batch ended the connection. */
async function sendBatch(peer: FuzzPeer, findings: Findings, rng: Random, role: "slave" | "control"): Promise<boolean> {
  const labels: string[] = [];
  // A seq far ahead would make the master drop every later frame as seen already: keep those for the end.
  const survivable = ({ outcome, lastSeq }: Prediction) =>
    (outcome.kind === "answered" || outcome.kind === "ignored") && lastSeq < peer.lastSeq + 1_000_000;
  for (let size = 10 + rng.int(70); labels.length < size; ) {
    const { frame, prediction } = draw(
      rng,
      role,
      peer.lastSeq,
      survivable,
      (seq) => batchFrame(rng, role, seq),
      peer.binaryFrames,
    );
    if (prediction.outcome.kind === "answered" && !peer.expect(prediction.outcome, frame.label)) continue; // seq already awaited
    peer.send(frame);
    peer.lastSeq = prediction.lastSeq;
    labels.push(frame.label);
  }
  if (rng.chance(0.25)) {
    const { frame, prediction } = draw(rng, role, peer.lastSeq, ending, undefined, peer.binaryFrames);
    peer.send(frame);
    peer.forgetAwaited(); // the session ends: earlier requests may go unanswered
    if (prediction.outcome.kind === "fatal") await peer.expectClose(`${role} ${frame.label}`, isTooBig(frame));
    else if (!(await peer.until(() => peer.wsClose !== null, 10_000)))
      findings.problems.push(`${role} said close, but the master kept the connection open`);
    return true;
  }
  const answered = await peer.until(() => peer.waitingFor === 0 || peer.wsClose !== null, 15_000);
  if (peer.wsClose !== null) {
    findings.problems.push(
      `${role}: the master closed a connection it should have kept (${String(peer.closeReason)}); last frames: ${labels.slice(-3).join("; ")}`,
    );
    return true;
  }
  if (!answered) findings.problems.push(`${role}: ${peer.waitingFor} requests unanswered after 15 s`);
  peer.forgetAwaited();
  return false;
}

/**
 * Unregistered connections: one frame each (a registration gone wrong, or
 * junk). A valid registration, or a resume answered with `invalidate`, is
 * followed by junk.
 */
export async function stranger(url: string, findings: Findings, rng: Random): Promise<void> {
  while (keepGoing(findings)) {
    const peer = await FuzzPeer.open(url, findings);
    findings.strangers++;
    const { frame, prediction } = draw(rng, "stranger", 0, () => true);
    const { outcome } = prediction;
    peer.send(frame);
    peer.lastSeq = prediction.lastSeq; // our answers to the master's requests go on from here
    if (outcome.kind !== "ready" && outcome.kind !== "invalidated") {
      await peer.expectClose(`stranger ${frame.label}`, isTooBig(frame));
      if (peer.registered)
        findings.problems.push(`stranger ${frame.label}: registered, though the frame is not a valid registration`);
      continue;
    }
    await peer.until(() => peer.registered || peer.invalidated || peer.wsClose !== null, 10_000);
    let junk: Candidate | null = null;
    if (peer.registered)
      junk = draw(rng, frame.label.startsWith("register_slave") ? "slave" : "control", peer.lastSeq, fatal).frame;
    else if (peer.invalidated) junk = draw(rng, "stranger", 0, fatal).frame;
    else
      findings.problems.push(
        `stranger ${frame.label}: neither ${outcome.kind === "ready" ? "ready" : "invalidate"} nor close`,
      );
    if (junk !== null) {
      peer.send(junk);
      findings.registeredThenJunk++;
    }
    await peer.expectClose(
      `stranger ${frame.label}, then ${junk?.label ?? "nothing"}`,
      junk !== null && isTooBig(junk),
    );
  }
}

/** Connections that never register must be closed after the handshake timeout. */
export async function silentPeers(url: string, findings: Findings, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const peer = await FuzzPeer.open(url, findings);
      await peer.expectClose("silent");
      if (!/^no register_slave or register_control within \d+ ms$/.test(String(peer.closeReason))) {
        findings.problems.push(`silent: closed with ${String(peer.closeReason)}`);
      }
    }),
  );
}
