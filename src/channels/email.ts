// E-mail through nodemailer over SMTP. Each request is one thread in a mail client: the "opened" mail's
// Message-ID is derived from the request key, and every later mail of that request names it in In-Reply-To and
// References (so the thread holds together even when "opened" was not routed to this address).
import { createHash, randomUUID } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import nodemailer, { type Transporter } from 'nodemailer';
import { type Channel, type ChannelMessage, type DeliveryContext, DeliveryError } from './message.js';

export const SMTP_URL_ENV = 'TIMEBOX_SMTP_URL';
export const SMTP_FROM_ENV = 'TIMEBOX_SMTP_FROM';

export interface EmailChannelOptions {
  to: string[];
  /** `Timebox <timebox@example.com>` or a bare address; its domain also names the Message-IDs. */
  from: string;
  /**
   * `smtp://user:pass@host:587` (STARTTLS when offered; add `?requireTLS=true` to insist) or
   * `smtps://…:465` (TLS from the start); from TIMEBOX_SMTP_URL.
   */
  url: string;
  /** Extra TLS settings (tests pin their own CA here); production relies on the system's CAs. */
  tls?: ConnectionOptions;
}

export class EmailChannel implements Channel {
  readonly id: string;
  readonly #to: string[];
  readonly #from: string;
  readonly #domain: string;
  readonly #transport: Transporter;

  constructor(options: EmailChannelOptions) {
    if (options.to.length === 0) throw new Error('email channel: no recipients');
    this.id = `email:${options.to.join(',')}`;
    this.#to = options.to;
    this.#from = options.from;
    this.#domain = /@([^>\s]+)>?\s*$/.exec(options.from)?.[1] ?? 'timebox.invalid';
    this.#transport = nodemailer.createTransport({
      url: options.url,
      ...(options.tls ? { tls: options.tls } : {}),
      // Fail an attempt in bounded time; the router retries.
      connectionTimeout: 20_000,
      greetingTimeout: 20_000,
      socketTimeout: 30_000,
    } as Parameters<typeof nodemailer.createTransport>[0]);
  }

  /** The thread's root Message-ID: the same for every mail about `key`. */
  threadId(key: string): string {
    return `<timebox.${digest(key)}@${this.#domain}>`;
  }

  async deliver(message: ChannelMessage, context?: DeliveryContext): Promise<void> {
    const root = this.threadId(message.key);
    // Retries of one delivery reuse its Message-ID, so a server that accepted a timed-out attempt dedupes.
    const messageId =
      message.event === 'opened'
        ? root
        : `<timebox.${digest(message.key)}.${message.event}.${context?.id ?? randomUUID()}@${this.#domain}>`;
    try {
      await this.#transport.sendMail({
        from: this.#from,
        to: this.#to,
        subject: `[timebox] ${message.title}`,
        text: renderText(message),
        messageId,
        ...(messageId === root ? {} : { inReplyTo: root, references: [root] }),
        headers: {
          // RFC 3834: vacation responders and the like do not answer this mail.
          'Auto-Submitted': 'auto-generated',
          'X-Timebox-Event': message.event,
          'X-Timebox-Request': message.key,
        },
      });
    } catch (error) {
      throw smtpFailure(error);
    }
  }

  close(): void {
    this.#transport.close();
  }
}

export function renderText(message: ChannelMessage): string {
  const rows = [
    ['Requester', message.requester],
    ['Resource', message.resource],
    ...Object.entries(message.fields),
  ];
  const width = Math.max(...rows.map(([k]) => (k as string).length));
  return [
    message.title,
    '',
    message.text,
    '',
    ...rows.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`),
    ...(message.url ? ['', message.url] : []),
    '',
    '-- ',
    `Timebox · ${message.event.replace(/_/g, ' ')}`,
    '',
  ].join('\n');
}

function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 24);
}

// Connection-level failures pass; SMTP 4xx replies are temporary by definition (RFC 5321 §4.2.1), 5xx and a
// refused login need a person.
function smtpFailure(error: unknown): DeliveryError {
  const e = error as { code?: string; responseCode?: number; message?: string };
  const detail = e?.message ?? String(error);
  let retryable = true;
  if (typeof e?.responseCode === 'number') retryable = e.responseCode < 500;
  else if (e?.code === 'EAUTH' || e?.code === 'EENVELOPE') retryable = false;
  return new DeliveryError(`SMTP: ${detail}`, retryable, undefined, { cause: error });
}
