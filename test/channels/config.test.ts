import { afterEach, describe, expect, it } from 'vitest';
import { buildRoutes, createChannelRouter, parseNotify } from '../../src/channels/config.js';
import { ManualClock } from '../../src/core/clock.js';
import { SlackDouble } from '../doubles/slack.js';
import { SmtpDouble } from '../doubles/smtp.js';
import { WebhookReceiver } from '../doubles/webhook-receiver.js';
import { LIFE, message } from './fixtures.js';
import { RecordingLogger } from './log.js';

describe('notify: entries', () => {
  it('accepts each channel with its own keys', () => {
    const { entries, errors } = parseNotify([
      { channel: 'slack', to: 'C0ACCESS01', users: { alice: 'U0ALICE001' }, resources: ['prod-*'] },
      { channel: 'email', to: 'dba@acme.example', events: ['granted', 'expired'] },
      { channel: 'email', to: ['a@acme.example', 'b@acme.example'], from: 'Timebox <t@acme.example>' },
      { channel: 'webhook', to: 'https://hooks.acme.example/t', secret_env: 'HOOK_SECRET' },
    ]);
    expect(errors).toEqual([]);
    expect(entries).toHaveLength(4);
    expect(parseNotify(undefined)).toEqual({ entries: [], errors: [] });
  });

  it('says what is wrong, by position', () => {
    const { errors } = parseNotify([
      { channel: 'slack', to: '#access' },
      { channel: 'email', to: 'not an address' },
      { channel: 'webhook', to: 'ftp://x.example/' },
      { channel: 'webhook', to: 'https://x.example/', secret: 'inline-secret' },
      { channel: 'slack', to: 'C0ACCESS01', events: ['granted', 'exploded'] },
      { channel: 'pager', to: 'x' },
    ]);
    expect(errors).toEqual(
      expect.arrayContaining([
        'notify/0/to must match pattern "^[CG][A-Z0-9]{8,}$"',
        'notify/1/to must match format "email"',
        'notify/2/to must match pattern "^https?://"',
        'notify/3 must NOT have additional properties',
        'notify/4/events/1 must be equal to one of the allowed values',
        'notify/5/channel must be equal to one of the allowed values',
      ]),
    );
  });

  it('builds what it can and names what is missing from the environment', () => {
    const { entries } = parseNotify([
      { channel: 'slack', to: 'C0ACCESS01' },
      { channel: 'email', to: 'dba@acme.example' },
      { channel: 'webhook', to: 'https://hooks.acme.example/t', secret_env: 'HOOK_SECRET' },
      { channel: 'webhook', to: 'https://hooks.acme.example/u' },
    ]);
    const none = buildRoutes(entries, { env: {} });
    expect(none.routes).toEqual([]);
    expect(none.errors).toEqual([
      'notify[0] (slack): TIMEBOX_SLACK_TOKEN is not set',
      'notify[1] (email): TIMEBOX_SMTP_URL is not set',
      'notify[2] (webhook): HOOK_SECRET is not set',
      'notify[3] (webhook): TIMEBOX_WEBHOOK_SECRET is not set',
    ]);
    const some = buildRoutes(entries, {
      env: { TIMEBOX_SMTP_URL: 'smtp://127.0.0.1:1', HOOK_SECRET: 's3', TIMEBOX_WEBHOOK_SECRET: 's4' },
    });
    expect(some.errors).toEqual([
      'notify[0] (slack): TIMEBOX_SLACK_TOKEN is not set',
      'notify[1] (email): no sender: set `from:` or TIMEBOX_SMTP_FROM',
    ]);
    expect(some.routes.map((r) => r.channel.id)).toEqual([
      'webhook:https://hooks.acme.example/t',
      'webhook:https://hooks.acme.example/u',
    ]);
  });
});

describe('all three channels together', () => {
  const stops: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('delivers one request’s life to Slack, e-mail and a webhook while the webhook is stuck, without waiting', async () => {
    const slack = await new SlackDouble({ token: 'xoxb-e2e', channels: ['C0ACCESS01'] }).start();
    const smtp = await new SmtpDouble().start();
    const hook = await new WebhookReceiver('e2e-secret').start();
    stops.push(
      () => slack.stop(),
      () => smtp.stop(),
      () => hook.stop(),
    );
    const log = new RecordingLogger();
    const { router: notifier, errors } = createChannelRouter(
      [
        { channel: 'slack', to: 'C0ACCESS01', users: { alice: 'U0ALICE001' } },
        { channel: 'email', to: 'dba@acme.example', resources: ['*-db'] },
        { channel: 'webhook', to: hook.url, events: ['granted', 'expired'] },
      ],
      {
        env: {
          TIMEBOX_SLACK_TOKEN: 'xoxb-e2e',
          TIMEBOX_SLACK_API_URL: slack.url,
          TIMEBOX_SMTP_URL: smtp.url(),
          TIMEBOX_SMTP_FROM: 'timebox@acme.example',
          TIMEBOX_WEBHOOK_SECRET: 'e2e-secret',
        },
        clock: new ManualClock('2026-12-01T12:00:00Z'),
        logger: log,
      },
    );
    expect(errors).toEqual([]);

    hook.hold();
    const routed = LIFE.map((event) => notifier.dispatch(message(event)));
    expect(routed).toEqual([2, 2, 3, 3]);
    // Slack and e-mail finish while the webhook receiver still holds its first delivery.
    while (smtp.received.length < 4 || hook.held < 1) await new Promise<void>((r) => setImmediate(r));
    await new Promise<void>((r) => setImmediate(r));
    expect(hook.deliveries).toHaveLength(0);
    hook.release();
    await notifier.close();

    expect(slack.violations).toEqual([]);
    expect(slack.messages('C0ACCESS01')).toHaveLength(1);
    expect(slack.messages('C0ACCESS01')[0]?.text).toBe(
      'Access expired: alice → prod-db (read) (<@U0ALICE001>)',
    );
    expect(smtp.received.map((m) => m.headers.get('x-timebox-event'))).toEqual(LIFE);
    expect(hook.deliveries.map((d) => [d.headers['x-timebox-event'], d.status])).toEqual([
      ['granted', 200],
      ['expired', 200],
    ]);
    expect(log.entries).toEqual([]);
  });
});
