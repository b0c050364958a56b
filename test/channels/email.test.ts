import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EmailChannel, renderText } from '../../src/channels/email.js';
import { SmtpDouble } from '../doubles/smtp.js';
import { deliveryFailure as failure } from '../helpers/notices.js';
import { LIFE, message } from './fixtures.js';

const FROM = 'Timebox <timebox@acme.example>';
const TO = ['oncall@acme.example', 'dba@acme.example'];
const AUTH = { user: 'timebox', pass: 'smtp-pass-Zq93' };

const started: SmtpDouble[] = [];
const channels: EmailChannel[] = [];
afterEach(async () => {
  for (const c of channels.splice(0)) c.close();
  for (const s of started.splice(0)) await s.stop();
});

async function server(options: ConstructorParameters<typeof SmtpDouble>[0] = {}) {
  const s = await new SmtpDouble(options).start();
  started.push(s);
  return s;
}
function channel(options: Partial<ConstructorParameters<typeof EmailChannel>[0]> & { url: string }) {
  const c = new EmailChannel({ to: TO, from: FROM, ...options });
  channels.push(c);
  return c;
}
describe('e-mail channel', () => {
  it('sends a mail with the headers and text a person needs', async () => {
    const smtp = await server();
    const c = channel({ url: smtp.url() });
    await c.deliver(message('opened'));
    const [mail] = smtp.received;
    expect(mail?.from).toBe('timebox@acme.example');
    expect(mail?.to).toEqual(TO);
    const h = mail?.headers;
    expect(h?.get('from')).toBe('Timebox <timebox@acme.example>');
    expect(h?.get('to')).toBe('oncall@acme.example, dba@acme.example');
    expect(h?.get('subject')).toBe('[timebox] Access requested: alice → prod-db (read) for 2h');
    expect(h?.get('message-id')).toBe(c.threadId('acme/access#42'));
    expect(h?.get('message-id')).toMatch(/^<timebox\.[0-9a-f]{24}@acme\.example>$/);
    expect(h?.has('in-reply-to')).toBe(false);
    expect(h?.get('auto-submitted')).toBe('auto-generated');
    expect(h?.get('x-timebox-event')).toBe('opened');
    expect(h?.get('x-timebox-request')).toBe('acme/access#42');
    expect(h?.get('content-type')).toMatch(/^text\/plain; charset=utf-8/);
    expect(mail?.text).toBe(renderText(message('opened')));
    expect(mail?.text).toContain('Reason: incident INC-7 investigation.');
    expect(mail?.text).toContain('Until:     2026-12-01T14:00:00Z');
    expect(mail?.text).toContain('https://github.com/acme/access/pull/42');
  });

  it('threads every mail about one request under the first', async () => {
    const smtp = await server();
    const c = channel({ url: smtp.url() });
    for (const event of LIFE) await c.deliver(message(event));
    await c.deliver(message('opened', { key: 'acme/access#43' }));
    const root = c.threadId('acme/access#42');
    const [first, ...later] = smtp.received.slice(0, 4);
    expect(first?.headers.get('message-id')).toBe(root);
    for (const mail of later) {
      expect(mail.headers.get('in-reply-to')).toBe(root);
      expect(mail.headers.get('references')).toBe(root);
    }
    const ids = smtp.received.map((m) => m.headers.get('message-id'));
    expect(new Set(ids).size).toBe(5);
    expect(smtp.received[4]?.headers.get('message-id')).toBe(c.threadId('acme/access#43'));
    expect(c.threadId('acme/access#43')).not.toBe(root);
  });

  it('gives the retries of one delivery one Message-ID', async () => {
    const smtp = await server();
    const c = channel({ url: smtp.url() });
    await c.deliver(message('granted'), { id: 'd-1', attempt: 1 });
    await c.deliver(message('granted'), { id: 'd-1', attempt: 2 });
    await c.deliver(message('granted'), { id: 'd-2', attempt: 1 });
    const [a, b, other] = smtp.received.map((m) => m.headers.get('message-id'));
    expect(a).toBe(b);
    expect(other).not.toBe(a);
  });

  it('logs in over STARTTLS, verifying the server certificate, and never puts the password in the mail', async () => {
    const smtp = await server({ auth: AUTH, starttls: true });
    const c = channel({ url: `${smtp.url()}?requireTLS=true`, tls: { ca: smtp.ca as string } });
    await c.deliver(message('granted'));
    const [mail] = smtp.received;
    expect(mail?.secure).toBe(true);
    expect(mail?.user).toBe('timebox');
    expect(mail?.raw).not.toContain(AUTH.pass);
    expect(mail?.raw).not.toContain(Buffer.from(AUTH.pass).toString('base64'));

    // Without trusting its certificate, STARTTLS fails (and would pass by itself: retryable).
    const untrusting = channel({ url: `${smtp.url()}?requireTLS=true` });
    expect((await failure(untrusting.deliver(message('granted')))).retryable).toBe(true);
    expect(smtp.received).toHaveLength(1);
  });

  it('does not retry a refused login or a permanent refusal, and retries a temporary one', async () => {
    const smtp = await server({ auth: AUTH });
    const wrong = await failure(
      channel({ url: smtp.url({ user: 'timebox', pass: 'nope' }) }).deliver(message('opened')),
    );
    expect(wrong.retryable).toBe(false);
    expect(wrong.message).not.toContain('nope');

    const busy = await server({ rejectFirst: { count: 1, code: 451 } });
    expect((await failure(channel({ url: busy.url() }).deliver(message('opened')))).retryable).toBe(true);
    await channel({ url: busy.url() }).deliver(message('opened'));
    expect(busy.received).toHaveLength(1);

    const refusing = await server({ rejectFirst: { count: 1, code: 550 } });
    expect((await failure(channel({ url: refusing.url() }).deliver(message('opened')))).retryable).toBe(
      false,
    );
  });

  it('retries when the server is not there', async () => {
    const port = await freePort();
    const down = await failure(channel({ url: `smtp://127.0.0.1:${port}` }).deliver(message('opened')));
    expect(down.retryable).toBe(true);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
