/**
 * The baselines for bench/relay: the same control → relay → responder → back
 * path with nothing but `ws` and no validation anywhere.
 *
 * - `forwarder`: the least a relay of this protocol must do. It parses each
 *   frame, sends a request to the responder named in `data.slave` under its
 *   own seq, and sends the answer back to the control that asked, under the
 *   control's seq. It checks nothing, keeps no sessions, and counts nothing.
 * - `pipe`: less than that. One control and one responder, frames passed on
 *   untouched without being parsed; it could not serve a second control.
 *
 * The responder parses each request and answers it.
 *
 *   node bare-relay.js forwarder | pipe     prints "listening <port>"
 *   node bare-relay.js responder URL NAME
 */
import WebSocket, { WebSocketServer } from "ws";

const [role, url, name] = process.argv.slice(2);

interface Frame {
  seq: number;
  type: string;
  data: { seq?: number; slave?: string };
}

type Send = (type: string, data: object) => number;

/** Numbers the frames sent on one socket, as each side of a session does; returns the seq used. */
function numbered(socket: WebSocket): Send {
  let seq = 0;
  return (type, data) => {
    socket.send(JSON.stringify({ seq: ++seq, type, data }));
    return seq;
  };
}

function listen(onConnection: (socket: WebSocket, path: string) => void): void {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  server.on("connection", (socket, request) => onConnection(socket, request.url ?? "/"));
  server.on("listening", () => console.log(`listening ${(server.address() as { port: number }).port}`));
}

interface Responder {
  send: Send;
  /** Requests sent to it, by the seq they went under: who asked, and under which seq. */
  waiting: Map<number, { answer: Send; seq: number }>;
}

function forwarder(): void {
  const responders = new Map<string, Responder>();
  listen((socket, path) => {
    const send = numbered(socket);
    const responderName = path.match(/^\/responder\/(.+)$/)?.[1];
    if (responderName !== undefined) {
      const waiting: Responder["waiting"] = new Map();
      responders.set(responderName, { send, waiting });
      socket.on("message", (text) => {
        const frame = JSON.parse(text.toString()) as Frame;
        const asker = waiting.get(frame.data.seq!);
        if (asker === undefined) return;
        waiting.delete(frame.data.seq!);
        asker.answer(frame.type, { ...frame.data, seq: asker.seq });
      });
      return;
    }
    socket.on("message", (text) => {
      const frame = JSON.parse(text.toString()) as Frame;
      const target = responders.get(frame.data.slave!);
      if (target === undefined) return;
      target.waiting.set(target.send(frame.type, frame.data), { answer: send, seq: frame.seq });
    });
  });
}

function pipe(): void {
  let responder: WebSocket | null = null;
  let control: WebSocket | null = null;
  listen((socket, path) => {
    if (path.startsWith("/responder")) {
      responder = socket;
      socket.on("message", (text) => control?.send(text.toString()));
    } else {
      control = socket;
      socket.on("message", (text) => responder?.send(text.toString()));
    }
  });
}

function responder(relayUrl: string, responderName: string): void {
  const socket = new WebSocket(`${relayUrl}/responder/${responderName}`);
  const send = numbered(socket);
  socket.on("message", (text) => {
    const request = JSON.parse(text.toString()) as Frame;
    send("ping_response", { seq: request.seq });
  });
  socket.on("open", () => console.log("connected"));
}

if (role === "forwarder") forwarder();
else if (role === "pipe") pipe();
else if (role === "responder" && url !== undefined && name !== undefined) responder(url, name);
else {
  console.error("usage: bare-relay.js forwarder | pipe | responder URL NAME");
  process.exit(1);
}
