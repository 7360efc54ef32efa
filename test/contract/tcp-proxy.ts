/**
 * A TCP proxy in front of a real server, for fault injection without touching the server itself
 * (other test files share it): `down()` refuses and cuts every connection, `stall()` holds the
 * bytes (a hung server: nothing is lost, replies just stop), `up()`/`resume()` undo them, and
 * `delayMs` forwards every byte that much later (a slow network; order kept).
 */
import net from 'node:net';

export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<net.Socket>();
  readonly #held: (() => void)[] = [];
  #server: net.Server | undefined;
  #stalled = false;
  port = 0;
  /** Forward every chunk this many ms late, in both directions (timers of one delay fire in order). */
  delayMs = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  static async start(targetUrl: string): Promise<TcpProxy> {
    const u = new URL(targetUrl);
    const proxy = new TcpProxy({ host: u.hostname, port: Number(u.port) });
    await proxy.up();
    return proxy;
  }

  /** Listen (again, on the same port once one was chosen). */
  async up(): Promise<void> {
    const server = net.createServer((client) => this.#pipe(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  /** Stop listening and cut every open connection: the server looks dead. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Hold every byte from now on, in both directions, until `resume()`. */
  stall(): void {
    this.#stalled = true;
  }

  resume(): void {
    this.#stalled = false;
    for (const release of this.#held.splice(0)) release();
  }

  #pipe(client: net.Socket): void {
    const upstream = net.connect(this.#target.port, this.#target.host);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    const forward = (to: net.Socket) => (chunk: Buffer) => {
      if (this.#stalled) this.#held.push(() => to.write(chunk));
      else if (this.delayMs > 0) setTimeout(() => to.write(chunk), this.delayMs);
      else to.write(chunk);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
  }
}
