import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelRouter } from '../../src/channels/router.js';
import { sign, WebhookChannel } from '../../src/channels/webhook.js';
import { ManualClock } from '../../src/core/clock.js';
import { verify, WebhookReceiver } from '../doubles/webhook-receiver.js';
import { deliveryFailure as failure } from '../helpers/notices.js';
import { message } from './fixtures.js';
import { RecordingLogger } from './log.js';

const SECRET = 'whsec-5b0c3d2e-timebox-test';
const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) {
    expect(r.schemaErrors).toEqual([]);
    await r.stop();
  }
});
async function receiver(secret = SECRET) {
  const r = await new WebhookReceiver(secret).start();
  receivers.push(r);
  return r;
}
describe('webhook channel', () => {
  it('POSTs the documented body, signed over its raw bytes, with the event and the delivery id', async () => {
    const r = await receiver();
    await new WebhookChannel({ url: r.url, secret: SECRET }).deliver(message('granted'), {
      id: 'd-1',
      attempt: 1,
    });
    const [d] = r.deliveries;
    expect(d?.status).toBe(200);
    expect(d?.signed).toBe(true);
    expect(d?.headers['x-timebox-signature-256']).toBe(sign(SECRET, d?.raw ?? ''));
    expect(d?.headers['x-timebox-event']).toBe('granted');
    expect(d?.headers['x-timebox-delivery']).toBe('d-1');
    expect(d?.headers['content-type']).toBe('application/json');
    expect(d?.body).toEqual({
      version: 1,
      event: 'granted',
      key: 'acme/access#42',
      resource: 'prod-db',
      requester: 'alice',
      title: 'Access granted: alice → prod-db (read) until 14:00 UTC',
      text: 'Request *#42* by alice: read on prod-db.\nReason: incident INC-7 investigation.',
      fields: { Role: 'read', Until: '2026-12-01T14:00:00Z', Approvers: 'bob' },
      url: 'https://github.com/acme/access/pull/42',
    });
    expect(JSON.stringify(d)).not.toContain(SECRET);
  });

  it('is refused by a receiver with another secret, and does not retry that', async () => {
    const r = await receiver('another-secret');
    const refused = await failure(
      new WebhookChannel({ url: r.url, secret: SECRET }).deliver(message('opened')),
    );
    expect([refused.message, refused.retryable]).toEqual(['webhook: HTTP 401', false]);
    expect(r.deliveries[0]?.signed).toBe(false);
  });

  it('the receiver check rejects a body changed after signing, and a wrong-length signature', () => {
    const raw = Buffer.from('{"event":"granted"}');
    const header = sign(SECRET, raw);
    expect(verify(SECRET, raw, header)).toBe(true);
    expect(verify(SECRET, Buffer.from('{"event":"expired"}'), header)).toBe(false);
    expect(verify(SECRET, raw, `${header}00`)).toBe(false);
    expect(verify(SECRET, raw, undefined)).toBe(false);
  });

  it('says which answers are worth a retry: network errors, 429 and 5xx, not other 4xx or redirects', async () => {
    const r = await receiver();
    const c = new WebhookChannel({ url: r.url, secret: SECRET });
    r.failFirst(1, 503);
    expect((await failure(c.deliver(message('opened')))).retryable).toBe(true);
    r.failFirst(1, 429, 7);
    const limited = await failure(c.deliver(message('opened')));
    expect([limited.retryable, limited.retryAfterMs]).toEqual([true, 7000]);
    r.failFirst(1, 400);
    expect((await failure(c.deliver(message('opened')))).retryable).toBe(false);
    r.failFirst(1, 410);
    expect((await failure(c.deliver(message('opened')))).retryable).toBe(false);

    const redirecting = createServer((_, res) => res.writeHead(307, { location: r.url }).end());
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    const { port } = redirecting.address() as { port: number };
    const moved = await failure(
      new WebhookChannel({ url: `http://127.0.0.1:${port}/`, secret: SECRET }).deliver(message('opened')),
    );
    expect([moved.message, moved.retryable]).toEqual(['webhook: HTTP 307', false]);
    await new Promise<void>((resolve) => redirecting.close(() => resolve()));
    expect(r.deliveries).toHaveLength(4);

    const gone = await failure(
      new WebhookChannel({ url: `http://127.0.0.1:${port}/`, secret: SECRET }).deliver(message('opened')),
    );
    expect(gone.retryable).toBe(true);
  });

  it('keeps tokens in the URL out of its id (which is logged)', () => {
    const c = new WebhookChannel({ url: 'https://user:pw@hooks.example/t/abc?token=s3cr3t', secret: SECRET });
    expect(c.id).toBe('webhook:https://hooks.example/t/abc');
  });
});

/** A receiver that answers its first `failures` deliveries `status`, behind a router on a manual clock. */
async function failingRoute(
  failures: number,
  status: number,
  extra: Partial<ConstructorParameters<typeof ChannelRouter>[0]>,
) {
  const r = await receiver();
  r.failFirst(failures, status);
  const clock = new ManualClock('2026-12-01T12:00:00Z');
  const log = new RecordingLogger();
  const notifier = new ChannelRouter({
    routes: [{ channel: new WebhookChannel({ url: r.url, secret: SECRET }) }],
    clock,
    logger: log,
    ...extra,
  });
  return { r, clock, log, notifier };
}

describe('webhook retries through the notifier', () => {
  it('retries 5xx with exponential backoff on the clock, with one delivery id, until it is accepted', async () => {
    const { r, clock, log, notifier } = await failingRoute(2, 502, { baseDelayMs: 1000 });
    expect(notifier.dispatch(message('granted'))).toBe(1);

    const first = await log.next((e) => e.msg === 'notification failed; will retry');
    expect(first.obj).toMatchObject({
      attempt: 1,
      retryInMs: 1000,
      error: 'DeliveryError: webhook: HTTP 502',
    });
    await clock.advance(999);
    expect(r.deliveries).toHaveLength(1);
    await clock.advance(1);
    const second = await log.next((e) => e.msg === 'notification failed; will retry', 1);
    expect(second.obj).toMatchObject({ attempt: 2, retryInMs: 2000 });
    await clock.advance(2000);
    await log.next((e) => e.msg === 'notification delivered after retrying');
    await notifier.drain();

    expect(r.deliveries.map((d) => d.status)).toEqual([502, 502, 200]);
    const ids = new Set(r.deliveries.map((d) => d.headers['x-timebox-delivery']));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives up after the bounded number of attempts, and logs it', async () => {
    const { r, clock, log, notifier } = await failingRoute(100, 500, { attempts: 3 });
    notifier.dispatch(message('revocation_failing'));
    for (let i = 0; i < 2; i++) {
      // Exactly the backoff: advancing further would also run out the next attempt's timeout.
      const retry = await log.next((e) => e.msg === 'notification failed; will retry', i);
      expect(retry.obj.error).toBe('DeliveryError: webhook: HTTP 500');
      await clock.advance(retry.obj.retryInMs as number);
    }
    const last = await log.next((e) => e.level === 'error');
    expect(last.msg).toBe('notification not delivered; giving up');
    expect(last.obj).toMatchObject({ attempt: 3, event: 'revocation_failing' });
    await notifier.drain();
    expect(r.deliveries).toHaveLength(3);
  });

  it('does not retry a 4xx other than 429', async () => {
    const r = await receiver();
    r.failFirst(1, 422);
    const log = new RecordingLogger();
    const notifier = new ChannelRouter({
      routes: [{ channel: new WebhookChannel({ url: r.url, secret: SECRET }) }],
      clock: new ManualClock('2026-12-01T12:00:00Z'),
      logger: log,
    });
    notifier.dispatch(message('opened'));
    await notifier.drain();
    expect(r.deliveries).toHaveLength(1);
    expect(log.entries.map((e) => [e.level, e.msg])).toEqual([['error', 'notification not delivered']]);
  });
});
