/**
 * The requests one side of a Link sent and still waits on: their timers, the
 * queue past the in-flight limit, and matching each response to its request.
 */
import { describeIssue, type Frame } from "./codec.js";
import type { RequestDefinition } from "./definitions.js";
import { LinkClosedError, ProtocolError, RequestError, RequestTimeoutError } from "./errors.js";

interface PendingRequest {
  definition: RequestDefinition;
  resolve: (data: unknown) => void;
  reject: (error: Error) => void;
  /** Set once the request is sent. */
  timer?: NodeJS.Timeout;
}

export class OwnRequests {
  private readonly pending = new Map<number, PendingRequest>();
  /** Requests waiting for a place under the limit, oldest first. */
  private readonly queued: (() => void)[] = [];
  private closedReason: string | null = null;

  constructor(
    private readonly limit: number,
    /** Writes a numbered frame; returns its seq. */
    private readonly write: (type: string, data: object) => number,
    private readonly log: (line: string) => void,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Sends `data` (already valid) now, or once fewer than the limit are in flight; resolves with the response. */
  send(definition: RequestDefinition, data: object, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const waiting: PendingRequest = { definition, resolve, reject };
      if (this.pending.size < this.limit) this.sendNow(waiting, data, timeoutMs);
      else this.queued.push(() => this.sendNow(waiting, data, timeoutMs));
    });
  }

  private sendNow(request: PendingRequest, data: object, timeoutMs: number): void {
    const { definition, reject } = request;
    if (this.closedReason !== null)
      return reject(new LinkClosedError(`${definition.type} not sent: ${this.closedReason}`));
    const seq = this.write(definition.type, data);
    request.timer = setTimeout(() => {
      this.pending.delete(seq);
      this.sendQueued();
      reject(new RequestTimeoutError(`${definition.type} got no response within ${timeoutMs} ms`));
    }, timeoutMs);
    this.pending.set(seq, request);
  }

  private sendQueued(): void {
    while (this.queued.length > 0 && (this.pending.size < this.limit || this.closedReason !== null))
      this.queued.shift()!();
  }

  /** A response came: settles its request. Throws ProtocolError when it answers the wrong request or is malformed. */
  settle(frame: Frame): void {
    const requestSeq = frame.data.seq;
    const request = typeof requestSeq === "number" ? this.pending.get(requestSeq) : undefined;
    if (request === undefined)
      return this.log(`dropped ${frame.type}: no request is waiting for seq ${String(requestSeq)}`);
    if (frame.type !== request.definition.responseType) {
      throw new ProtocolError(`${frame.type} answers seq ${requestSeq}, which was a ${request.definition.type}`);
    }
    this.pending.delete(requestSeq as number);
    clearTimeout(request.timer);
    this.sendQueued();
    if (typeof frame.data.error === "string") return request.reject(new RequestError(frame.data.error));
    const result = request.definition.response.safeParse(frame.data);
    if (!result.success) {
      const reason = describeIssue(frame.type, result.error);
      request.reject(new ProtocolError(reason));
      throw new ProtocolError(reason);
    }
    request.resolve(result.data);
  }

  /** The session ended: every request waiting, sent or queued, fails. */
  failAll(reason: string): void {
    this.closedReason = reason;
    for (const [seq, request] of this.pending) {
      clearTimeout(request.timer);
      request.reject(new LinkClosedError(`${request.definition.type} failed: ${reason}`));
      this.pending.delete(seq);
    }
    this.sendQueued(); // each now fails as not sent
  }
}
