// pending_ttl against the fake GitHub: only request PRs unapproved for longer than the TTL are closed,
// with a comment; approved ones and PRs without requests stay open.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/core/clock.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { closeStalePulls } from '../../src/engine/stale.js';
import { FakeGitHub, type JsonObject } from '../../src/forge/fake-github.js';
import { githubForge } from '../../src/github/forge.js';
import { MANIFEST, requestYaml } from '../helpers/github.js';
import { ROOT } from '../helpers/repo.js';

const REPO = 'acme/access';
const ref = { owner: 'acme', repo: 'access' };
const DAY = 24 * 3_600_000;

let fake: FakeGitHub;
let gh: Octokit;
const pulls: Record<string, number> = {};

beforeAll(async () => {
  fake = await FakeGitHub.start();
  await fake.createRepo(REPO, {
    author: 'admin',
    files: {
      'timebox.yaml': 'pending_ttl: 1d\n',
      'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8'),
    },
  });
  fake.setTeam('@acme/qa', ['alice']);
  fake.setTeam('@acme/qa-leads', ['carol']);
  fake.setPermission('carol', 'write');
  gh = new Octokit({ baseUrl: fake.url, auth: fake.token(MANIFEST.default_permissions) });
  for (const [name, files] of [
    ['pending', { 'requests/alice/p.yaml': requestYaml('alice') }],
    ['approved', { 'requests/alice/a.yaml': requestYaml('alice') }],
    ['docs', { 'README.md': 'hello\n' }],
  ] as const) {
    await fake.commit(REPO, { branch: `b-${name}`, files, author: 'alice' });
    pulls[name] = await fake.openPull({ repo: REPO, head: `b-${name}`, user: 'alice' });
  }
  await fake.review({ repo: REPO, pull: pulls.approved as number, user: 'carol', state: 'APPROVED' });
});
afterAll(async () => {
  await fake?.close();
});

/** Closing stale pull requests over GitHub as a Forge, at `at`. */
const closeStale = (at: Date) => {
  const forge = githubForge(gh, ref);
  return closeStalePulls(forge, {
    botLogin: 'timebox[bot]',
    defaultBranch: 'main',
    clock: fixedClock(at),
    notices: noticesFor(forge, 'timebox[bot]'),
  });
};

const state = async (n: number) => String((await fake.pull(REPO, n)).state);

describe('pending_ttl', () => {
  it('keeps everything younger than the TTL', async () => {
    const r = await closeStale(new Date(Date.now() + 3_600_000));
    expect(r).toEqual({ closed: [], kept: 3 });
  });

  it('closes only the unapproved request PR once it is older than the TTL, saying why', async () => {
    const r = await closeStale(new Date(Date.now() + 2 * DAY));
    expect(r.closed).toEqual([pulls.pending]);
    expect(await state(pulls.pending as number)).toBe('closed');
    expect(await state(pulls.approved as number)).toBe('open');
    expect(await state(pulls.docs as number)).toBe('open');
    const comment = fake.comments.find((c: JsonObject) =>
      String(c.issue_url).endsWith(`/issues/${pulls.pending}`),
    );
    expect(String(comment?.body)).toContain('waited more than 1d without being approved');
    fake.assertClean();
  });
});
