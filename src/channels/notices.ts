// The engine's notices (src/engine/notices) as channel messages, and a notifier for the engine's list that
// hands them to the channels' router. `notify` only queues (ChannelRouter.dispatch), so the engine's `emit`, which
// awaits each notifier in turn, is never held up by Slack, mail or a webhook.
//
// The SPEC's events (docs/notifications.md has the table): the pull request summary → opened / approved,
// granted, reminder, reverted → expired, revocation-failing → revocation_failing, break-glass, unratified.
// The rest (refusals, no keys, stale closes, …) are for the pull request and alarm issues only.
import type { Decision } from '../core/model.js';
import type { Notice, NoticeGrant } from '../engine/notices/notice.js';
import type { Delivery, Notifier as EngineNotifier } from '../engine/notices/notifier.js';
import type { ChannelMessage } from './message.js';
import type { ChannelRouter } from './router.js';

export interface NoticeContext {
  /** `owner/name` of the access repository. */
  repo: string;
  /** The forge's web address, for links. Default https://github.com. */
  webUrl?: string;
  /**
   * The request a file was last known as (its message key, resource, requester, role), for the notices that
   * name only the file (`reverted`, `revocation-failing` from older emitters): `RequestMemory.get`, or what
   * the caller read from the forge.
   */
  request?(file: string): RequestRef | undefined;
}

/** What a channel message needs to know about the request a notice is about. */
export interface RequestRef {
  key: string;
  resource: string;
  requester: string;
  role: string;
  /** The request pull request. */
  url?: string;
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
    case 'reverted': {
      const r = requestOf(notice.file, notice.grant, notice.requestPull, ctx);
      const expired = notice.reason === 'expired';
      return [
        {
          key: r.key,
          event: 'expired',
          resource: r.resource,
          requester: r.requester,
          title: `${expired ? 'Access expired' : 'Access ended'}: ${who(r)}`,
          text: `${r.requester === UNKNOWN ? 'The requester' : r.requester}'s access${r.role ? ` (${r.role} on ${r.resource})` : ''} has ended (${redact(notice.reason)}): it is revoked, and the request file was removed with #${notice.pull}.`,
          fields: {
            ...(r.role ? { Role: r.role } : {}),
            Ended: redact(notice.reason),
            Removal: `#${notice.pull}${notice.merged ? '' : ' (not merged)'}`,
            File: notice.file,
          },
          url: r.url ?? pullUrl(notice.pull),
        },
      ];
    }
    case 'revocation-failing': {
      const r = requestOf(notice.file, notice.grant, notice.pull, ctx);
      return [
        {
          key: r.key,
          event: 'revocation_failing',
          resource: r.resource,
          requester: r.requester,
          title: `Revocation failing: ${who(r)}`,
          text: `Timebox could not revoke the access granted by ${notice.file}: ${redact(notice.message)}. It keeps retrying until the revocation is verified; a timebox-alarm issue is open until then.`,
          fields: { ...(r.role ? { Role: r.role } : {}), File: notice.file },
          ...(r.url ? { url: r.url } : {}),
        },
      ];
    }
    case 'break-glass': {
      const g = notice.grant;
      return [
        {
          key: key(notice.pull, g.file),
          event: 'break_glass',
          resource: g.resource,
          requester: g.requester,
          title: `Break-glass access: ${g.requester} → ${g.resource} (${g.role})`,
          text: `${g.requester} has ${g.role} on ${g.resource}, approved by rule ${notice.rule} before its approvals. Reason: ${redact(notice.reason)}\nThe approvals must ratify it on the pull request by ${iso(notice.ratifyBy)}; unratified, the access is revoked and an alarm raised.`,
          fields: {
            Role: g.role,
            Rule: notice.rule,
            'Ratify by': iso(notice.ratifyBy),
            ...(notice.expiresAt === undefined ? {} : { Until: iso(notice.expiresAt) }),
            ...(notice.ratifiers.length > 0 ? { Ratifiers: notice.ratifiers.join(', ') } : {}),
          },
          url: pullUrl(notice.pull),
        },
      ];
    }
    case 'unratified': {
      const g = notice.grant;
      return [
        {
          key: key(notice.pull, g.file),
          event: 'unratified',
          resource: g.resource,
          requester: g.requester,
          title: `Break-glass access not ratified: ${g.requester} → ${g.resource} (${g.role})`,
          text: `Not ratified by ${iso(notice.ratifyBy)}: the access is revoked and a timebox-alarm issue is open. ${g.requester}'s next emergency request is denied until a code owner of the policies closes it.`,
          fields: {
            Role: g.role,
            Rule: notice.rule,
            'Ratify by': iso(notice.ratifyBy),
            ...(notice.missing.length > 0 ? { Missing: notice.missing.join(', ') } : {}),
          },
          url: pullUrl(notice.pull),
        },
      ];
    }
    default:
      return [];
  }
}

/**
 * The key a notice gets when only its request file is known (`owner/repo:<file>`), for a full key
 * (`owner/repo#<pull>:<file>`); undefined when `key` is not of that form. Slack finds a request's newest message
 * by it after a restart.
 */
export function fileKeyOf(key: string): string | undefined {
  const m = /^([^#:]+)#\d+:(.+)$/.exec(key);
  return m ? `${m[1]}:${m[2]}` : undefined;
}

/** The request file a notice names without saying which request it is (the caller may look it up first). */
export function unresolvedFile(notice: Notice): string | undefined {
  if ((notice.kind === 'reverted' || notice.kind === 'revocation-failing') && !notice.grant)
    return notice.file;
  return undefined;
}

function requestOf(
  file: string,
  grant: NoticeGrant | undefined,
  pull: number | null | undefined,
  ctx: NoticeContext,
): RequestRef {
  const known = ctx.request?.(file);
  const base = ctx.webUrl ?? 'https://github.com';
  if (grant) {
    const at = typeof pull === 'number' ? pull : undefined;
    return {
      key: at === undefined ? (known?.key ?? `${ctx.repo}:${file}`) : `${ctx.repo}#${at}:${file}`,
      resource: grant.resource,
      requester: grant.requester,
      role: grant.role,
      ...(at === undefined
        ? known?.url
          ? { url: known.url }
          : {}
        : { url: `${base}/${ctx.repo}/pull/${at}` }),
    };
  }
  // Not known (a restart, and nothing read from the forge): the file is the key, resource and requester say
  // `unknown`, and only `notify:` entries without `resources:` (or with a glob matching `unknown`) hear of it.
  return known ?? { key: `${ctx.repo}:${file}`, resource: UNKNOWN, requester: UNKNOWN, role: '' };
}

/** The resource and requester of a notice whose request could not be told. */
export const UNKNOWN = 'unknown';

const who = (r: RequestRef) =>
  r.requester !== UNKNOWN
    ? `${r.requester} → ${r.resource} (${r.role})`
    : r.key.slice(r.key.indexOf(':') + 1);

/**
 * Takes out what must not reach a chat room or an inbox from a text Timebox did not write (a provider's error
 * message): passwords in URLs and `password=…` assignments. The router refuses a message that still looks like
 * it carries a secret; this keeps an alarm from being refused for it.
 */
export function redact(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1(redacted)@')
    .replace(/\b(password|passwd|pwd|secret|api[_-]?key|token)(\s*[:=]\s*)\S+/gi, '$1 (redacted)');
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

/** Requests remembered by file, most recent last. */
const REQUESTS = 10_000;

/**
 * The request each file was last seen as (from the notices that say: the pull request summary, granted,
 * reminder, break-glass), so that `reverted` and `revocation-failing`, which may name only the file, reach the
 * same Slack message and the same `notify:` routes. In memory: after a restart `RepoChannels` reads the file
 * from the forge instead.
 */
export class RequestMemory {
  readonly #byFile = new Map<string, RequestRef>();

  get(file: string): RequestRef | undefined {
    return this.#byFile.get(file);
  }

  set(file: string, ref: RequestRef): void {
    this.#byFile.delete(file);
    this.#byFile.set(file, ref);
    if (this.#byFile.size > REQUESTS) this.#byFile.delete(this.#byFile.keys().next().value as string);
  }

  /** Remembers the requests `notice` names. */
  learn(notice: Notice, ctx: NoticeContext): void {
    const url = (pull: number) => `${ctx.webUrl ?? 'https://github.com'}/${ctx.repo}/pull/${pull}`;
    const ref = (pull: number, file: string, r: { resource: string; requester: string; role: string }) =>
      this.set(file, {
        key: `${ctx.repo}#${pull}:${file}`,
        resource: r.resource,
        requester: r.requester,
        role: r.role,
        url: url(pull),
      });
    switch (notice.kind) {
      case 'pull-summary':
        for (const d of notice.decisions)
          if (d.request && d.change !== 'removed' && d.status !== 'invalid')
            ref(notice.pull, d.file, d.request);
        return;
      case 'granted':
      case 'reminder':
      case 'break-glass':
      case 'unratified':
        ref(notice.pull, notice.grant.file, notice.grant);
        return;
      default:
    }
  }
}

/**
 * A notifier for the engine's list (`noticesFor(forge, bot, [channelsNotifier(…)])`). The pull request
 * summary is emitted again on every push and review; a request's event is sent once, when it changes.
 */
export function channelsNotifier(router: ChannelRouter, ctx: NoticeContext): EngineNotifier {
  const sent = new SentEvents();
  const requests = new RequestMemory();
  const withMemory: NoticeContext = { ...ctx, request: (file) => requests.get(file) };
  return {
    name: 'channels',
    async notify(notice): Promise<Delivery | undefined> {
      requests.learn(notice, ctx);
      for (const m of toChannelMessages(notice, withMemory)) if (sent.fresh(m)) router.dispatch(m);
      return undefined;
    },
  };
}
