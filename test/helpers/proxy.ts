import { connect, createServer, type Server, type Socket } from "node:net";

/** A TCP proxy whose connections can be cut at will, as a flaky network would. */
export class CuttableProxy {
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<CuttableProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const proxy = new CuttableProxy(server, (server.address() as { port: number }).port);
    server.on("connection", (client) => {
      const upstream = connect(targetPort, "127.0.0.1");
      const pair: [Socket, Socket] = [client, upstream];
      proxy.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const forget = () => {
        proxy.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      for (const socket of pair) {
        socket.on("error", forget);
        socket.on("close", forget);
      }
    });
    return proxy;
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
   * Stops carrying bytes on every connection now open, without closing any,
   * as a network that went silent would; says how many. New ones are
   * carried as before.
   */
  freezeAll(): number {
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
    return this.pairs.size;
  }

  close(): void {
    this.cutAll();
    this.server.close();
  }
}
