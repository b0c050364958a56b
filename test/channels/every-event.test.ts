// Every SPEC event, from the engine's notices, through a `notify:` section built with secrets from the
// environment, to a real SMTP server (the double) and a signed webhook receiver: one mail and one POST per
// event, each threaded on the request, the webhook bodies valid against schemas/notify-webhook.schema.json,
// and no secret anywhere — not the sealed credentials, not a provider's password, not the SMTP login, not the
// webhook secret.
import { afterEach, describe, expect, it } from 'vitest';
import { createChannelRouter } from '../../src/channels/config.js';
import { NOTIFY_EVENTS } from '../../src/channels/message.js';
import { channelsNotifier } from '../../src/channels/notices.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Notice } from '../../src/engine/notices/notice.js';
import { notices } from '../../src/engine/notices/notifier.js';
import { SmtpDouble } from '../doubles/smtp.js';
import { WebhookReceiver } from '../doubles/webhook-receiver.js';
import {
  AT,
  breakGlass,
  FILE,
  granted,
  KEY,
  reminder,
  reverted,
  summary,
  unratified,
} from '../helpers/notices.js';
import { RecordingLogger } from './log.js';

const AUTH = { user: 'timebox', pass: 'smtp-pass-Zq93' };
const HOOK_SECRET = 'hook-secret-5fd1c0';
const SEALED_LINE = 'YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0-IHNzaC1lZDI1NTE5IGFiYw';
const DB_PASSWORD = 'hunter2-db-admin';

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
});

const LIFE: Notice[] = [
  summary('pending'),
  summary('approved'),
  granted(`-----BEGIN AGE ENCRYPTED FILE-----\n${SEALED_LINE}\n-----END AGE ENCRYPTED FILE-----`),
  breakGlass(),
  reminder,
  {
    kind: 'revocation-failing',
    file: FILE,
    message: `password authentication failed via postgres://admin:${DB_PASSWORD}@db:5432/x (password=${DB_PASSWORD})`,
  },
  unratified(AT),
  reverted,
];

describe('every event by e-mail and signed webhook', () => {
  it('arrives once per event, threaded on the request, valid, and with no secret in it', async () => {
    const smtp = await new SmtpDouble({ auth: AUTH }).start();
    const hook = await new WebhookReceiver(HOOK_SECRET).start();
    started.push(smtp, hook);
    const log = new RecordingLogger();
    const { router, errors } = createChannelRouter(
      [
        { channel: 'email', to: ['oncall@acme.example'], from: 'Timebox <timebox@acme.example>' },
        { channel: 'webhook', to: hook.url },
      ],
      {
        env: { TIMEBOX_SMTP_URL: smtp.url(), TIMEBOX_WEBHOOK_SECRET: HOOK_SECRET },
        clock: new ManualClock(AT),
        logger: log,
      },
    );
    expect(errors).toEqual([]);
    const emit = notices([channelsNotifier(router, { repo: 'acme/access' })]).emit;
    for (const n of LIFE) await emit(n);
    await router.drain();
    expect(log.entries.filter((e) => e.level !== 'info')).toEqual([]);

    // E-mail: one per event, in order, the first one the thread every later one replies to.
    const mails = smtp.received;
    expect(mails.map((m) => m.headers.get('x-timebox-event'))).toEqual([
      'opened',
      'approved',
      'granted',
      'break_glass',
      'reminder',
      'revocation_failing',
      'unratified',
      'expired',
    ]);
    expect(new Set(mails.map((m) => m.headers.get('x-timebox-request')))).toEqual(new Set([KEY]));
    const first = mails[0]?.headers.get('message-id');
    for (const m of mails.slice(1)) expect(m.headers.get('in-reply-to')).toBe(first);
    expect(mails.map((m) => m.headers.get('subject'))).toEqual([
      '[timebox] Access requested: alice → prod-db (read)',
      '[timebox] Access approved: alice → prod-db (read)',
      '[timebox] Access granted: alice → prod-db (read)',
      '[timebox] Break-glass access: alice → prod-db (read)',
      '[timebox] Access ends soon: alice → prod-db (read)',
      '[timebox] Revocation failing: alice → prod-db (read)',
      '[timebox] Break-glass access not ratified: alice → prod-db (read)',
      '[timebox] Access expired: alice → prod-db (read)',
    ]);
    expect(mails[3]?.text).toContain('Ratify by: 2026-12-01T16:00:00Z');
    expect(mails[5]?.text).toContain('password authentication failed via postgres://(redacted)@db:5432/x');

    // Webhook: one signed, schema-valid POST per event.
    const ok = hook.deliveries.filter((d) => d.status === 200);
    expect(ok.map((d) => (d.body as { event: string }).event).sort()).toEqual([...NOTIFY_EVENTS].sort());
    expect(hook.deliveries.every((d) => d.signed)).toBe(true);
    expect(hook.schemaErrors).toEqual([]);

    const everything = [...mails.map((m) => m.raw), ...hook.deliveries.map((d) => d.raw)].join('\n');
    for (const secret of [SEALED_LINE, 'BEGIN AGE', DB_PASSWORD, AUTH.pass, HOOK_SECRET])
      expect(everything).not.toContain(secret);
    expect(everything).not.toContain(Buffer.from(AUTH.pass).toString('base64'));
    await router.close();
  });
});
