// Every event of SPEC "Notifications and on-call" has a notice that reaches the channels as it: opened and
// approved (the pull request summary), granted, reminder, expired (the revert at the end), revocation_failing,
// break_glass and unratified. Notices that name only the request file reach the request's own message (the
// same key), from memory or, after a restart, from the file read on the forge.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Channel, type ChannelMessage, findSecret, NOTIFY_EVENTS } from '../../src/channels/message.js';
import { channelsNotifier, redact, toChannelMessages } from '../../src/channels/notices.js';
import { RepoChannels } from '../../src/channels/repos.js';
import { ChannelRouter } from '../../src/channels/router.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Forge } from '../../src/engine/forge.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import type { Notice } from '../../src/engine/notices/notice.js';
import { notices } from '../../src/engine/notices/notifier.js';
import { renderNotice, unratifiedLogin, unratifiedTitle } from '../../src/engine/notices/render.js';
import { WebhookReceiver } from '../doubles/webhook-receiver.js';
import {
  AT,
  breakGlass as breakGlassAt,
  FILE,
  GRANT,
  granted as grantedWith,
  KEY,
  reminder,
  reverted,
  summary,
  unratified as unratifiedAt,
} from '../helpers/notices.js';
import { RecordingLogger } from './log.js';

const CTX = { repo: 'acme/access' };
const granted = grantedWith('-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----');
const failing: Notice = {
  kind: 'revocation-failing',
  file: FILE,
  message: 'connect ECONNREFUSED postgres://admin:hunter2@db.internal:5432/orders; password=hunter2',
};
const breakGlass = breakGlassAt({ expiresAt: AT + 3600_000 });
const unratified = unratifiedAt(AT + 4 * 3600_000);

class Recording implements Channel {
  readonly delivered: ChannelMessage[] = [];
  constructor(readonly id = 'rec') {}
  async deliver(m: ChannelMessage) {
    this.delivered.push(m);
  }
}

function notifierWith(channel: Channel) {
  const router = new ChannelRouter({
    routes: [{ channel }],
    clock: new ManualClock(AT),
    logger: new RecordingLogger(),
  });
  return { router, emit: notices([channelsNotifier(router, CTX)]).emit };
}

describe('the SPEC events as channel messages', () => {
  it('every event has a notice, all about the one request (one key), none refused as a secret', async () => {
    const channel = new Recording();
    const { router, emit } = notifierWith(channel);
    for (const n of [
      summary('pending'),
      summary('approved'),
      granted,
      reminder,
      breakGlass,
      failing,
      unratified,
      reverted,
    ])
      await emit(n);
    await router.drain();
    expect(channel.delivered.map((m) => m.event).sort()).toEqual([...NOTIFY_EVENTS].sort());
    expect(new Set(channel.delivered.map((m) => m.key))).toEqual(new Set([KEY]));
    for (const m of channel.delivered) {
      expect(m.resource).toBe('prod-db');
      expect(m.requester).toBe('alice');
      expect(findSecret(m)).toBeUndefined();
      expect(m.url).toBe('https://github.com/acme/access/pull/42');
    }
  });

  it('expired: the revert at the end of the window, about the request it ended', () => {
    const known = { key: KEY, resource: 'prod-db', requester: 'alice', role: 'read', url: 'u' };
    const [m] = toChannelMessages(reverted, { ...CTX, request: (f) => (f === FILE ? known : undefined) });
    expect(m).toMatchObject({
      key: KEY,
      event: 'expired',
      resource: 'prod-db',
      title: 'Access expired: alice → prod-db (read)',
      fields: { Role: 'read', Ended: 'expired', Removal: '#57' },
      url: 'u',
    });
    const [early] = toChannelMessages({ ...reverted, reason: 'revoked early' }, CTX);
    expect(early?.title).toMatch(/^Access ended:/);
  });

  it('a notice that carries its grant needs no memory; one that does not, and is unknown, keys on the file', () => {
    const [withGrant] = toChannelMessages({ ...reverted, grant: GRANT, requestPull: 42 }, CTX);
    expect(withGrant).toMatchObject({ key: KEY, resource: 'prod-db', requester: 'alice' });
    const [unknown] = toChannelMessages(reverted, CTX);
    expect(unknown).toMatchObject({
      key: `acme/access:${FILE}`,
      resource: 'unknown',
      requester: 'unknown',
      title: `Access expired: ${FILE}`,
    });
  });

  it('revocation failing: the provider’s error without the passwords it may carry', () => {
    const [m] = toChannelMessages({ ...failing, grant: GRANT, pull: 42 }, CTX);
    expect(m?.event).toBe('revocation_failing');
    expect(m?.text).toContain('ECONNREFUSED');
    expect(m?.text).not.toContain('hunter2');
    expect(findSecret(m as ChannelMessage)).toBeUndefined();
    expect(redact('https://user:pw@x.example/a token: abc')).toBe(
      'https://(redacted)@x.example/a token (redacted)',
    );
  });

  it('break-glass and unratified say the rule, the deadline and who must (or did not) ratify', () => {
    const [bg] = toChannelMessages(breakGlass, CTX);
    expect(bg).toMatchObject({
      key: KEY,
      event: 'break_glass',
      title: 'Break-glass access: alice → prod-db (read)',
      fields: {
        Rule: 'sre-emergency',
        'Ratify by': '2026-12-01T16:00:00Z',
        Until: '2026-12-01T13:00:00Z',
        Ratifiers: '@acme/dba',
      },
    });
    expect(bg?.text).toContain('INC-9 orders stuck');
    const [un] = toChannelMessages(unratified, CTX);
    expect(un).toMatchObject({ key: KEY, event: 'unratified', fields: { Missing: '1 of @acme/dba' } });
  });

  it('on the pull request: break-glass is said once, unratified also opens an alarm its requester is read back from', () => {
    const bg = renderNotice(breakGlass);
    expect(bg.comment).toMatchObject({ pull: 42, mode: 'once', marker: '<!-- timebox:break-glass g1 -->' });
    expect(bg.comment?.body).toContain('2026-12-01 16:00 UTC');
    const un = renderNotice(unratified);
    expect(un.comment?.mode).toBe('once');
    expect(un.issue?.title).toBe(unratifiedTitle('alice', FILE));
    expect(unratifiedLogin(un.issue?.title ?? '')).toBe('alice');
    expect(unratifiedLogin(`Timebox alarm: revoking ${FILE} is failing`)).toBeNull();
    expect(unratifiedLogin(unratifiedTitle('ci-bot[bot]', 'requests/x.yaml'))).toBe('ci-bot[bot]');
  });
});

describe('after a restart (RepoChannels reads the request from the forge)', () => {
  it('routes an expiry by the removed file’s resource, read at the revert pull request’s base', async () => {
    const receiver = await new WebhookReceiver('events-secret').start();
    try {
      const config = `notify:\n  - { channel: webhook, to: "${receiver.url}", resources: ["prod-*"] }\n`;
      const request = `requester: alice\nresource: prod-db\nrole: read\nduration: 2h\nreason: INC-7 totals\n`;
      const blobs = new Map([
        ['timebox.yaml@main', config],
        [`${FILE}@base57`, request],
      ]);
      const sha = (t: string) => createHash('sha1').update(t).digest('hex');
      const texts = new Map([...blobs.values()].map((t) => [sha(t), t]));
      const forge = {
        repo: { owner: 'acme', repo: 'access' },
        pull: async (n: number) => ({ number: n, base: { ref: 'main', sha: `base${n}` } }),
        blobAt: async (path: string, ref: string) => {
          const t = blobs.get(`${path}@${ref}`);
          return t === undefined ? null : sha(t);
        },
        readBlob: async (s: string) => texts.get(s) ?? '',
      } as unknown as Forge;
      const channels = new RepoChannels({
        env: { TIMEBOX_WEBHOOK_SECRET: 'events-secret' },
        clock: new ManualClock(AT),
        logger: new RecordingLogger(),
      });
      await noticesFor(forge, 'timebox[bot]', [channels]).emit(reverted);
      await channels.idle();
      expect(receiver.schemaErrors).toEqual([]);
      expect(receiver.deliveries.map((r) => r.body)).toMatchObject([
        { event: 'expired', resource: 'prod-db', requester: 'alice', key: `acme/access:${FILE}` },
      ]);
      await channels.close();
    } finally {
      await receiver.stop();
    }
  });
});
