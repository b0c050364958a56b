// `timebox serve` routes a repository's notices by that repository's timebox.yaml `notify:` (issue 17, item 2):
// through the real server against the fake GitHub and a real PostgreSQL, a request is opened, approved, merged
// and granted, and a signed-webhook receiver gets `opened`, `approved` and `granted`, each correctly signed and
// matching the documented body schema. A second receiver that fails every delivery holds up neither the check
// run nor the grant: when the credentials are on the pull request it has still seen only its first attempt at
// `opened` (its queue waits out the backoff), asserted by the order of events, not by timing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeGitHub, JsonObject } from '../../src/forge/fake-github.js';
import type { RunningServer } from '../../src/github/server.js';
import type { WebhookReceiver } from '../doubles/webhook-receiver.js';
import {
  AUTO_MERGE_YAML,
  collectingLog,
  type NotifyReceivers,
  notifyReceivers,
  openPullOf,
  ServeWorld,
} from '../helpers/serve.js';

const REPO = 'acme/access';
let world: ServeWorld;
let fake: FakeGitHub;
let server: RunningServer | undefined;
let receivers: NotifyReceivers;
let good: WebhookReceiver;
let down: WebhookReceiver;
const logs: JsonObject[] = [];

beforeAll(async () => {
  receivers = await notifyReceivers({
    secrets: { good: 'receiver-shared-secret', down: 'down-receiver-secret' },
    resources: ['*-db'],
    events: ['opened', 'approved', 'granted', 'expired'],
    // Down for good: every attempt fails, and it asks for an hour before the next (capped at the router's 5 min).
    retryAfter: 3600,
  });
  ({ good, down } = receivers);
  world = await ServeWorld.open({
    repo: REPO,
    appId: 5252,
    secret: 'notify-serve-webhook-secret',
    writers: ['alice', 'carol'],
    timebox: `${AUTO_MERGE_YAML}${receivers.notify}`,
  });
  fake = world.fake;
  world.sshKey('alice', 'id');
  server = await world.start(
    { now: () => new Date(), stateDir: world.dir('timebox-notify-state-'), log: collectingLog(logs) },
    // What `timebox serve` passes (src/cli/serve.ts): the environment, where the webhook secrets are.
    { channels: receivers.channels },
  );
}, 120_000);

afterAll(async () => {
  await world?.close(server);
  await receivers?.stop();
});

type Body = { event: string; key: string; resource: string; requester: string; title: string; text: string };
const bodyOf = (d: { body: unknown }) => d.body as Body;
const eventOf = (event: string) => (d: { body: unknown; status: number }) =>
  d.status === 200 && bodyOf(d)?.event === event;

describe('timebox serve: notices routed by the repository’s notify:', () => {
  it('opened, approved and granted reach the signed webhook; a receiver that is down delays nothing', async () => {
    const file = 'requests/alice/orders-notify.yaml';
    const pull = await openPullOf(fake, REPO, {
      user: 'alice',
      branch: 'access/alice-notify',
      files: {
        [file]:
          'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: BUG-77 totals\n',
      },
    });
    await world.pullEvent(server, pull, 'opened', 'alice');
    const head = ((await fake.pull(REPO, pull)).head as { sha: string }).sha;
    const opened = await good.next(eventOf('opened'));
    expect(bodyOf(opened)).toMatchObject({
      requester: 'alice',
      resource: 'orders-db',
      key: `${REPO}#${pull}:${file}`,
    });

    await world.approve(server, pull, 'carol');
    expect((await fake.pull(REPO, pull)).merged).toBe(true);
    await good.next(eventOf('approved'));

    await world.pushedMain(server);
    const granted = await good.next(eventOf('granted'));
    expect(bodyOf(granted).title).toBe(`Access granted: alice → orders-db (read-only)`);

    // The check run and the grant happened while the receiver that is down was still waiting out the backoff
    // after its first attempt at `opened`: `approved` and `granted` are queued behind it, not in the way.
    const runs = fake.checkRuns.filter((r) => r.head_sha === head && r.name === 'timebox');
    expect(runs.map((r) => r.status)).toContain('completed');
    const credentials = fake.comments.filter((c) => String(c.body).includes('timebox:credentials'));
    expect(credentials).toHaveLength(1);
    expect(down.deliveries.map((d) => [bodyOf(d).event, d.status, d.signed])).toEqual([
      ['opened', 503, true],
    ]);
    expect(
      logs.some(
        (l) =>
          l.msg === 'notification failed; will retry' &&
          l.channel === `webhook:${down.url}` &&
          l.event === 'opened' &&
          l.attempt === 1,
      ),
    ).toBe(true);

    // Exactly once each, in order, every one signed with the shared secret and matching the documented schema.
    const ok = good.deliveries.filter((d) => d.status === 200);
    expect(ok.map((d) => bodyOf(d).event)).toEqual(['opened', 'approved', 'granted']);
    expect(good.deliveries.every((d) => d.signed)).toBe(true);
    expect(good.schemaErrors).toEqual([]);
    // A channel is told the credentials exist, never given them.
    expect(ok.map((d) => d.raw).join('\n')).not.toMatch(/postgresql:\/\/|BEGIN AGE/);
  });
});
