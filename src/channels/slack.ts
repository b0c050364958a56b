// Slack: one message per request in the routed channel, edited in place as the request moves
// (opened → approved → granted → expired), so a channel shows each request once, in its current state. An edit
// notifies nobody, so the alarms (break-glass, revocation failing, unratified) are also posted as a reply in
// the request's thread, broadcast to the channel (`reply_broadcast`).
//
// Finding a request's message again: the `ts` of each key's message is kept in memory, and every message is
// posted with Slack message metadata `{ event_type: "timebox_request", event_payload: { key, file_key } }`.
// After a restart (or on another replica) a key not in memory is looked up with `conversations.history`
// (`include_all_metadata`), newest first, over the last `historyPages` pages of 200 messages; a key of the
// request file alone (`file_key`: its pull request not known) matches that file's newest message. A request
// older than that gets a new message. Nothing is stored outside Slack, so this works the same with or without a
// database. Scopes (docs/notifications.md): `chat:write`, plus `channels:history` (public channel) or
// `groups:history` (private channel) for the look-up; the app must be a member of the channel.
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebClient,
} from '@slack/web-api';
import { type Channel, type ChannelMessage, DeliveryError, type NotifyEvent } from './message.js';
import { fileKeyOf } from './notices.js';

export const SLACK_TOKEN_ENV = 'TIMEBOX_SLACK_TOKEN';
export const SLACK_METADATA_TYPE = 'timebox_request';

export interface SlackChannelOptions {
  /** The channel's ID (`C…` public, `G…`/`C…` private): history look-ups need the ID, not a `#name`. */
  channel: string;
  /** A bot token (`xoxb-…`), from TIMEBOX_SLACK_TOKEN. */
  token: string;
  /** GitHub login → Slack user ID (`U…`/`W…`), to mention requesters. Logins match case-insensitively. */
  users?: Record<string, string>;
  /** Tests point this at the Slack double. Default https://slack.com/api/. */
  slackApiUrl?: string;
  /** Pages of 200 messages searched for a key's message after a restart. Default 5. */
  historyPages?: number;
}

// Slack error codes that describe a passing condition on Slack's side; everything else (bad token, unknown
// channel, not a member, …) needs a person, so retrying only delays the log line that says so.
const TRANSIENT = new Set([
  'ratelimited',
  'rate_limited',
  'request_timeout',
  'fatal_error',
  'internal_error',
  'service_unavailable',
]);
/** Events that must reach people: besides editing the request's message, posted as a broadcast thread reply. */
export const ALERTS: ReadonlySet<NotifyEvent> = new Set(['break_glass', 'revocation_failing', 'unratified']);

// chat.update cannot edit this message any more (deleted, or not ours): post a fresh one instead.
const GONE = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

export class SlackChannel implements Channel {
  readonly id: string;
  readonly #client: WebClient;
  readonly #channel: string;
  readonly #users: Map<string, string>;
  readonly #historyPages: number;
  /** key → ts of that request's message. */
  readonly #posted = new Map<string, string>();
  #canLookUp = true;

  constructor(options: SlackChannelOptions) {
    this.id = `slack:${options.channel}`;
    this.#channel = options.channel;
    this.#users = new Map(
      Object.entries(options.users ?? {}).map(([login, id]) => [login.toLowerCase(), id]),
    );
    this.#historyPages = Math.max(0, options.historyPages ?? 5);
    this.#client = new WebClient(options.token, {
      ...(options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {}),
      // Retries (and their waiting) are the router's, on its clock; the client only reports.
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      logLevel: LogLevel.ERROR,
      timeout: 30_000,
    });
  }

  async deliver(message: ChannelMessage): Promise<void> {
    try {
      const content = this.render(message);
      const ts = this.#posted.get(message.key) ?? (await this.#find(message.key));
      if (ts) {
        try {
          await this.#client.chat.update({ channel: this.#channel, ts, ...content });
          this.#posted.set(message.key, ts);
          // An edit notifies nobody: an alarm is also said in the request's thread, broadcast to the channel.
          if (ALERTS.has(message.event))
            await this.#client.chat.postMessage({
              channel: this.#channel,
              thread_ts: ts,
              reply_broadcast: true,
              text: content.text,
              blocks: content.blocks,
              unfurl_links: false,
              unfurl_media: false,
            });
          return;
        } catch (error) {
          if (!(error instanceof WebAPIPlatformError && GONE.has(error.data.error))) throw error;
          this.#posted.delete(message.key);
        }
      }
      const posted = await this.#client.chat.postMessage({
        channel: this.#channel,
        ...content,
        unfurl_links: false,
        unfurl_media: false,
      });
      if (typeof posted.ts === 'string') this.#posted.set(message.key, posted.ts);
    } catch (error) {
      throw slackFailure(error);
    }
  }

  /** The message's text (what notifications and screen readers show), blocks and metadata marker. */
  render(message: ChannelMessage) {
    const requester = this.mention(message.requester);
    const title = message.url
      ? `<${linkTarget(message.url)}|${escapeMrkdwn(message.title)}>`
      : escapeMrkdwn(message.title);
    const fields = [
      ['Requester', requester],
      ['Resource', escapeMrkdwn(message.resource)],
      ...Object.entries(message.fields).map(([k, v]) => [escapeMrkdwn(k), escapeMrkdwn(v)]),
    ].slice(0, 10);
    return {
      text: `${escapeMrkdwn(message.title)} (${requester})`,
      blocks: [
        {
          type: 'section',
          text: { type: 'mrkdwn', text: clip(`*${title}*\n${escapeMrkdwn(message.text)}`, 3000) },
        },
        {
          type: 'section',
          fields: fields.map(([k, v]) => ({ type: 'mrkdwn', text: clip(`*${k}*\n${v}`, 2000) })),
        },
        {
          type: 'context',
          elements: [{ type: 'mrkdwn', text: `Timebox · ${message.event.replace(/_/g, ' ')}` }],
        },
      ],
      metadata: {
        event_type: SLACK_METADATA_TYPE,
        event_payload: { key: message.key, event: message.event, ...fileKey(message.key) },
      },
    };
  }

  /** `<@U…>` for a mapped login (Slack notifies that person), the escaped login otherwise. */
  mention(login: string): string {
    const user = this.#users.get(login.toLowerCase());
    return user ? `<@${user}>` : escapeMrkdwn(login);
  }

  async #find(key: string): Promise<string | undefined> {
    let cursor: string | undefined;
    for (let page = 0; page < this.#historyPages && this.#canLookUp; page++) {
      let res: Awaited<ReturnType<WebClient['conversations']['history']>>;
      try {
        res = await this.#client.conversations.history({
          channel: this.#channel,
          limit: 200,
          include_all_metadata: true,
          ...(cursor ? { cursor } : {}),
        });
      } catch (error) {
        // Without channels:history/groups:history a restart costs a second message per open request, which
        // is better than no message at all; the scope is not asked for again.
        if (error instanceof WebAPIPlatformError && error.data.error === 'missing_scope') {
          this.#canLookUp = false;
          return undefined;
        }
        throw error;
      }
      for (const m of res.messages ?? []) {
        const meta = (
          m as { metadata?: { event_type?: string; event_payload?: { key?: unknown; file_key?: unknown } } }
        ).metadata;
        const payload = meta?.event_payload;
        // A key naming only the request file (the notice's request pull request is not known after a restart)
        // finds the newest message about that file.
        if (
          meta?.event_type === SLACK_METADATA_TYPE &&
          (payload?.key === key || payload?.file_key === key) &&
          m.ts
        ) {
          this.#posted.set(key, m.ts);
          return m.ts;
        }
      }
      cursor = res.response_metadata?.next_cursor || undefined;
      if (!res.has_more || !cursor) return undefined;
    }
    return undefined;
  }
}

/** `{ file_key }` for a key naming its request pull request: the key of the file alone finds the message too. */
function fileKey(key: string): { file_key?: string } {
  const k = fileKeyOf(key);
  return k ? { file_key: k } : {};
}

function slackFailure(error: unknown): DeliveryError {
  if (error instanceof DeliveryError) return error;
  if (error instanceof WebAPIRateLimitedError)
    return new DeliveryError('Slack: rate limited', true, error.retryAfter * 1000, { cause: error });
  if (error instanceof WebAPIPlatformError) {
    const code = error.data.error;
    return new DeliveryError(`Slack: ${code}`, TRANSIENT.has(code), undefined, { cause: error });
  }
  if (error instanceof WebAPIHTTPError) {
    const retryable = error.statusCode >= 500 || error.statusCode === 429;
    return new DeliveryError(`Slack: HTTP ${error.statusCode}`, retryable, undefined, { cause: error });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new DeliveryError(`Slack: ${detail}`, true, undefined, { cause: error });
}

/** Slack's three control characters in mrkdwn (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function linkTarget(url: string): string {
  return url.replace(/[<>| ]/g, (c) => encodeURIComponent(c));
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
