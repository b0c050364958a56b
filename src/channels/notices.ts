// The engine's notices (src/engine/notices) as channel messages, and a notifier for the engine's list that
// hands them to the channels' router. `notify` only queues (ChannelRouter.dispatch), so the engine's `emit`, which
// awaits each notifier in turn, is never held up by Slack, mail or a webhook.
//
// Only notices that say which request they are about (its pull request, resource and requester) map to a
// message; the others are for the pull request and alarm issues only, for now (see docs/notifications.md).
import type { Decision } from '../core/model.js';
import type { Notice } from '../engine/notices/notice.js';
import type { Delivery, Notifier as EngineNotifier } from '../engine/notices/notifier.js';
import type { ChannelMessage } from './message.js';
import type { ChannelRouter } from './router.js';

export interface NoticeContext {
  /** `owner/name` of the access repository. */
  repo: string;
  /** The forge's web address, for links. Default https://github.com. */
  webUrl?: string;
}

/** The channel messages for `notice`: none, or one per request it is about. Never carries credentials. */
export function toChannelMessages(notice: Notice, ctx: NoticeContext): ChannelMessage[] {
  const pullUrl = (pull: number) => `${ctx.webUrl ?? 'https://github.com'}/${ctx.repo}/pull/${pull}`;
  const key = (pull: number, file: string) => `${ctx.repo}#${pull}:${file}`;
  switch (notice.kind) {
    case 'pull-summary':
      return notice.decisions.flatMap((d) => fromDecision(d, key(notice.pull, d.file), pullUrl(notice.pull)));
    case 'granted': {
      const g = notice.grant;
      // `credentials` (sealed as they are) stay on the pull request: a channel gets that they exist, not them.
      return [
        {
          key: key(notice.pull, g.file),
          event: 'granted',
          resource: g.resource,
          requester: g.requester,
          title: `Access granted: ${g.requester} → ${g.resource} (${g.role})`,
          text: `${g.requester} has ${g.role} on ${g.resource} as ${notice.principal}. The credentials are sealed on the pull request.`,
          fields: { Role: g.role, Until: iso(notice.expiresAt), Principal: notice.principal },
          url: pullUrl(notice.pull),
        },
      ];
    }
    case 'reminder': {
      const g = notice.grant;
      return [
        {
          key: key(notice.pull, g.file),
          event: 'reminder',
          resource: g.resource,
          requester: g.requester,
          title: `Access ends soon: ${g.requester} → ${g.resource} (${g.role})`,
          text: `${g.requester}'s ${g.role} on ${g.resource} ends at ${iso(notice.endsAt)}.`,
          fields: { Role: g.role, Until: iso(notice.endsAt) },
          url: pullUrl(notice.pull),
        },
      ];
    }
    default:
      return [];
  }
}

function fromDecision(d: Decision, key: string, url: string): ChannelMessage[] {
  const r = d.request;
  if (!r || d.change === 'removed' || (d.status !== 'pending' && d.status !== 'approved')) return [];
  const approved = d.status === 'approved';
  const fields: Record<string, string> = { Role: r.role };
  if (r.duration) fields.Duration = r.duration;
  if (r.until) fields.Until = r.until;
  if (r.ticket) fields.Ticket = r.ticket;
  return [
    {
      key,
      event: approved ? 'approved' : 'opened',
      resource: r.resource,
      requester: r.requester,
      title: `${approved ? 'Access approved' : 'Access requested'}: ${r.requester} → ${r.resource} (${r.role})`,
      text: `Reason: ${r.reason}`,
      fields,
      url,
    },
  ];
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/** Requests whose last event is remembered, so a re-emitted summary is not sent again. */
const REMEMBERED = 10_000;

/**
 * What was last sent per request, so that a re-emitted pull request summary is not sent again (remembered in
 * memory: after a restart the current state may be sent once more).
 */
export class SentEvents {
  readonly #last = new Map<string, ChannelMessage['event']>();

  /** Whether `m` says something new about its request (and remembers it). */
  fresh(m: ChannelMessage): boolean {
    if (this.#last.get(m.key) === m.event) return false;
    this.#last.delete(m.key);
    this.#last.set(m.key, m.event);
    if (this.#last.size > REMEMBERED) this.#last.delete(this.#last.keys().next().value as string);
    return true;
  }
}

/**
 * A notifier for the engine's list (`noticesFor(forge, bot, [channelsNotifier(…)])`). The pull request
 * summary is emitted again on every push and review; a request's event is sent once, when it changes.
 */
export function channelsNotifier(router: ChannelRouter, ctx: NoticeContext): EngineNotifier {
  const sent = new SentEvents();
  return {
    name: 'channels',
    async notify(notice): Promise<Delivery | undefined> {
      for (const m of toChannelMessages(notice, ctx)) if (sent.fresh(m)) router.dispatch(m);
      return undefined;
    },
  };
}
