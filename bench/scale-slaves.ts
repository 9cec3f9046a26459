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
import { type WebSocket, WebSocketServer } from "ws";
import { RawClient, type RawFrame } from "../test/helpers/raw-client.js";

/** Connections opened at once; more would only overflow the listen backlog. */
const CONNECT_CONCURRENCY = 50;
/** Registration may wait behind many others on a loaded machine. */
const REGISTER_TIMEOUT_MS = 60_000;

/** Answers every ping_request the client gets. */
function answerPings(client: RawClient): void {
  client.onFrame((frame) => {
    if (frame.type !== "ping_request") return false;
    client.respond(frame);
    return true;
  });
}

/** Every registered slave, so SIGTERM can say goodbye for each. */
const goodbyes: (() => void)[] = [];

/** One simulated slave: resolves null once registered, or with why it was not. */
async function olympusSlave(url: string, name: string, id: number, token: string): Promise<string | null> {
  try {
    const client = await RawClient.open(url);
    await client.registerSlave(token, name, id, "bench/scale", REGISTER_TIMEOUT_MS);
    answerPings(client);
    goodbyes.push(() => client.close("load generator done"));
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

async function bareClient(url: string, name: string): Promise<string | null> {
  try {
    answerPings(await RawClient.open(`${url}/slave/${encodeURIComponent(name)}`, { hello: false }));
    return null;
  } catch (error) {
    return `socket error: ${(error as Error).message}`;
  }
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
        const response = JSON.parse(payload.toString()) as RawFrame;
        const route = waiting.get(response.data.seq as number);
        if (route === undefined) return;
        waiting.delete(response.data.seq as number);
        route.control.send(JSON.stringify({ seq: ++seq, type: "ping_response", data: { seq: route.seq } }));
      });
      return;
    }
    socket.on("message", (payload) => {
      const request = JSON.parse(payload.toString()) as RawFrame;
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
