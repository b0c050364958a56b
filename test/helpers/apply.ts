// Shared by the `timebox apply`/`plan` tests: an access repo with one PostgreSQL request by alice, her SSH
// key in a keys file, and git commits dated as the test needs.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestDatabase } from './postgres.js';
import { git, tempDir, write } from './repo.js';

/** git in `dir` with author and committer dated `when` (a merge at a chosen time). */
export function gitAt(dir: string, when: Date, ...args: string[]): string {
  const iso = when.toISOString();
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'A',
      GIT_AUTHOR_EMAIL: 'a@example.com',
      GIT_COMMITTER_NAME: 'T',
      GIT_COMMITTER_EMAIL: 't@example.com',
      GIT_AUTHOR_DATE: iso,
      GIT_COMMITTER_DATE: iso,
    },
  });
}

export interface ApplyRepo {
  dir: string;
  /** alice's private key (its public half is in `keys.yaml`). */
  key: string;
  /** The request file: its path holds the test database's unique name. */
  file: string;
}

/**
 * An access repo whose only rule allows everything on `orders-db` (postgres, `connection: orders`), whose
 * read-only role grants `grant` (plus `roleExtra`, e.g. `, statement_timeout: 5s`), with alice's 2h request
 * committed by `git` (default: the tests' plain git, dated now).
 */
export function postgresAccessRepo(
  db: TestDatabase,
  opts: { grant: string; roleExtra?: string; git?: (dir: string, ...args: string[]) => unknown },
): ApplyRepo {
  const dir = tempDir();
  const run = opts.git ?? git;
  run(dir, 'init', '-q', '-b', 'main');
  write(
    dir,
    'policies/db.yaml',
    `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [${opts.grant}], read_only: true${opts.roleExtra ?? ''} }
rules:
  - { name: all, resources: ["*"] }
`,
  );
  const file = `requests/alice/${db.name}.yaml`;
  write(
    dir,
    file,
    'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234 in prod\n',
  );
  run(dir, 'add', '-A');
  run(dir, 'commit', '-q', '-m', 'grant');
  const key = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', key]);
  writeFileSync(join(dir, 'keys.yaml'), `alice:\n  - ${readFileSync(`${key}.pub`, 'utf8').trim()}\n`);
  return { dir, key, file };
}
