// The demo's webhook receiver: what a team's own service does with Timebox's signed webhooks
// (docs/notifications.md, "Verifying the signature"): recompute the HMAC-SHA256 of the raw body with the shared
// secret, compare in constant time, refuse (401) what does not match, keep what does.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the receiver got: the webhook body (schemas/notify-webhook.schema.json) of a correctly signed delivery. */
export interface ReceivedNotice {
  event: string;
  resource: string;
  requester: string;
  title: string;
  fields: Record<string, string>;
}

export class DemoReceiver {
  /** The shared secret, as `TIMEBOX_WEBHOOK_SECRET` holds it. */
  readonly secret = randomBytes(32).toString('hex');
  readonly received: ReceivedNotice[] = [];
  /** Deliveries refused for their signature (none, when all is well). */
  refused = 0;
  url = '';
  readonly #server: Server;
  readonly #waiters: { event: string; resolve: (n: ReceivedNotice) => void }[] = [];

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        if (!this.#verify(raw, req.headers['x-timebox-signature-256'])) {
          this.refused++;
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200).end();
        this.#keep(JSON.parse(raw.toString('utf8')) as ReceivedNotice);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/timebox`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The first notice of `event`, received already or when it comes. */
  next(event: string): Promise<ReceivedNotice> {
    const seen = this.received.find((n) => n.event === event);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ event, resolve }));
  }

  #keep(notice: ReceivedNotice): void {
    this.received.push(notice);
    for (const w of this.#waiters.filter((x) => x.event === notice.event)) {
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve(notice);
    }
  }

  #verify(raw: Buffer, header: string | string[] | undefined): boolean {
    if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
    const expected = Buffer.from(createHmac('sha256', this.secret).update(raw).digest('hex'));
    const given = Buffer.from(header.slice('sha256='.length));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
