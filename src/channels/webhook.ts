// Signed webhooks in GitHub's style: a JSON body, `X-Timebox-Signature-256: sha256=<hex HMAC-SHA256 of the
// raw body>` with a shared secret, the event and a delivery id in headers. The body's schema is
// schemas/notify-webhook.schema.json; receivers verify as docs/notifications.md shows. Retries are the
// router's: this channel says which failures are worth one (network errors, 429, 5xx) and keeps the
// delivery id the same across them so a receiver can deduplicate.
import { createHmac, randomUUID } from 'node:crypto';
import { type Channel, type ChannelMessage, type DeliveryContext, DeliveryError } from './message.js';

export const WEBHOOK_SECRET_ENV = 'TIMEBOX_WEBHOOK_SECRET';
export const SIGNATURE_HEADER = 'X-Timebox-Signature-256';
export const EVENT_HEADER = 'X-Timebox-Event';
export const DELIVERY_HEADER = 'X-Timebox-Delivery';
export const WEBHOOK_BODY_VERSION = 1;

export interface WebhookChannelOptions {
  /** http(s) URL to POST to. */
  url: string;
  /** The shared HMAC secret (from the environment variable the `notify:` entry names). */
  secret: string;
  /** Tests may inject one; default the global fetch. */
  fetch?: typeof globalThis.fetch;
}

/** What a receiver gets (schemas/notify-webhook.schema.json). */
export interface WebhookBody {
  version: typeof WEBHOOK_BODY_VERSION;
  event: ChannelMessage['event'];
  key: string;
  resource: string;
  requester: string;
  title: string;
  text: string;
  fields: Record<string, string>;
  url?: string;
}

export class WebhookChannel implements Channel {
  readonly id: string;
  readonly #url: URL;
  readonly #secret: string;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: WebhookChannelOptions) {
    this.#url = new URL(options.url);
    if (this.#url.protocol !== 'https:' && this.#url.protocol !== 'http:')
      throw new Error(`webhook: not an http(s) URL: ${this.#url.protocol}`);
    if (!options.secret) throw new Error('webhook: empty secret');
    // The id shows in logs: no query string or user info, which may carry a token.
    this.id = `webhook:${this.#url.origin}${this.#url.pathname}`;
    this.#secret = options.secret;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  async deliver(message: ChannelMessage, context?: DeliveryContext): Promise<void> {
    const raw = JSON.stringify(webhookBody(message));
    let res: Response;
    try {
      res = await this.#fetch(this.#url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Timebox-Webhook/1',
          [EVENT_HEADER]: message.event,
          [DELIVERY_HEADER]: context?.id ?? randomUUID(),
          [SIGNATURE_HEADER]: sign(this.#secret, raw),
        },
        body: raw,
        // A redirect could carry the signed body somewhere else; the configured URL is the receiver.
        redirect: 'manual',
        ...(context?.signal ? { signal: context.signal } : {}),
      });
    } catch (error) {
      throw new DeliveryError(`webhook: ${describeFetchError(error)}`, true, undefined, { cause: error });
    }
    // Nothing in the answer is used; reading it lets the connection be reused.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return;
    const retryable = res.status === 429 || res.status >= 500;
    throw new DeliveryError(
      `webhook: HTTP ${res.status}`,
      retryable,
      retryAfterMs(res.headers.get('retry-after')),
    );
  }
}

export function webhookBody(message: ChannelMessage): WebhookBody {
  return {
    version: WEBHOOK_BODY_VERSION,
    event: message.event,
    key: message.key,
    resource: message.resource,
    requester: message.requester,
    title: message.title,
    text: message.text,
    fields: { ...message.fields },
    ...(message.url ? { url: message.url } : {}),
  };
}

/** The header value for `raw`: `sha256=` and the hex HMAC-SHA256 of exactly those bytes. */
export function sign(secret: string, raw: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

/** Retry-After in delta-seconds; the HTTP-date form would need the clock and is treated as absent. */
function retryAfterMs(value: string | null): number | undefined {
  if (!value || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `${error.message} (${cause.code})` : error.message;
}
