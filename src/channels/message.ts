// What a delivery channel carries. Channels know nothing of the engine's notice types: an adapter turns a
// notice into a ChannelMessage, so Slack, e-mail and webhooks can be tested (and replaced) on their own.

/** The events a `notify:` entry can select (SPEC "Notifications and on-call"). */
export const NOTIFY_EVENTS = [
  'opened',
  'approved',
  'granted',
  'reminder',
  'expired',
  'revocation_failing',
  'break_glass',
  'unratified',
] as const;

export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export interface ChannelMessage {
  /**
   * One thread per request (e.g. `acme/access#42` or the request file's path): Slack updates one message per
   * key, e-mail threads on it, webhooks carry it so a receiver can correlate.
   */
  key: string;
  event: NotifyEvent;
  /** The resource id the request is for; `notify:` globs match it. */
  resource: string;
  /** The requester's GitHub login. */
  requester: string;
  /** One line, e.g. "Access granted: alice → prod-db (read) until 14:00 UTC". */
  title: string;
  /** Plain text with light Markdown (`*bold*`, line breaks); never HTML. */
  text: string;
  /** Short labelled facts (role, until, approvers…), shown as a table where the channel can. */
  fields: Record<string, string>;
  /** Where to look: the request PR. */
  url?: string;
}

/** Per-delivery facts the router hands a channel; the same across retries of one delivery. */
export interface DeliveryContext {
  /** Unique per (message, channel) delivery; receivers deduplicate retries with it. */
  id: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborted when the router gives up waiting for this attempt. */
  signal?: AbortSignal;
}

export interface Channel {
  /** Stable and free of secrets, e.g. `slack:C0123ABCD`, `email:oncall@example.com`, `webhook:https://…`. */
  readonly id: string;
  /** Resolves when delivered; rejects (preferably with a DeliveryError) when not. */
  deliver(message: ChannelMessage, context?: DeliveryContext): Promise<void>;
  /** Releases connections; called by the router's `close` after its queues drain. */
  close?(): void | Promise<void>;
}

/** A failed delivery, saying whether trying again can help. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    message: string,
    readonly retryable: boolean,
    /** The remote side asked to wait this long (HTTP Retry-After, Slack rate limits). */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Whether an error from `deliver` is worth retrying: DeliveryError says so; anything else is assumed transient. */
export function isRetryable(error: unknown): boolean {
  return error instanceof DeliveryError ? error.retryable : true;
}

// Credentials are only ever sealed on the PR (SPEC "Credentials"); a notice that looks like it carries one is
// a bug upstream, so it is refused rather than sent to a chat room or an inbox. The patterns are deliberately
// broad: a false positive costs one notice (logged), a false negative leaks a credential.
const SECRET_PATTERNS: [RegExp, string][] = [
  [/-----BEGIN [A-Z0-9 ]*(PRIVATE KEY|AGE ENCRYPTED FILE|PGP MESSAGE)/, 'an armored key or ciphertext'],
  [/AGE-SECRET-KEY-1[0-9A-Z]+/, 'an age identity'],
  [/\bxox[abprs]-[0-9A-Za-z-]{8,}/, 'a Slack token'],
  [/\b(gh[pousr]_[0-9A-Za-z]{20,}|github_pat_[0-9A-Za-z_]{20,})/, 'a GitHub token'],
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i, 'a URL with a password'],
  [/\b(password|passwd|pwd|secret|api[_-]?key|token)\s*[:=]\s*\S/i, 'a password assignment'],
];
const SECRET_FIELD_NAMES = /^(password|passwd|secret|token|api[_-]?key|credentials?|private[_-]?key)$/i;

/** Why `message` looks like it carries a secret, or undefined. Says where, never what. */
export function findSecret(message: ChannelMessage): string | undefined {
  const parts: [string, string][] = [
    ['title', message.title],
    ['text', message.text],
    ['url', message.url ?? ''],
    ['key', message.key],
  ];
  for (const [name, value] of Object.entries(message.fields)) {
    if (SECRET_FIELD_NAMES.test(name.trim())) return `field "${name}" is named like a secret`;
    parts.push([`field "${name}"`, `${name}: ${value}`]);
  }
  for (const [where, value] of parts)
    for (const [pattern, what] of SECRET_PATTERNS)
      if (pattern.test(value)) return `${where} contains ${what}`;
  return undefined;
}
