/**
 * The load generator for bench/scale, and its bare `ws` baseline server.
 *
 *   node scale-slaves.js slaves URL COUNT TOKEN [PREFIX]
 *       COUNT simulated slaves on one Olympus master: hello → register_slave → ready,
 *       then each answers `ping_request` with `ping_response {seq}` and sends
 *       heartbeats if `ready` asks for them. They are named PREFIX-0,
 *       PREFIX-1 …, with ids that differ per prefix.
 *   node scale-slaves.js bare-clients URL COUNT [PREFIX]
 *       COUNT plain ws clients of the bare server, answering pings the same way.
 *   node scale-slaves.js bare-server
 *       A bare `ws` WebSocketServer: clients at /slave/NAME, a control at /control
 *       whose `ping_request {slave}` is forwarded to that client and answered back,
 *       and whose `memory_request` is answered with process.memoryUsage().
 *       Prints "listening PORT".
 *
 * The clients print one JSON line when all are connected (or refused):
 * {"connected": n, "refused": {reason: count}, "ms": time}. On SIGTERM the
 * simulated slaves say `close` before they go, so the master forgets their
 * sessions at once instead of waiting for them to resume.
 */
import WebSocket, { WebSocketServer } from "ws";

/** Connections opened at once; more would only overflow the listen backlog. */
const CONNECT_CONCURRENCY = 50;

interface Frame {
  seq?: number | null;
  type: string;
  data: Record<string, unknown>;
}

/** Answers every ping_request on `socket`, numbering its own frames from `firstSeq`. */
function answerPings(socket: WebSocket, firstSeq: number): { nextSeq: () => number } {
  let seq = firstSeq;
  socket.on("message", (payload) => {
    const frame = JSON.parse(payload.toString()) as Frame;
    if (frame.type === "ping_request")
      socket.send(JSON.stringify({ seq: seq++, type: "ping_response", data: { seq: frame.seq } }));
  });
  return { nextSeq: () => seq++ };
}

/**
 * A master with sessions drops a peer that sends no heartbeat within twice
 * the interval `ready` gives, and keeps what it sent until acknowledged.
 */
function keepAlive(socket: WebSocket, ready: Frame): void {
  const interval = ready.data.heartbeat_interval;
  if (typeof interval !== "number") return;
  let lastFromMaster = typeof ready.seq === "number" ? ready.seq : 0;
  socket.on("message", (payload) => {
    const { seq } = JSON.parse(payload.toString()) as Frame;
    if (typeof seq === "number" && seq > lastFromMaster) lastFromMaster = seq;
  });
  const timer = setInterval(
    () => socket.send(JSON.stringify({ type: "heartbeat", data: { last_seq: lastFromMaster } })),
    (interval * 1000) / 2,
  );
  socket.on("close", () => clearInterval(timer));
}

/** Every registered slave, so SIGTERM can say goodbye for each. */
const goodbyes: (() => void)[] = [];

/** One simulated slave: resolves null once registered, or with the master's close reason. */
function olympusSlave(url: string, name: string, id: number, token: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    const onMessage = (payload: WebSocket.RawData) => {
      const frame = JSON.parse(payload.toString()) as Frame;
      if (frame.type === "hello") {
        socket.send(
          JSON.stringify({
            seq: 1,
            type: "register_slave",
            data: { agent: "bench/scale", version: "2.0.0", name, id, token },
          }),
        );
      } else if (frame.type === "ready") {
        socket.off("message", onMessage);
        const { nextSeq } = answerPings(socket, 2);
        keepAlive(socket, frame);
        goodbyes.push(() => {
          socket.send(JSON.stringify({ seq: nextSeq(), type: "close", data: { reason: "load generator done" } }));
          socket.close();
        });
        resolve(null);
      } else if (frame.type === "close") {
        resolve(String(frame.data.reason));
      }
    };
    socket.on("message", onMessage);
    socket.on("error", (error) => resolve(`socket error: ${error.message}`));
    socket.on("close", (code) => resolve(`closed (${code}) before ready`));
  });
}

function bareClient(url: string, name: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${url}/slave/${encodeURIComponent(name)}`);
    socket.on("open", () => {
      answerPings(socket, 1);
      resolve(null);
    });
    socket.on("error", (error) => resolve(`socket error: ${error.message}`));
  });
}

/** Opens `count` clients, CONNECT_CONCURRENCY at a time, and reports the outcome on stdout. */
async function connectAll(count: number, open: (index: number) => Promise<string | null>): Promise<void> {
  const began = performance.now();
  const refused = new Map<string, number>();
  let connected = 0;
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const reason = await open(next++);
      if (reason === null) connected++;
      else refused.set(reason, (refused.get(reason) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, lane));
  console.log(JSON.stringify({ connected, refused: Object.fromEntries(refused), ms: performance.now() - began }));
}

/** The bare relay: what the master does for a forwarded ping, with nothing but ws and JSON. */
function bareServer(): void {
  const slaves = new Map<string, WebSocket>();
  const waiting = new Map<number, { control: WebSocket; seq: unknown }>();
  let seq = 0;
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  server.on("connection", (socket, request) => {
    const path = request.url ?? "";
    if (path.startsWith("/slave/")) {
      const name = decodeURIComponent(path.slice("/slave/".length));
      slaves.set(name, socket);
      socket.on("close", () => slaves.delete(name));
      socket.on("message", (payload) => {
        const response = JSON.parse(payload.toString()) as Frame;
        const route = waiting.get(response.data.seq as number);
        if (route === undefined) return;
        waiting.delete(response.data.seq as number);
        route.control.send(JSON.stringify({ seq: ++seq, type: "ping_response", data: { seq: route.seq } }));
      });
      return;
    }
    socket.on("message", (payload) => {
      const request = JSON.parse(payload.toString()) as Frame;
      if (request.type === "memory_request")
        return void socket.send(
          JSON.stringify({ seq: ++seq, type: "memory_response", data: { seq: request.seq, ...process.memoryUsage() } }),
        );
      const slave = slaves.get(request.data.slave as string);
      if (slave === undefined)
        return void socket.send(
          JSON.stringify({ seq: ++seq, type: "ping_response", data: { seq: request.seq, error: "no such slave" } }),
        );
      waiting.set(++seq, { control: socket, seq: request.seq });
      slave.send(JSON.stringify({ seq, type: "ping_request", data: {} }));
    });
  });
  server.on("listening", () => console.log(`listening ${(server.address() as { port: number }).port}`));
}

process.on("SIGTERM", () => {
  for (const goodbye of goodbyes) goodbye();
  setTimeout(() => process.exit(0), 500);
});

const [role, url, countText, tokenOrPrefix, maybePrefix] = process.argv.slice(2);
const count = Number(countText);
if (role === "slaves" && url !== undefined && tokenOrPrefix !== undefined) {
  const prefix = maybePrefix ?? "sim";
  // Ids apart per prefix, so a second generator never replaces the first one's slaves.
  const idBase =
    1_000_000 * (1 + [...prefix].reduce((hash, char) => (hash * 31 + (char.codePointAt(0) as number)) % 1000, 7));
  await connectAll(count, (index) => olympusSlave(url, `${prefix}-${index}`, idBase + index, tokenOrPrefix));
} else if (role === "bare-clients" && url !== undefined) {
  const prefix = tokenOrPrefix ?? "sim";
  await connectAll(count, (index) => bareClient(url, `${prefix}-${index}`));
} else if (role === "bare-server") {
  bareServer();
} else {
  console.error(
    "usage: scale-slaves.js slaves URL COUNT TOKEN [PREFIX] | bare-clients URL COUNT [PREFIX] | bare-server",
  );
  process.exit(1);
}
