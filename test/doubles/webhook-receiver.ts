// A local webhook receiver that does what docs/notifications.md tells receivers to do: recompute the
// HMAC-SHA256 of the raw body and compare it in constant time (401 when it does not match), then check the
// body against schemas/notify-webhook.schema.json (422 when it does not). It can fail the first N deliveries,
// and it can hold a delivery until released (a receiver that hangs).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';

const schema = JSON.parse(
  readFileSync(new URL('../../schemas/notify-webhook.schema.json', import.meta.url), 'utf8'),
) as object;
const ajv = new Ajv({ allErrors: true, strict: true });
addFormats.default(ajv);
const validateBody = ajv.compile(schema);

export interface WebhookDelivery {
  headers: IncomingHttpHeaders;
  raw: string;
  body: unknown;
  /** The signature matched the secret. */
  signed: boolean;
  /** What the receiver answered. */
  status: number;
}

export class WebhookReceiver {
  readonly deliveries: WebhookDelivery[] = [];
  /** Problems with bodies that were signed correctly: a passing test leaves this empty. */
  readonly schemaErrors: string[] = [];
  url = '';
  readonly #server: Server;
  #failures: { count: number; status: number; retryAfter?: number } = { count: 0, status: 503 };
  #holding = false;
  readonly #held: (() => void)[] = [];
  readonly #waiters: { test: (d: WebhookDelivery) => boolean; resolve: (d: WebhookDelivery) => void }[] = [];

  constructor(readonly secret: string) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rawBytes = Buffer.concat(chunks);
        const finish = () => {
          const status = this.#answer(req.headers, rawBytes);
          const headers: Record<string, string> = {};
          if (status !== 200 && this.#failures.retryAfter !== undefined)
            headers['retry-after'] = String(this.#failures.retryAfter);
          res.writeHead(status, headers).end();
        };
        if (this.#holding) this.#held.push(finish);
        else finish();
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hooks/timebox`;
    return this;
  }

  async stop(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Answer the next `count` correctly signed deliveries with `status` (default 503). */
  failFirst(count: number, status = 503, retryAfter?: number): void {
    this.#failures = { count, status, ...(retryAfter === undefined ? {} : { retryAfter }) };
  }

  /** Hold every delivery unanswered until `release`. */
  hold(): void {
    this.#holding = true;
  }

  /** Answers the held deliveries and stops holding. */
  release(): void {
    this.#holding = false;
    for (const finish of this.#held.splice(0)) finish();
  }

  /** Resolves with the first delivery (already received or yet to come) matching `test`: waits by events. */
  next(test: (d: WebhookDelivery) => boolean): Promise<WebhookDelivery> {
    const seen = this.deliveries.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  get held(): number {
    return this.#held.length;
  }

  #answer(headers: IncomingHttpHeaders, rawBytes: Buffer): number {
    const raw = rawBytes.toString('utf8');
    const signed = verify(this.secret, rawBytes, headers['x-timebox-signature-256']);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    let status = 200;
    if (!signed) status = 401;
    else if (!validateBody(body)) {
      this.schemaErrors.push(ajv.errorsText(validateBody.errors));
      status = 422;
    } else if (this.#failures.count > 0) {
      this.#failures.count--;
      status = this.#failures.status;
    }
    const delivery = { headers, raw, body, signed, status };
    this.deliveries.push(delivery);
    for (const w of this.#waiters.filter((x) => x.test(delivery))) {
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve(delivery);
    }
    return status;
  }
}

/** The receiver side of the signature, as docs/notifications.md shows it. */
export function verify(secret: string, raw: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'), 'utf8');
  const given = Buffer.from(header.slice('sha256='.length), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
