/** Junk below WebSocket: raw TCP to the master, with frames built by hand so they can break the rules. */
import { connect as tcpConnect } from "node:net";
import type { Random } from "./fuzz-frames.js";
import type { Findings } from "./fuzz-peer.js";

/** A masked WebSocket frame, built by hand so it can break the rules. */
function wsFrame(firstByte: number, payload: Buffer, lengthBytes?: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)));
  const length = lengthBytes ?? Buffer.from([Math.min(payload.length, 126)]);
  const extended =
    lengthBytes === undefined && payload.length >= 126
      ? Buffer.from([payload.length >> 8, payload.length & 255])
      : Buffer.alloc(0);
  return Buffer.concat([
    Buffer.from([firstByte]),
    Buffer.from([(length[0] as number) | 0x80]),
    length.subarray(1),
    extended,
    mask,
    masked,
  ]);
}

/** The frames a server sent after its 101 response (unmasked), as far as they are complete. */
function serverFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = bytes.indexOf("\r\n\r\n");
  if (at < 0 || !bytes.subarray(0, 12).toString().includes("101")) return frames;
  at += 4;
  while (at + 2 <= bytes.length) {
    let length = (bytes[at + 1] as number) & 0x7f;
    let header = 2;
    if (length === 126) [length, header] = [bytes.readUInt16BE(at + 2), 4];
    else if (length === 127) [length, header] = [Number(bytes.readBigUInt64BE(at + 2)), 10];
    if (at + header + length > bytes.length) break;
    frames.push({ opcode: (bytes[at] as number) & 0x0f, payload: bytes.subarray(at + header, at + header + length) });
    at += header + length;
  }
  return frames;
}

/** What the master answered on a raw connection: the HTTP status, then its close frame(s). */
function describeRawAnswer(bytes: Buffer): { text: string; closing: boolean } {
  const status = bytes.toString("latin1").split("\r\n")[0] || "(nothing)";
  const parts = [status];
  let closing = false;
  for (const { opcode, payload } of serverFrames(bytes)) {
    const text = payload.toString();
    if (opcode === 1 && text.includes('"type":"close"'))
      parts.push(`close ${JSON.stringify(JSON.parse(text).data.reason)}`);
    if (opcode === 8) {
      closing = true;
      parts.push(
        `WebSocket close ${payload.length >= 2 ? payload.readUInt16BE(0) : "(no code)"}${payload.length > 2 ? ` ${payload.subarray(2)}` : ""}`,
      );
    }
  }
  return { text: parts.join(", then "), closing };
}

/**
 * Below WebSocket: junk where the HTTP request or the frames should be. Each
 * connection must end, or get the master's WebSocket close frame, by the
 * handshake timeout (after its close frame, ws waits up to 30 s for ours,
 * which a raw client never sends).
 */
export async function rawTcpJunk(
  port: number,
  findings: Findings,
  rng: Random,
  handshakeTimeoutMs: number,
): Promise<string[]> {
  const upgrade = (version = 13) =>
    `GET /api/socket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${rng.bytes(16).toString("base64")}\r\nSec-WebSocket-Version: ${version}\r\n\r\n`;
  const cases: [string, () => (string | Buffer)[]][] = [
    ["random bytes", () => [rng.bytes(1 + rng.int(2000)), "\r\n\r\n"]],
    ["plain GET", () => ["GET /api/socket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]],
    ["bad WebSocket version", () => [upgrade(99)]],
    ["unmasked frame", () => [upgrade(), Buffer.from([0x81, 5, ...Buffer.from("hello")])]],
    ["reserved opcode", () => [upgrade(), wsFrame(0x83, Buffer.from("x"))]],
    ["RSV bits set", () => [upgrade(), wsFrame(0xf1, Buffer.from("{}"))]],
    [
      "2^63 byte length",
      () => [
        upgrade(),
        wsFrame(0x81, Buffer.alloc(0), Buffer.from([127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
      ],
    ],
    ["random frame bytes", () => [upgrade(), rng.bytes(1 + rng.int(500))]],
  ];
  const attempts = [0, 1, 2].flatMap((round) =>
    cases.map(([name, payloads]) => ({ name, round, payloads: payloads() })),
  );
  const answers = await Promise.all(
    attempts.map(async ({ name, round, payloads }) => {
      const socket = tcpConnect(port, "127.0.0.1");
      let received = Buffer.alloc(0);
      let closed = false;
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, handshakeTimeoutMs + 3000);
        const check = () => {
          if (!closed && !describeRawAnswer(received).closing) return;
          clearTimeout(timer);
          resolve();
        };
        socket.on("data", (chunk) => {
          received = Buffer.concat([received, chunk]);
          check();
        });
        socket.on("close", () => {
          closed = true;
          check();
        });
      });
      socket.on("error", () => {});
      for (const payload of payloads) socket.write(payload);
      findings.frames++;
      await done;
      socket.destroy();
      const answer = describeRawAnswer(received);
      if (!closed && !answer.closing)
        findings.problems.push(`raw TCP, ${name}: neither closed nor a close frame in time (${answer.text})`);
      return round === 0 ? `${name}: ${answer.text}` : null;
    }),
  );
  return answers.filter((answer): answer is string => answer !== null);
}
