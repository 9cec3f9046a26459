import type { CommandStream } from "../../shared/protocol/binary-frame.js";

type OutputStream = Exclude<CommandStream, "stdin">;

/**
 * Output read in one turn of the event loop leaves as one frame per stream.
 * The reader thread hands over at most 64 KiB per chunk, and under full
 * output several chunks arrive in one turn (each in a callback of its own, so
 * the flush waits for setImmediate, after them all). The credit window bounds
 * what can gather: reading pauses once a window is unacknowledged.
 */
export class OutputGatherer {
  private pieces: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  private scheduled = false;

  constructor(private readonly send: (stream: OutputStream, pieces: Buffer[]) => void) {}

  add(stream: OutputStream, data: Buffer): void {
    this.pieces[stream].push(data);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /** Forgets what has gathered: the command's replay log holds it, to send from a resume's position. */
  discard(): void {
    this.pieces = { stdout: [], stderr: [] };
  }

  /** Sends what has gathered; called before the command's exit is reported, so it follows the last byte. */
  readonly flush = (): void => {
    this.scheduled = false;
    const { stdout, stderr } = this.pieces;
    this.pieces = { stdout: [], stderr: [] };
    if (stdout.length > 0) this.send("stdout", stdout);
    if (stderr.length > 0) this.send("stderr", stderr);
  };
}
