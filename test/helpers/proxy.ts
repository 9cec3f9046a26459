import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy whose connections can be cut at will, as a flaky network would:
 * closed (`cutAll`), or silenced (`silence` until `restore`), as a Wi-Fi drop
 * is, where neither end hears of it and bytes in flight arrive later.
 */
export class CuttableProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  private silenced = false;
  /** Connections accepted while silenced: they reach the target once restored. */
  private held: Socket[] = [];

  private constructor(
    private readonly server: Server,
    private readonly targetPort: number,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<CuttableProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const proxy = new CuttableProxy(server, targetPort, (server.address() as { port: number }).port);
    server.on("connection", (client) => {
      if (!proxy.silenced) return proxy.forward(client);
      client.on("error", () => client.destroy());
      proxy.held.push(client);
    });
    return proxy;
  }

  private forward(client: Socket): void {
    if (client.destroyed) return;
    const upstream = connect(this.targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const forget = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of pair) {
      socket.on("error", forget);
      socket.on("close", forget);
    }
  }

  /** Destroys every connection now open, and says how many; new ones are accepted as before. */
  cutAll(): number {
    const cut = this.pairs.size;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    return cut;
  }

  /**
   * Stops every byte, both ways, without closing anything: open connections
   * stop reading (what is sent waits in the kernel's buffers), and new ones
   * are held before they reach the target, unless `newConnections` is
   * "carry" (only the sockets open now went silent). Says how many were silenced.
   */
  silence({ newConnections = "hold" }: { newConnections?: "hold" | "carry" } = {}): number {
    this.silenced = newConnections === "hold";
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    return this.pairs.size;
  }

  /** Lets the bytes flow again, those held included. */
  restore(): void {
    this.silenced = false;
    for (const [client, upstream] of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    for (const client of this.held.splice(0)) this.forward(client);
  }

  close(): void {
    this.cutAll();
    for (const client of this.held.splice(0)) client.destroy();
    this.server.close();
  }
}
