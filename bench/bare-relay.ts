/**
 * The baseline for bench/relay: the same control → relay → responder → back
 * path with nothing but `ws`. The relay forwards text frames untouched; the
 * responder parses each request and answers it. No validation anywhere.
 *
 *   node bare-relay.js relay        prints "listening <port>"
 *   node bare-relay.js responder URL
 */
import WebSocket, { WebSocketServer } from "ws";

const [role, url] = process.argv.slice(2);

if (role === "relay") {
  let responder: WebSocket | null = null;
  let control: WebSocket | null = null;
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  server.on("connection", (socket, request) => {
    if (request.url === "/responder") {
      responder = socket;
      socket.on("message", (text) => control?.send(text.toString()));
    } else {
      control = socket;
      socket.on("message", (text) => responder?.send(text.toString()));
    }
  });
  server.on("listening", () => console.log(`listening ${(server.address() as { port: number }).port}`));
} else if (role === "responder" && url !== undefined) {
  const socket = new WebSocket(`${url}/responder`);
  let seq = 0;
  socket.on("message", (text) => {
    const request = JSON.parse(text.toString()) as { seq: number };
    socket.send(JSON.stringify({ seq: ++seq, type: "ping_response", data: { seq: request.seq } }));
  });
  socket.on("open", () => console.log("connected"));
} else {
  console.error("usage: bare-relay.js relay | responder URL");
  process.exit(1);
}
