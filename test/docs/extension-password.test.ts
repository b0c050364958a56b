// What the docs say happens to the password when a request is extended is what the PostgreSQL provider
// does: the same role, ALTER ROLE … PASSWORD with a new SCRAM verifier (a new password, delivered like the
// first; sessions stay). The FAQ and docs/providers/postgres.md once disagreed ("no new password").
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { grantStatements } from '../../src/providers/postgres/index.js';
import type { GrantSpec } from '../../src/providers/types.js';
import { ROOT } from '../helpers/repo.js';

const paragraph = (file: string, start: string) => {
  const text = readFileSync(join(ROOT, file), 'utf8').replace(/\n(?!\n)/g, ' ');
  const at = text.indexOf(start);
  expect(at, `${file} has no "${start}"`).toBeGreaterThanOrEqual(0);
  return text.slice(at, text.indexOf('\n', at));
};

describe('a password at extension', () => {
  it('the provider sets a new one on the same role (ALTER ROLE … PASSWORD)', () => {
    const spec = {
      accessRepoId: 'o',
      file: 'requests/alice/x.yaml',
      grantId: 'requests/alice/x.yaml@c',
      requester: 'alice',
      resourceId: 'orders-db',
      resource: { connection: 'orders' },
      role: 'read-only',
      roleSettings: { grant: ['orders_read'] },
      expiresAt: new Date('2026-12-01T12:00:00Z'),
    } as unknown as GrantSpec;
    const [first] = grantStatements(spec, 'SCRAM-SHA-256$new', true);
    expect(first).toMatch(/^ALTER ROLE "tb_alice_[0-9a-f]+" WITH LOGIN PASSWORD 'SCRAM-SHA-256\$new'/);
  });

  it('the FAQ and docs/providers/postgres.md both say so', () => {
    const faq = paragraph('docs/faq.md', '**Can I extend access?**');
    const postgres = paragraph('docs/providers/postgres.md', '**An edited request**');
    for (const text of [faq, postgres]) {
      expect(text).toContain('new password');
      expect(text).not.toMatch(/no new password|same password/);
      expect(text).toContain('sessions');
    }
  });
});
