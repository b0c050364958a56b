// docs/notifications.md is tested: its `notify:` example is valid and builds, its webhook body is what the
// channel sends and fits the schema, its signature snippet verifies real signatures, and the environment
// variables it names are the ones the code reads.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildRoutes, parseNotify, SLACK_API_URL_ENV } from '../../src/channels/config.js';
import { SMTP_FROM_ENV, SMTP_URL_ENV } from '../../src/channels/email.js';
import { NOTIFY_EVENTS } from '../../src/channels/message.js';
import { toChannelMessages } from '../../src/channels/notices.js';
import { ALERTS, SLACK_TOKEN_ENV } from '../../src/channels/slack.js';
import { sign, WEBHOOK_SECRET_ENV, webhookBody } from '../../src/channels/webhook.js';
import type { Decision } from '../../src/core/model.js';
import type { Notice, NoticeGrant } from '../../src/engine/notices/notice.js';
import { message } from './fixtures.js';

const G: NoticeGrant = {
  id: 'g',
  file: 'requests/a.yaml',
  requester: 'alice',
  role: 'read',
  resource: 'prod-db',
};
const request = { requester: 'alice', resource: 'prod-db', role: 'read', duration: '2h', reason: 'INC-7 x' };
const decided = (status: 'pending' | 'approved'): Decision => ({
  file: G.file,
  status,
  change: 'added',
  request,
  rule: null,
  errors: [],
  reasons: [],
  approvals: null,
  window: null,
});
/** One notice of each kind the table names. */
const SAMPLES: Notice[] = [
  {
    kind: 'pull-summary',
    pull: 1,
    headSha: 'a',
    decisions: [decided('pending'), decided('approved')],
    previews: new Map(),
    notes: [],
  },
  { kind: 'granted', pull: 1, grant: G, principal: 'p', credentials: '', expiresAt: 0, at: 0 },
  { kind: 'reminder', pull: 1, grant: G, endsAt: 0, at: 0 },
  { kind: 'reverted', file: G.file, reason: 'expired', pull: 2, grant: G, requestPull: 1 },
  { kind: 'revocation-failing', file: G.file, message: 'x', grant: G, pull: 1 },
  { kind: 'break-glass', pull: 1, grant: G, rule: 'r', reason: 'x', ratifyBy: 0, ratifiers: [], at: 0 },
  { kind: 'unratified', pull: 1, grant: G, rule: 'r', ratifyBy: 0, missing: [], at: 0 },
];

const DOC = readFileSync(new URL('../../docs/notifications.md', import.meta.url), 'utf8');

function block(lang: string, after: string): string {
  const from = DOC.indexOf(after);
  expect(from, after).toBeGreaterThanOrEqual(0);
  const match = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\\n\`\`\``).exec(DOC.slice(from));
  if (!match?.[1]) throw new Error(`no ${lang} block after ${after}`);
  return match[1];
}

describe('docs/notifications.md', () => {
  it('its notify: example is valid and builds three channels', () => {
    const { notify } = parse(block('yaml', '## Routing')) as { notify: unknown };
    const { entries, errors } = parseNotify(notify);
    expect(errors).toEqual([]);
    const built = buildRoutes(entries, {
      env: {
        TIMEBOX_SLACK_TOKEN: 'xoxb-doc',
        TIMEBOX_SMTP_URL: 'smtp://127.0.0.1:1',
        TIMEBOX_INCIDENT_WEBHOOK_SECRET: 'doc-secret',
      },
    });
    expect(built.errors).toEqual([]);
    expect(built.routes.map((r) => r.channel.id)).toEqual([
      'slack:C0ACCESS01',
      'email:dba@acme.example',
      'webhook:https://incidents.acme.example/hooks/timebox',
    ]);
  });

  it('its webhook body is what the channel sends, and fits the schema', () => {
    const shown = JSON.parse(block('json', 'The body (')) as unknown;
    expect(shown).toEqual(webhookBody(message('granted')));
    const schema = JSON.parse(
      readFileSync(new URL('../../schemas/notify-webhook.schema.json', import.meta.url), 'utf8'),
    ) as object;
    const ajv = new Ajv({ strict: true });
    addFormats.default(ajv);
    expect(ajv.validate(schema, shown), ajv.errorsText()).toBe(true);
  });

  it('its signature check accepts what Timebox signs and rejects anything else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'timebox-doc-'));
    try {
      const file = join(dir, 'verify.mjs');
      writeFileSync(file, block('js', '### Verifying the signature'));
      const { verifyTimeboxSignature } = (await import(pathToFileURL(file).href)) as {
        verifyTimeboxSignature: (secret: string, raw: Buffer, signature: unknown) => boolean;
      };
      const raw = Buffer.from(JSON.stringify(webhookBody(message('granted'))));
      const header = sign('doc-secret', raw);
      expect(verifyTimeboxSignature('doc-secret', raw, header)).toBe(true);
      expect(verifyTimeboxSignature('other', raw, header)).toBe(false);
      expect(verifyTimeboxSignature('doc-secret', Buffer.concat([raw, Buffer.from(' ')]), header)).toBe(
        false,
      );
      expect(verifyTimeboxSignature('doc-secret', raw, header.slice(0, -1))).toBe(false);
      expect(verifyTimeboxSignature('doc-secret', raw, undefined)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('its events table lists exactly the events, each from the notice that makes it', () => {
    const table = DOC.slice(DOC.indexOf('## Events'), DOC.indexOf('## Routing'));
    const rows = table
      .split('\n')
      .filter((l) => /^\| `[a-z_]+` \|/.test(l))
      .map((l) => l.split('|').map((c) => c.trim()));
    const events = rows.map((r) => (r[1] as string).replace(/`/g, ''));
    expect(events).toEqual([...NOTIFY_EVENTS]);
    for (const [, event, , kind] of rows) {
      const produced = SAMPLES.filter((n) => n.kind === kind?.replace(/`/g, '')).flatMap((n) =>
        toChannelMessages(n, { repo: 'acme/access' }).map((m) => `\`${m.event}\``),
      );
      expect(produced, `${kind} makes ${event}`).toContain(event);
    }
    expect(table).toContain('sent to **every** `notify:` entry, whatever its `resources:` and `events:`');
    expect([...ALERTS].every((e) => rows.find((r) => r[1] === `\`${e}\``)?.[4]?.includes('broadcast'))).toBe(
      true,
    );
  });

  it('names the environment variables the code reads', () => {
    for (const name of [SLACK_TOKEN_ENV, SMTP_URL_ENV, SMTP_FROM_ENV, WEBHOOK_SECRET_ENV, SLACK_API_URL_ENV])
      expect(DOC).toContain(`\`${name}\``);
  });

  it('has no shell blocks (test/docs/shell-blocks.test.ts would run them)', () => {
    expect(DOC).not.toMatch(/```(sh|bash|shell|console)\n/);
  });
});
