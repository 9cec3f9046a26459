import {
  BINARY_FRAME_TYPE,
  type BinaryFrame,
  type CommandStream,
  decodeBinaryFrame,
  encodeBinaryFrame,
  renumberBinaryFrame,
} from "./binary-frame.js";
import { decodeFrame, encodeFrame, errorMessage, type Frame, validateIncoming, validateOutgoing } from "./codec.js";
import type {
  DataOf,
  Definition,
  EventDefinition,
  PlainDefinition,
  RequestDefinition,
  RequestOf,
  ResponseOf,
  Role,
} from "./definitions.js";
import { LinkClosedError, ProtocolError } from "./errors.js";
import { commandInputEvent, commandOutputEvent, definitionsByType } from "./messages.js";
import { OwnRequests } from "./own-requests.js";
import { ResendBuffer } from "./resend-buffer.js";
import type * as z from "./zod.js";

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Defers work to the microtask queue: `then` on it costs a fraction of what queueMicrotask does in Node. */
const settled = Promise.resolve();

export interface LinkOptions {
  /** Writes one frame to the socket (text, or binary under the binary_frames extension); null until a socket is attached. */
  send: Transport | null;
  /** This side, named in errors. */
  localRole: Role;
  /** Who is on the other end; messages it may not send are refused. */
  peerRole: Role;
  requestTimeoutMs?: number;
  /** Keep every numbered frame until the peer acknowledges it, so it can be sent again on a new socket. */
  resumable?: boolean;
  /** Called after each numbered frame received (to acknowledge them in time). */
  onNumberedFrame?: (bytes: number) => void;
  /** Requests from the peer handled at once; past it they are answered with an error. */
  maxRequestsInFlight?: number;
  /** Our requests awaiting an answer at once; more wait their turn (the peer refuses past its own limit). */
  maxOwnRequestsInFlight?: number;
  /** Sees every frame's type and size, in and out (for metrics). */
  onFrame?: (direction: "in" | "out", type: string, bytes: number) => void;
  /** Sees each request from the peer that reached its handler: how long it took to answer, and its error if any (for metrics and the log). */
  onRequestAnswered?: (type: string, seconds: number, data: Record<string, unknown>, error: string | null) => void;
  /** Beyond `from`: a reason to refuse this peer the message (e.g. its token's role), or null to accept. */
  authorize?: (definition: Definition) => string | null;
  log?: (line: string) => void;
}

/** A JSON frame goes out as text, a command's bytes under the binary_frames extension as binary. */
export type Transport = (frame: string | Buffer) => void;

type RequestHandler = (data: never) => unknown;
/** Gets the decoded header and the whole frame, which it may forward as it is. */
export type BytesHandler = (frame: BinaryFrame, raw: Buffer) => void;
type EventHandler = (data: never) => void;

/**
 * One side of a session: numbers outgoing frames, validates every frame both
 * ways, matches responses to requests, and dispatches to registered handlers.
 * It owns no socket: the owner feeds it frames and closes the socket on
 * ProtocolError.
 */
export class Link {
  private nextSeq = 1;
  private readonly ownRequests: OwnRequests;
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly eventHandlers = new Map<string, EventHandler>();
  private readonly plainHandlers = new Map<string, EventHandler>();
  private closedReason: string | null = null;
  private requestsInFlight = 0;
  private transport: Transport | null;
  private bytesHandler: BytesHandler | null = null;
  /** Both sides took the binary_frames extension: command bytes go as binary frames. */
  binaryFrames = false;
  private lastReceived = 0;
  private readonly unacknowledged = new ResendBuffer();
  private keeping: boolean;
  readonly peerRole: Role;

  constructor(private readonly options: LinkOptions) {
    this.peerRole = options.peerRole;
    this.transport = options.send;
    this.keeping = options.resumable ?? false;
    this.ownRequests = new OwnRequests(
      options.maxOwnRequestsInFlight ?? Number.POSITIVE_INFINITY,
      (type, data) => this.write(type, data),
      (line) => this.log(line),
    );
  }

  /** The peer never acknowledges (it does not speak heartbeats): keeping frames for it would only grow. */
  stopKeeping(): void {
    this.keeping = false;
    this.unacknowledged.clear();
  }

  /** Whether a new socket could carry on this session: false once frames are no longer kept. */
  get resumable(): boolean {
    return this.keeping;
  }

  /** The highest seq received from the peer: what this side acknowledges. */
  get lastReceivedSeq(): number {
    return this.lastReceived;
  }

  /** Bytes sent but not yet acknowledged (resumable links only). */
  get unacknowledgedBytes(): number {
    return this.unacknowledged.bytes;
  }

  /** A new socket carries the session; frames after `peerLastSeq` are sent again on it. */
  attach(send: Transport, peerLastSeq: number): void {
    this.transport = send;
    this.acknowledge(peerLastSeq);
    for (const text of this.unacknowledged.frames) send(text);
  }

  /** The socket is gone but the session may resume: frames are kept, not sent. */
  detach(): void {
    this.transport = null;
  }

  /** A frame handled outside the link (the registration) still counts as received. */
  receivedOutside(seq: number | null): void {
    if (seq !== null && seq > this.lastReceived) this.lastReceived = seq;
  }

  /** The peer has everything up to `lastSeq`. */
  acknowledge(lastSeq: number): void {
    this.unacknowledged.acknowledge(lastSeq);
  }

  /** Handshake and heartbeat frames: unnumbered and never kept; sent on `via`, else on the attached socket if any. */
  sendUnnumbered<D extends PlainDefinition>(definition: D, data: z.input<D["data"]>, via = this.transport): void {
    const text = encodeFrame(null, definition.type, validateOutgoing(definition.type, definition.data, data));
    this.options.onFrame?.("out", definition.type, text.length);
    via?.(text);
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  get pendingRequests(): number {
    return this.ownRequests.size;
  }

  onMessage<D extends PlainDefinition>(definition: D, handler: (data: DataOf<D>) => void): void {
    this.plainHandlers.set(definition.type, handler);
  }

  onEvent<D extends EventDefinition>(definition: D, handler: (data: DataOf<D>) => void): void {
    this.eventHandlers.set(definition.type, handler);
  }

  /** The handler's return value is the response; a thrown error becomes an error response. */
  onRequest<D extends RequestDefinition>(
    definition: D,
    handler: (data: RequestOf<D>) => z.input<D["response"]> | Promise<z.input<D["response"]>>,
  ): void {
    this.requestHandlers.set(definition.type, handler);
  }

  /** Command bytes the peer sends as binary frames (its JSON forms go to their event handlers). */
  onBytes(handler: BytesHandler): void {
    this.bytesHandler = handler;
  }

  /**
   * Sends a command's bytes: one binary frame under the extension, else the
   * base protocol's command_input_event or command_output_event with base64.
   */
  sendBytes(stream: CommandStream, commandId: string, pieces: Buffer[]): void {
    if (this.binaryFrames) return void this.writeBinary((seq) => encodeBinaryFrame(seq, stream, commandId, pieces));
    const data = (pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces)).toString("base64");
    if (stream === "stdin") this.event(commandInputEvent, { command_id: commandId, data });
    else this.event(commandOutputEvent, { command_id: commandId, stream, data });
  }

  /** Passes on bytes received from another peer: the same frame, renumbered, when this peer takes binary frames. */
  forwardBytes(frame: BinaryFrame, raw: Buffer | null): void {
    if (raw === null || !this.binaryFrames) return this.sendBytes(frame.stream, frame.commandId, [frame.payload]);
    this.writeBinary((seq) => {
      renumberBinaryFrame(raw, seq);
      return raw;
    });
  }

  send<D extends PlainDefinition>(definition: D, data: z.input<D["data"]>): void {
    this.write(definition.type, validateOutgoing(definition.type, definition.data, data));
  }

  event<D extends EventDefinition>(definition: D, data: z.input<D["data"]>): void {
    this.write(definition.type, validateOutgoing(definition.type, definition.data, data));
  }

  request<D extends RequestDefinition>(
    definition: D,
    data: z.input<D["request"]>,
    timeoutMs = this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
  ): Promise<ResponseOf<D>> {
    if (this.closedReason !== null) {
      return Promise.reject(new LinkClosedError(`${definition.type} not sent: ${this.closedReason}`));
    }
    const valid = validateOutgoing(definition.type, definition.request, data);
    return this.ownRequests.send(definition, valid, timeoutMs) as Promise<ResponseOf<D>>;
  }

  /** Sends `close {reason}` and ends the session; the owner closes the socket. */
  close(reason: string): void {
    if (this.closedReason !== null) return;
    this.write("close", { reason });
    this.connectionLost(reason);
  }

  /** The socket is gone: fail every waiting request. */
  connectionLost(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.ownRequests.failAll(reason);
  }

  /** Handles one incoming text frame. Throws ProtocolError when the peer broke the protocol. */
  receive(text: string): void {
    const frame = decodeFrame(text);
    this.options.onFrame?.("in", frame.type, text.length);
    if (frame.seq === null || this.isNew(frame.seq, text.length)) this.dispatch(frame);
  }

  /** Counts a numbered frame in; false when it was sent again after a resume and is already handled. */
  private isNew(seq: number, bytes: number): boolean {
    if (seq <= this.lastReceived) return false;
    this.lastReceived = seq;
    this.options.onNumberedFrame?.(bytes);
    return true;
  }

  /** Handles one incoming binary frame. Throws ProtocolError when the peer broke the protocol. */
  receiveBinary(raw: Buffer): void {
    if (!this.binaryFrames) throw new ProtocolError("binary frames were not taken up at registration");
    const frame = decodeBinaryFrame(raw);
    this.options.onFrame?.("in", BINARY_FRAME_TYPE, raw.length);
    if (!this.isNew(frame.seq, raw.length) || this.closedReason !== null) return;
    // The same rules as for the JSON form of the same bytes.
    const refusal = this.refusal(frame.stream === "stdin" ? commandInputEvent : commandOutputEvent);
    if (refusal !== null) throw new ProtocolError(refusal);
    if (this.bytesHandler === null) return this.log(`dropped ${frame.stream} bytes: no handler on this side`);
    this.bytesHandler(frame, raw);
  }

  dispatch(frame: Frame): void {
    if (this.closedReason !== null) return;
    if (frame.type.endsWith("_response")) return this.ownRequests.settle(frame);

    const definition = definitionsByType.get(frame.type);
    if (definition === undefined) return this.unknown(frame);
    const refusal = this.refusal(definition);
    if (refusal !== null) {
      // The owner logs the close an event or message brings; a refused request is only answered, so log it here.
      if (definition.kind !== "request") throw new ProtocolError(refusal);
      this.log(`refused: ${refusal}`);
      return this.respondError(frame, definition.responseType, refusal);
    }
    if (definition.kind === "request") return this.answer(frame, definition);
    const data = validateIncoming(definition, frame);
    const handlers = definition.kind === "event" ? this.eventHandlers : this.plainHandlers;
    const handler = handlers.get(definition.type);
    if (handler !== undefined) return handler(data as never);
    if (definition.kind === "event") return this.log(`dropped ${frame.type}: no handler on this side`);
    throw new ProtocolError(`unexpected ${frame.type}`);
  }

  /** Why the peer may not send this (its kind, or the authorize hook), or null. */
  private refusal(definition: Definition): string | null {
    if (!definition.from.includes(this.peerRole)) return `a ${this.peerRole} may not send ${definition.type}`;
    return this.options.authorize?.(definition) ?? null;
  }

  private unknown(frame: Frame): void {
    if (frame.type.endsWith("_request")) {
      return this.respondError(
        frame,
        frame.type.replace(/_request$/, "_response"),
        `unknown request type ${frame.type}`,
      );
    }
    if (frame.type.endsWith("_event")) return this.log(`dropped unknown event ${frame.type}`);
    throw new ProtocolError(`unknown message type ${JSON.stringify(frame.type)}`);
  }

  private answer(frame: Frame, definition: RequestDefinition): void {
    const data = validateIncoming(definition, frame) as Record<string, unknown>;
    const handler = this.requestHandlers.get(definition.type);
    if (handler === undefined) {
      return this.respondError(
        frame,
        definition.responseType,
        `${definition.type} is not handled by the ${this.options.localRole}`,
      );
    }
    const limit = this.options.maxRequestsInFlight ?? Infinity;
    if (this.requestsInFlight >= limit) {
      return this.respondError(frame, definition.responseType, `too many requests in flight (limit ${limit})`);
    }
    this.requestsInFlight++;
    const arrived = performance.now();
    // Handled once the rest of this read is: a later frame in it may end the session.
    settled.then(() => {
      if (this.closedReason !== null) return void this.requestsInFlight--;
      try {
        const response = handler(data as never);
        if (!(response instanceof Promise)) return this.respond(frame, definition, arrived, data, response);
        response.then(
          (value) => this.respond(frame, definition, arrived, data, value),
          (error: unknown) => this.respondFailed(frame, definition, arrived, data, error),
        );
      } catch (error) {
        this.respondFailed(frame, definition, arrived, data, error);
      }
    });
  }

  /** Sends a handler's answer to the request in `frame`. */
  private respond(
    frame: Frame,
    definition: RequestDefinition,
    arrived: number,
    data: Record<string, unknown>,
    response: unknown,
  ): void {
    let valid: object;
    try {
      valid = validateOutgoing(definition.responseType, definition.response, response);
    } catch (error) {
      return this.respondFailed(frame, definition, arrived, data, error);
    }
    if (this.closedReason === null) this.write(definition.responseType, { ...valid, seq: frame.seq });
    this.answered(definition, arrived, data, null);
  }

  private respondFailed(
    frame: Frame,
    definition: RequestDefinition,
    arrived: number,
    data: Record<string, unknown>,
    error: unknown,
  ): void {
    const message = errorMessage(error);
    this.respondError(frame, definition.responseType, message);
    this.answered(definition, arrived, data, message);
  }

  /** Called after the answer is written, so that what observes it does not hold it up. */
  private answered(
    definition: RequestDefinition,
    arrived: number,
    data: Record<string, unknown>,
    error: string | null,
  ): void {
    this.requestsInFlight--;
    this.options.onRequestAnswered?.(definition.type, (performance.now() - arrived) / 1000, data, error);
  }

  private respondError(frame: Frame, responseType: string, error: string): void {
    if (frame.seq === null) throw new ProtocolError(`${frame.type} has no seq to answer`);
    if (this.closedReason !== null) return;
    this.write(responseType, { seq: frame.seq, error });
  }

  private write(type: string, data: object): number {
    return this.writeNumbered(type, (seq) => encodeFrame(seq, type, data));
  }

  private writeBinary(build: (seq: number) => Buffer): void {
    this.writeNumbered(BINARY_FRAME_TYPE, build);
  }

  /** Numbers a frame, keeps it for a resume, and sends it. */
  private writeNumbered(type: string, build: (seq: number) => string | Buffer): number {
    const seq = this.nextSeq++;
    const frame = build(seq);
    this.options.onFrame?.("out", type, frame.length);
    if (this.keeping) this.unacknowledged.keep(seq, frame);
    this.transport?.(frame);
    return seq;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}
