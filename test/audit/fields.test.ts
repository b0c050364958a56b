// What an auditor reads in every event of `timebox audit` (docs/audit.md, "Events"): the expiry, the ticket
// and the pull request of the grant, and actors as GitHub logins, never e-mail addresses — from a real git
// history with Timebox's signed merge, a person's merge, and commits by no-reply and other addresses.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { webUrlFromEnv, webUrlOf } from '../../src/audit/web-url.js';
import { actorOf } from '../../src/core/ledger.js';
import { run, tempDir, write } from '../helpers/repo.js';
import { signHead, TIMEBOX_BOT, writeTrust } from '../helpers/trust.js';

interface Person {
  name: string;
  email: string;
}
const ALICE: Person = { name: 'Alice Liddell', email: '123+alice@users.noreply.github.com' };
const BOB: Person = { name: 'Bob', email: 'bob@users.noreply.github.com' };
const DAVE: Person = { name: 'Dave Smith', email: 'dave@corp.example' };

function gitAs(dir: string, who: Person, when: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: who.name,
      GIT_AUTHOR_EMAIL: who.email,
      GIT_COMMITTER_NAME: 'GitHub',
      GIT_COMMITTER_EMAIL: 'noreply@github.com',
      GIT_AUTHOR_DATE: when,
      GIT_COMMITTER_DATE: when,
    },
  });
}

const request = (requester: string, ticket?: string) =>
  `requester: ${requester}\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234 in prod\n${ticket ? `ticket: ${ticket}\n` : ''}`;

/** A PR branch by `author` merged onto main by `merger` with `message`. */
function merge(
  dir: string,
  when: string,
  author: Person,
  merger: Person,
  files: Record<string, string>,
  message: string,
) {
  gitAs(dir, author, when, 'switch', '-q', '-c', `pr-${Math.random().toString(36).slice(2)}`);
  for (const [path, text] of Object.entries(files)) write(dir, path, text);
  gitAs(dir, author, when, 'add', '-A');
  gitAs(dir, author, when, 'commit', '-q', '-m', 'request');
  gitAs(dir, merger, when, 'switch', '-q', 'main');
  gitAs(dir, merger, when, 'merge', '-q', '--no-ff', '-', '-m', message);
}

const A = 'requests/alice/orders.yaml';
const B = 'requests/bob/orders.yaml';

async function history(): Promise<string> {
  const dir = tempDir();
  gitAs(dir, DAVE, '2026-01-01T00:00:00Z', 'init', '-q', '-b', 'main');
  writeTrust(dir);
  gitAs(dir, DAVE, '2026-01-01T00:00:00Z', 'add', '-A');
  gitAs(dir, DAVE, '2026-01-01T00:00:00Z', 'commit', '-q', '-m', 'trust');
  // Timebox's merge of alice's PR #42 (its bot, signed by GitHub): its trailers count.
  merge(
    dir,
    '2026-01-05T09:00:00Z',
    ALICE,
    TIMEBOX_BOT,
    { [A]: request('alice', 'BUG-1234') },
    'Grant (#42)\n\nTimebox-Requested-By: alice\nTimebox-Approved-By: carol\nTimebox-Pull-Request: 42',
  );
  await signHead(dir);
  // A person's merge with a corporate address, claiming an approval: not Timebox's, so not believed.
  merge(
    dir,
    '2026-01-05T10:00:00Z',
    DAVE,
    DAVE,
    { [B]: request('bob') },
    'Merge\n\nTimebox-Approved-By: carol',
  );
  // bob (an older no-reply address, without the id) removes alice's file early.
  gitAs(dir, BOB, '2026-01-05T10:30:00Z', 'rm', '-q', A);
  gitAs(dir, BOB, '2026-01-05T10:30:00Z', 'commit', '-q', '-m', 'done');
  return dir;
}

interface Event {
  type: string;
  file: string;
  actor: string | null;
  expires_at: string;
  ticket: string | null;
  pull_request: number | null;
}

describe('audit events for an auditor', () => {
  it('carry expires_at, ticket and pull_request; actors are logins in every event, never e-mail addresses', async () => {
    const dir = await history();
    const out = await run(['audit', '--no-cache'], { cwd: dir });
    expect(out.code, out.stderr).toBe(0);
    const { events } = JSON.parse(out.stdout) as { events: Event[] };
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      expect(Object.keys(e)).toEqual(expect.arrayContaining(['expires_at', 'ticket', 'pull_request']));
      expect(e.actor ?? '').not.toContain('@');
    }
    const of = (file: string) => events.filter((e) => e.file === file);
    expect(of(A).map((e) => [e.type, e.actor, e.expires_at, e.ticket, e.pull_request])).toEqual([
      ['requested', 'alice', '2026-01-05T11:00:00Z', 'BUG-1234', 42],
      ['approved', 'carol', '2026-01-05T11:00:00Z', 'BUG-1234', 42],
      ['granted', 'timebox[bot]', '2026-01-05T11:00:00Z', 'BUG-1234', 42],
      ['revoked', 'bob', '2026-01-05T11:00:00Z', 'BUG-1234', 42],
    ]);
    // Not Timebox's merge: no pull request is believed, the claimed approval has no actor (and a note),
    // and a corporate address is shown as the marked git name.
    expect(of(B).map((e) => [e.type, e.actor, e.ticket, e.pull_request])).toEqual([
      ['requested', 'bob', null, null],
      ['approved', null, null, null],
      ['granted', 'git:Dave Smith', null, null],
      ['expired', null, null, null],
    ]);

    const csv = (await run(['audit', '--format', 'csv', '--no-cache'], { cwd: dir })).stdout;
    const [head, ...rows] = csv.trimEnd().split('\r\n');
    expect(head).toBe(
      'time,type,file,actor,requester,resource,role,expires_at,ticket,pull_request,reason,activity,commit,grant',
    );
    expect(rows).toHaveLength(events.length);
    expect(rows[0]).toMatch(
      /^2026-01-05T09:00:00Z,requested,requests\/alice\/orders\.yaml,alice,.*,2026-01-05T11:00:00Z,BUG-1234,42,/,
    );
    expect(rows.map((r) => r.split(',')[3])).toEqual(events.map((e) => e.actor ?? ''));
  });

  it('links the pull request in HTML when the repository’s web address is known', async () => {
    // The page draws its links from the embedded data's repoUrl (src/audit/page-data.ts): only an http(s)
    // address, never credentials; test/audit/html.test.ts checks in Chromium that the links are drawn.
    const embedded = (html: string) => {
      const json = /<script type="application\/json" id="timebox-data">([\s\S]*?)<\/script>/.exec(html)?.[1];
      if (!json) throw new Error('no embedded data in the page');
      return JSON.parse(json) as { repoUrl: string | null };
    };
    const dir = await history();
    const plain = (await run(['audit', '--format', 'html', '--no-cache'], { cwd: dir })).stdout;
    expect(plain).toContain('42');
    expect(embedded(plain).repoUrl).toBeNull();
    execFileSync(
      'git',
      ['remote', 'add', 'origin', 'https://x-access-token:s3cret@github.com/acme/access.git'],
      {
        cwd: dir,
      },
    );
    const linked = (await run(['audit', '--format', 'html', '--no-cache'], { cwd: dir })).stdout;
    expect(embedded(linked).repoUrl).toBe('https://github.com/acme/access');
    expect(linked).not.toContain('s3cret');
    const actions = await run(['audit', '--format', 'html', '--no-cache'], {
      cwd: dir,
      env: { GITHUB_SERVER_URL: 'https://ghe.example', GITHUB_REPOSITORY: 'acme/access' },
    });
    expect(embedded(actions.stdout).repoUrl).toBe('https://ghe.example/acme/access');
  });

  it('actorOf: a no-reply address names the login; any other address gives the marked git name', () => {
    expect(actorOf('Alice <123+alice@users.noreply.github.com>')).toBe('alice');
    expect(actorOf('timebox[bot] <1001+timebox[bot]@users.noreply.github.com>')).toBe('timebox[bot]');
    expect(actorOf('Bob <bob@users.noreply.github.com>')).toBe('bob');
    expect(actorOf('Dave Smith <dave@corp.example>')).toBe('git:Dave Smith');
    // The local part is never taken for a login: anyone can write carol@ in an address of their own.
    expect(actorOf('x <carol@evil.example>')).toBe('git:x');
    expect(actorOf(' <carol@evil.example>')).toBe('git:carol');
    expect(actorOf('carol@evil.example <carol@evil.example>')).toBe('git:carol');
    expect(actorOf('carol')).toBe('carol');
    expect(actorOf('carol@corp.example')).toBe('git:carol');
    expect(actorOf('1+carol@users.noreply.github.com.evil.example')).toBe('git:1+carol');
  });

  it('webUrlOf: https, scp-like and ssh remotes; nothing else; never credentials', () => {
    expect(webUrlOf('git@github.com:acme/access.git')).toBe('https://github.com/acme/access');
    expect(webUrlOf('https://github.com/acme/access')).toBe('https://github.com/acme/access');
    expect(webUrlOf('https://u:p@GitHub.com/acme/access.git/')).toBe('https://github.com/acme/access');
    expect(webUrlOf('ssh://git@ghe.corp:2222/acme/access.git')).toBe('https://ghe.corp/acme/access');
    expect(webUrlOf('/srv/git/access.git')).toBeNull();
    expect(webUrlOf('file:///srv/git/access.git')).toBeNull();
    expect(webUrlOf('https://github.com/acme/access/extra')).toBeNull();
    expect(webUrlFromEnv({ GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/access' })).toBe(
      'https://github.com/acme/access',
    );
    expect(webUrlFromEnv({ GITHUB_SERVER_URL: 'javascript:alert(1)', GITHUB_REPOSITORY: 'a/b' })).toBeNull();
  });
});
