// `timebox serve` tells the channels about a request to its end (issue 17): through the real server against
// the fake GitHub and a real PostgreSQL, with an injected clock, a granted request gets its reminder and, at
// expiry, its role dropped and its file removed by a merged revert pull request; the signed webhook receives
// `granted`, `reminder` and `expired` under the request's one key. A second receiver is down the whole time:
// the revocation and the removal happen regardless (asserted by their effects, while it has still accepted
// nothing), and it is retried, logged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeGitHub, JsonObject } from '../../src/forge/fake-github.js';
import type { RunningServer } from '../../src/github/server.js';
import type { WebhookDelivery, WebhookReceiver } from '../doubles/webhook-receiver.js';
import { git } from '../helpers/repo.js';
import {
  AUTO_MERGE_YAML,
  collectingLog,
  type NotifyReceivers,
  notifyReceivers,
  openPullOf,
  ServeWorld,
} from '../helpers/serve.js';

const REPO = 'acme/access';
const FILE = 'requests/alice/notify-expiry.yaml';

let world: ServeWorld;
let fake: FakeGitHub;
let server: RunningServer | undefined;
let receivers: NotifyReceivers;
let good: WebhookReceiver;
let down: WebhookReceiver;
const logs: JsonObject[] = [];
/** The injected clock: real time plus an offset the test moves. */
let offset = 0;
const clock = () => new Date(Date.now() + offset);

beforeAll(async () => {
  receivers = await notifyReceivers({
    secrets: { good: 'expiry-receiver-secret', down: 'expiry-down-secret' },
    resources: ['orders-*'],
    events: ['granted', 'reminder', 'expired'],
  });
  ({ good, down } = receivers);
  world = await ServeWorld.open({
    repo: REPO,
    appId: 5253,
    secret: 'notify-expiry-webhook-secret',
    writers: ['alice', 'carol'],
    timebox: `${AUTO_MERGE_YAML}${receivers.notify}`,
    logs,
  });
  fake = world.fake;
  world.sshKey('alice', 'id');
  server = await world.start(
    { now: clock, stateDir: world.dir('timebox-expiry-state-'), log: collectingLog(logs) },
    { channels: receivers.channels },
  );
}, 120_000);

afterAll(async () => {
  await world?.close(server);
  await receivers?.stop();
});

const rolesFor = (file: string) => world.rolesFor(file);

type Body = { event: string; key: string; resource: string; requester: string; title: string };
const bodyOf = (d: WebhookDelivery) => d.body as Body;
const eventOf = (event: string) => (d: WebhookDelivery) => d.status === 200 && bodyOf(d)?.event === event;

describe('timebox serve: a request’s end reaches the channels', () => {
  it('granted, reminder and expired under one key; a channel that is down delays neither revocation nor removal', async () => {
    const pull = await openPullOf(fake, REPO, {
      user: 'alice',
      branch: 'access/alice-expiry',
      files: {
        [FILE]:
          'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: BUG-78 totals\n',
      },
    });
    await world.pullEvent(server, pull, 'opened', 'alice');
    await world.approve(server, pull, 'carol');
    const merged = await fake.pull(REPO, pull);
    expect(merged.merged).toBe(true);
    await world.pushedMain(server);
    const key = `${REPO}#${pull}:${FILE}`;
    expect(bodyOf(await good.next(eventOf('granted')))).toMatchObject({ key, resource: 'orders-db' });
    expect(await rolesFor(FILE)).toHaveLength(1);

    const message = git(fake.gitDir(REPO), 'log', '-1', '--format=%B', String(merged.merge_commit_sha));
    const expiresAt = Date.parse(String(/Timebox-Expires: (\S+)/.exec(message)?.[1]));
    expect(Number.isFinite(expiresAt)).toBe(true);

    // The reminder, 14 minutes before the end.
    offset = expiresAt - 14 * 60_000 - Date.now();
    server?.keeper.tick();
    await server?.keeper.idle();
    expect(bodyOf(await good.next(eventOf('reminder')))).toMatchObject({ key });

    // Expiry: revoked and removed while the other receiver has accepted nothing at all.
    const due = server?.keeper.scheduler.scheduled().find((s) => s.file === FILE)?.at ?? Number.NaN;
    offset = due + 100 - Date.now();
    server?.keeper.tick();
    await server?.keeper.idle();
    expect(await rolesFor(FILE)).toEqual([]);
    expect(git(fake.gitDir(REPO), 'ls-tree', '-r', '--name-only', 'main')).not.toContain(FILE);
    expect(down.deliveries.filter((d) => d.status === 200)).toEqual([]);

    const expired = bodyOf(await good.next(eventOf('expired')));
    expect(expired).toMatchObject({
      key,
      resource: 'orders-db',
      requester: 'alice',
      title: 'Access expired: alice → orders-db (read-only)',
    });
    const ok = good.deliveries.filter((d) => d.status === 200);
    expect(ok.map((d) => bodyOf(d).event)).toEqual(['granted', 'reminder', 'expired']);
    expect(good.deliveries.every((d) => d.signed)).toBe(true);
    expect(good.schemaErrors).toEqual([]);
    expect(
      logs.some((l) => l.msg === 'notification failed; will retry' && l.channel === `webhook:${down.url}`),
    ).toBe(true);
  });
});
