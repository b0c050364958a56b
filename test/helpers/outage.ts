// A TCP proxy in front of a database that a test can take down (every connection cut, new ones refused)
// and bring back on the same port: the database "goes away" for the code under test only.
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

export class Outage {
  readonly #server = createServer((client) => {
    const upstream = connect(this.#upstream.port, this.#upstream.host);
    this.#sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  readonly #sockets = new Set<Socket>();
  readonly #upstream: { host: string; port: number };
  port = 0;

  /** `url`: the database behind the proxy. */
  constructor(url: string) {
    const u = new URL(url);
    this.#upstream = { host: u.hostname || '127.0.0.1', port: Number(u.port || 5432) };
  }

  async up(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.#server.address() as AddressInfo).port;
  }

  async down(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** `dbUrl` with the proxy's address in place of the database's. */
  url(dbUrl: string): string {
    const u = new URL(dbUrl);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }
}
