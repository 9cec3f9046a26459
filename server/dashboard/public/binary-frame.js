/**
 * The `binary_frames` extension on the page: a command's bytes as a
 * WebSocket binary frame (header, command id, raw bytes), as
 * docs/protocol.md describes it and shared/protocol/binary-frame.ts speaks it
 * on the other roles; test/dashboard-binary-frame.test.ts holds the two
 * together. Raw frames spare the page a base64 decode and a JSON parse of
 * every chunk of output, and the master re-encoding it.
 */

export const BINARY_FRAMES = "binary_frames";
export const HEADER_BYTES = 13;
const KIND_COMMAND_BYTES = 1;
const STREAMS = ["stdin", "stdout", "stderr"];
/** The 6-byte seq as a 2-byte high and a 4-byte low part: DataView reads no 48-bit numbers. */
const HIGH = 2 ** 32;

/** {seq, stream, commandId, payload}: payload is a view into `buffer` (an ArrayBuffer), not a copy. */
export function decodeBinaryFrame(buffer) {
  if (buffer.byteLength < HEADER_BYTES)
    throw new Error(`binary frame of ${buffer.byteLength} bytes is shorter than its ${HEADER_BYTES}-byte header`);
  const view = new DataView(buffer);
  const kind = view.getUint8(0);
  if (kind !== KIND_COMMAND_BYTES) throw new Error(`binary frame of unknown kind ${kind}`);
  const stream = STREAMS[view.getUint8(1)];
  if (stream === undefined) throw new Error(`binary frame of unknown stream ${view.getUint8(1)}`);
  const start = HEADER_BYTES + view.getUint8(12);
  const length = view.getUint32(8);
  if (start + length !== buffer.byteLength)
    throw new Error(`binary frame says ${length} bytes of payload but carries ${buffer.byteLength - start}`);
  return {
    seq: view.getUint16(2) * HIGH + view.getUint32(4),
    stream,
    commandId: String.fromCharCode(...new Uint8Array(buffer, HEADER_BYTES, start - HEADER_BYTES)),
    payload: new Uint8Array(buffer, start, length),
  };
}

/** One frame for `payload` (a Uint8Array) of `commandId` (ASCII) on `stream`. */
export function encodeBinaryFrame(seq, stream, commandId, payload) {
  const start = HEADER_BYTES + commandId.length;
  const frame = new Uint8Array(start + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint8(0, KIND_COMMAND_BYTES);
  view.setUint8(1, STREAMS.indexOf(stream));
  view.setUint16(2, Math.floor(seq / HIGH));
  view.setUint32(4, seq % HIGH);
  view.setUint32(8, payload.length);
  view.setUint8(12, commandId.length);
  for (let index = 0; index < commandId.length; index++) frame[HEADER_BYTES + index] = commandId.charCodeAt(index);
  frame.set(payload, start);
  return frame;
}
