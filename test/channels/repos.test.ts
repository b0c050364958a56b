// The server's channels notifier: each repository's notices go where that repository's timebox.yaml `notify:`
// says (read from the pull requests' base branch, again once the TTL has passed), the engine never waits for
// it, and a timebox.yaml it cannot read costs the notice, not the grant.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { RepoChannels } from '../../src/channels/repos.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Forge } from '../../src/engine/forge.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import type { Notice } from '../../src/engine/notices/notice.js';
import { WebhookReceiver } from '../doubles/webhook-receiver.js';
import { RecordingLogger } from './log.js';

const SECRET = 'repos-test-secret';
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.stop();
});
const receiver = async () => {
  const r = await new WebhookReceiver(SECRET).start();
  receivers.push(r);
  return r;
};

/** A forge that serves one timebox.yaml (changeable) on `main`, and counts what it was asked. */
function forgeOf(full: string, yaml: { text: string | null }, gate?: Promise<void>) {
  const [owner, repo] = full.split('/') as [string, string];
  const calls: string[] = [];
  const comments: string[] = [];
  const forge = {
    repo: { owner, repo },
    async pull(n: number) {
      calls.push(`pull ${n}`);
      await gate;
      return { number: n, base: { ref: 'main', sha: 'b' }, head: { ref: 'x', sha: 'h' } };
    },
    async blobAt(path: string, ref: string) {
      calls.push(`blobAt ${path}@${ref}`);
      return yaml.text === null ? null : createHash('sha1').update(yaml.text).digest('hex');
    },
    async readBlob(_sha: string, path: string) {
      calls.push(`readBlob ${path}`);
      return yaml.text ?? '';
    },
    async createComment(_n: number, body: string) {
      comments.push(body);
      return comments.length;
    },
  };
  return { forge: forge as unknown as Forge, calls, comments };
}

const granted = (pull: number, resource = 'orders-db'): Notice => ({
  kind: 'granted',
  pull,
  grant: {
    id: `g${pull}`,
    file: `requests/alice-${pull}.yaml`,
    requester: 'alice',
    role: 'read-only',
    resource,
  },
  principal: 'tb_alice_1',
  credentials: '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----',
  expiresAt: Date.parse('2026-12-01T14:00:00Z'),
  at: Date.parse('2026-12-01T12:00:00Z'),
});

const webhookTo = (url: string, extra = '') =>
  `auto_merge: true\nnotify:\n  - { channel: webhook, to: "${url}"${extra} }\n`;

describe('channels routed by each repository’s notify:', () => {
  it('sends a repository’s notices to its own channels only, through the engine’s list', async () => {
    const a = await receiver();
    const b = await receiver();
    const clock = new ManualClock(Date.parse('2026-12-01T12:00:00Z'));
    const channels = new RepoChannels({
      env: { TIMEBOX_WEBHOOK_SECRET: SECRET },
      clock,
      logger: new RecordingLogger(),
    });
    const repoA = forgeOf('acme/a', { text: webhookTo(a.url) });
    const repoB = forgeOf('acme/b', { text: webhookTo(b.url, ', resources: ["billing-*"]') });
    const repoC = forgeOf('acme/c', { text: null });
    await noticesFor(repoA.forge, 'timebox[bot]', [channels]).emit(granted(1));
    await noticesFor(repoB.forge, 'timebox[bot]', [channels]).emit(granted(2));
    await noticesFor(repoC.forge, 'timebox[bot]', [channels]).emit(granted(3));
    await channels.idle();
    expect(repoA.comments).toHaveLength(1); // the forge's comment still comes first
    expect(a.deliveries.map((d) => [(d.body as { key: string }).key, d.signed])).toEqual([
      ['acme/a#1:requests/alice-1.yaml', true],
    ]);
    expect(b.deliveries).toEqual([]); // its route is for billing-* only
    expect(repoC.calls).toEqual(['pull 3', 'blobAt timebox.yaml@main']);
    await channels.close();
  });

  it('never holds up the engine: emit returns while timebox.yaml is still being read', async () => {
    const a = await receiver();
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const clock = new ManualClock(0);
    const channels = new RepoChannels({
      env: { TIMEBOX_WEBHOOK_SECRET: SECRET },
      clock,
      logger: new RecordingLogger(),
    });
    const repo = forgeOf('acme/a', { text: webhookTo(a.url) }, gate);
    await noticesFor(repo.forge, 'timebox[bot]', [channels]).emit(granted(1));
    expect(repo.comments).toHaveLength(1);
    expect(a.deliveries).toEqual([]);
    open();
    await channels.idle();
    expect(a.deliveries).toHaveLength(1);
    await channels.close();
  });

  it('reads notify: again once the TTL has passed, and logs a timebox.yaml it cannot read', async () => {
    const a = await receiver();
    const b = await receiver();
    const clock = new ManualClock(0);
    const logger = new RecordingLogger();
    const channels = new RepoChannels({
      env: { TIMEBOX_WEBHOOK_SECRET: SECRET },
      clock,
      logger,
      configTtlMs: 60_000,
    });
    const yaml = { text: webhookTo(a.url) as string | null };
    const repo = forgeOf('acme/a', yaml);
    const n = channels.forRepo(repo.forge);
    await n.notify(granted(1), { text: '' });
    await channels.idle();
    yaml.text = webhookTo(b.url);
    await n.notify(granted(2), { text: '' }); // within the TTL: still a
    await channels.idle();
    clock.advance(60_000);
    await n.notify(granted(3), { text: '' }); // b now
    await channels.idle();
    expect(a.deliveries.map((d) => (d.body as { key: string }).key)).toEqual([
      'acme/a#1:requests/alice-1.yaml',
      'acme/a#2:requests/alice-2.yaml',
    ]);
    expect(b.deliveries.map((d) => (d.body as { key: string }).key)).toEqual([
      'acme/a#3:requests/alice-3.yaml',
    ]);
    yaml.text = 'notify: [\n';
    clock.advance(60_000);
    await n.notify(granted(4), { text: '' });
    await channels.idle();
    expect(logger.entries.find((e) => e.msg === 'notification not routed')?.obj).toMatchObject({
      repo: 'acme/a',
      notice: 'granted',
    });
    await channels.close();
  });

  it('a missing secret leaves that entry out, logged; close drains within its bound', async () => {
    const a = await receiver();
    a.hold();
    const logger = new RecordingLogger();
    const clock = new ManualClock(0);
    const channels = new RepoChannels({ env: { TIMEBOX_WEBHOOK_SECRET: SECRET }, clock, logger });
    const text = `${webhookTo(a.url)}  - { channel: slack, to: C0ACCESS01 }\n`;
    const repo = forgeOf('acme/a', { text });
    await channels.forRepo(repo.forge).notify(granted(1), { text: '' });
    await logger.next((e) => e.msg === 'notification channel not configured');
    while (a.held === 0) await new Promise<void>((r) => setImmediate(r));
    const closing = channels.close(5_000);
    clock.advance(5_000);
    await closing;
    expect(logger.entries.some((e) => e.msg === 'notifications still queued at shutdown were dropped')).toBe(
      true,
    );
    a.release();
  });
});
