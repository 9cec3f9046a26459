import { ProtocolError } from "./errors.js";

/**
 * The `binary_frames` extension: a command's bytes travel as WebSocket binary
 * frames, raw, after a small fixed header, instead of base64 in JSON. The
 * master offers it in `hello`; a client takes it by naming it in its
 * registration's `extensions`. docs/protocol.md has the same header table
 * (a test holds the two together).
 */
export const BINARY_FRAMES = "binary_frames";
/** What a binary frame is counted as where frames are counted by type (the master's metrics). */
export const BINARY_FRAME_TYPE = "command_bytes";

export const commandStreams = ["stdin", "stdout", "stderr"] as const;
export type CommandStream = (typeof commandStreams)[number];

/** The header, big-endian, before the command id and the payload. */
export const binaryHeader = [
  { field: "kind", offset: 0, bytes: 1, means: "1: command bytes (the only kind so far)" },
  { field: "stream", offset: 1, bytes: 1, means: "0 stdin, 1 stdout, 2 stderr" },
  { field: "seq", offset: 2, bytes: 6, means: "the frame's number, in the same series as the JSON frames" },
  { field: "length", offset: 8, bytes: 4, means: "bytes of payload after the command id" },
  { field: "id_length", offset: 12, bytes: 1, means: "bytes of command id that follow (8 to 64, ASCII)" },
] as const;

export const BINARY_HEADER_BYTES = 13;
const KIND_COMMAND_BYTES = 1;
const SEQ_OFFSET = 2;
const COMMAND_ID = /^[A-Za-z0-9_-]{8,64}$/;

/** A decoded header; `payload` is a view into the frame, not a copy. */
export interface BinaryFrame {
  seq: number;
  stream: CommandStream;
  commandId: string;
  payload: Buffer;
}

/** One frame from the payload's pieces: the single copy the bytes take on their way out. */
export function encodeBinaryFrame(seq: number, stream: CommandStream, commandId: string, pieces: Buffer[]): Buffer {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const start = BINARY_HEADER_BYTES + commandId.length;
  const frame = Buffer.allocUnsafe(start + length);
  frame.writeUInt8(KIND_COMMAND_BYTES, 0);
  frame.writeUInt8(commandStreams.indexOf(stream), 1);
  frame.writeUIntBE(seq, SEQ_OFFSET, 6);
  frame.writeUInt32BE(length, 8);
  frame.writeUInt8(commandId.length, 12);
  frame.write(commandId, BINARY_HEADER_BYTES, "latin1");
  let offset = start;
  for (const piece of pieces) offset += piece.copy(frame, offset);
  return frame;
}

/** Checks the header only; each way it can be wrong is a one-line ProtocolError. */
export function decodeBinaryFrame(frame: Buffer): BinaryFrame {
  if (frame.length < BINARY_HEADER_BYTES)
    throw new ProtocolError(
      `binary frame of ${frame.length} bytes is shorter than its ${BINARY_HEADER_BYTES}-byte header`,
    );
  const kind = frame.readUInt8(0);
  if (kind !== KIND_COMMAND_BYTES) throw new ProtocolError(`binary frame of unknown kind ${kind}`);
  const stream = commandStreams[frame.readUInt8(1)];
  if (stream === undefined) throw new ProtocolError(`binary frame of unknown stream ${frame.readUInt8(1)}`);
  const idLength = frame.readUInt8(12);
  const start = BINARY_HEADER_BYTES + idLength;
  const commandId = frame.toString("latin1", BINARY_HEADER_BYTES, Math.min(start, frame.length));
  if (!COMMAND_ID.test(commandId) || commandId.length !== idLength)
    throw new ProtocolError("binary frame's command id is not 8 to 64 letters, digits, '_' or '-'");
  const length = frame.readUInt32BE(8);
  if (length !== frame.length - start)
    throw new ProtocolError(`binary frame says ${length} bytes of payload but carries ${frame.length - start}`);
  return { seq: frame.readUIntBE(SEQ_OFFSET, 6), stream, commandId, payload: frame.subarray(start) };
}

/** Renumbers a frame in place for the next hop: the master forwards it without touching the payload. */
export function renumberBinaryFrame(frame: Buffer, seq: number): void {
  frame.writeUIntBE(seq, SEQ_OFFSET, 6);
}
