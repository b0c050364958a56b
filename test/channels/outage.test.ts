// SPEC: "A failing channel never blocks a grant or a revocation: it is retried and logged." The engine's own
// flows run while the only routed channel is down: the grant's credentials comment is posted and the expired
// request file is removed through its merged pull request, at once; the channel's notices are retried with
// backoff (logged) and arrive, in order, once it answers again.
import { afterEach, describe, expect, it } from 'vitest';
import { RepoChannels } from '../../src/channels/repos.js';
import { systemClock } from '../../src/core/clock.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { revertRequest } from '../../src/engine/revert.js';
import { type WebhookDelivery, WebhookReceiver } from '../doubles/webhook-receiver.js';
import { MemoryForge } from '../examples/forge-memory/index.js';
import { requestYaml } from '../helpers/github.js';
import { RecordingLogger } from './log.js';

const BOT = 'timebox[bot]';
const SECRET = 'outage-secret';
const FILE = 'requests/alice/orders.yaml';

const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.stop();
});

const bodyOf = (d: WebhookDelivery) => d.body as { event: string; resource: string; requester: string };

describe('a channel that is down', () => {
  it('holds up neither a grant nor the removal at expiry; their notices arrive after it recovers', async () => {
    const receiver = await new WebhookReceiver(SECRET).start();
    receivers.push(receiver);
    receiver.failFirst(1_000_000, 503);

    const forge = new MemoryForge(() => new Date('2026-03-01T12:00:00Z'));
    forge.commit('main', {
      'timebox.yaml': `notify:\n  - { channel: webhook, to: "${receiver.url}", resources: ["orders-*"] }\n`,
      [FILE]: requestYaml('alice'),
    });
    const log = new RecordingLogger();
    const channels = new RepoChannels({
      env: { TIMEBOX_WEBHOOK_SECRET: SECRET },
      clock: systemClock,
      logger: log,
      // Short waits so the test runs in moments; the shape (doubling, a cap, many attempts) is production's.
      router: { baseDelayMs: 5, maxDelayMs: 40, attempts: 1000 },
    });
    const notices = noticesFor(forge, BOT, [channels]);
    forge.commit('access/alice', { [FILE]: requestYaml('alice') });
    const pull = forge.openPull('access/alice', 'alice', '2026-03-01T10:00:00Z');

    // The grant: its credentials comment is on the pull request as soon as emit returns.
    await notices.emit({
      kind: 'granted',
      pull,
      grant: { id: 'g1', file: FILE, requester: 'alice', role: 'read-only', resource: 'orders-db' },
      principal: 'tb_alice_1',
      credentials: '-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----',
      expiresAt: Date.parse('2026-03-01T14:00:00Z'),
      at: Date.parse('2026-03-01T12:00:00Z'),
    });
    expect(forge.comments_.filter((c) => c.body.includes('timebox:credentials'))).toHaveLength(1);

    // The end of the window: the request file is removed through a merged pull request, channel or not.
    const out = await revertRequest(forge, notices, {
      file: FILE,
      reason: 'expired',
      defaultBranch: 'main',
      botLogin: BOT,
    });
    expect(out.merged).toBeDefined();
    expect(await forge.blobAt(FILE, 'main')).toBeNull();

    // Meanwhile the channel is being retried with backoff, and each failure is logged.
    await receiver.next((d) => d.status === 503 && d.headers['x-timebox-event'] === 'granted');
    await log.next((e) => e.msg === 'notification failed; will retry' && Number(e.obj.attempt) >= 3);
    expect(receiver.deliveries.filter((d) => d.status === 200)).toEqual([]);

    // It recovers: the notices arrive, in order, once each, the expiry about the request it ended.
    receiver.failFirst(0);
    await receiver.next((d) => d.status === 200 && bodyOf(d).event === 'expired');
    await channels.idle();
    const ok = receiver.deliveries.filter((d) => d.status === 200);
    expect(ok.map((d) => bodyOf(d).event)).toEqual(['granted', 'expired']);
    expect(bodyOf(ok[1] as WebhookDelivery)).toMatchObject({ resource: 'orders-db', requester: 'alice' });
    expect(receiver.schemaErrors).toEqual([]);
    expect(log.entries.some((e) => e.msg === 'notification delivered after retrying')).toBe(true);
    await channels.close();
  });
});
