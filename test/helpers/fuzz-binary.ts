/** Binary frames (the binary_frames extension) for fuzzing the master: well-formed ones, and damaged. */
import { commandStreams, encodeBinaryFrame } from "../../shared/protocol/binary-frame.js";
import type { Candidate, Random } from "./fuzz-frames.js";

/** Command bytes for a command that is not running; a peer whose role may send that stream keeps its session. */
export function commandBytesFrame(rng: Random, seq: number): Candidate {
  const stream = rng.pick(commandStreams);
  const id = `fuzz-${rng.int(1_000_000).toString().padStart(6, "0")}`;
  return {
    payload: encodeBinaryFrame(seq, stream, id, [rng.bytes(rng.int(2000))]),
    binary: true,
    label: `binary ${stream}`,
  };
}

/** The same, damaged: cut short, a header byte changed, or a wrong length (the oracle decides which survive). */
export function damagedBytesFrame(rng: Random, seq: number): Candidate {
  const frame = commandBytesFrame(rng, seq).payload as Buffer;
  switch (rng.int(3)) {
    case 0: {
      const length = rng.int(frame.length);
      return { payload: frame.subarray(0, length), binary: true, label: `binary, cut to ${length} bytes` };
    }
    case 1: {
      const at = rng.int(Math.min(frame.length, 30));
      frame[at] = rng.int(256);
      return { payload: frame, binary: true, label: `binary, byte ${at} changed` };
    }
    default:
      frame.writeUInt32BE(rng.int(2 ** 32), 8);
      return { payload: frame, binary: true, label: "binary, wrong length" };
  }
}
