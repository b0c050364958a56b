// Review requests through the engine over the memory forge: the pull check asks the next step's team, withdraws
// it once the request is approved, and a second check of the same state changes nothing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { fixedClock } from '../../../src/core/clock.js';
import { noticesFor } from '../../../src/engine/notices/index.js';
import { checkPullRequest } from '../../../src/engine/pull-check.js';
import { requestYaml } from '../../helpers/github.js';
import { ROOT } from '../../helpers/repo.js';
import { MemoryForge } from './index.js';

const BOT = 'timebox[bot]';

it('asks the next step’s people, withdraws what is no longer needed, and repeats nothing', async () => {
  const forge = new MemoryForge(() => new Date('2026-03-02T10:00:00Z'));
  forge.commit('main', { 'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8') });
  forge.teams.set('@acme/qa', ['alice']);
  forge.teams.set('@acme/qa-leads', ['carol']);
  forge.permissions.set('carol', 'write');
  forge.branches.set('b', forge.branches.get('main') ?? '');
  forge.commit('b', { 'requests/alice/orders.yaml': requestYaml('alice') });
  const pull = forge.openPull('b', 'alice', '2026-03-02T09:00:00Z');
  // Someone asked zoe by hand: not Timebox's to withdraw.
  forge.reviewRequests.set(pull, { users: ['zoe'], teams: [] });
  const check = () =>
    checkPullRequest(forge, pull, {
      botLogin: BOT,
      clock: fixedClock(Date.parse('2026-03-02T10:00:00Z')),
      notices: noticesFor(forge, BOT),
    });

  const first = await check();
  expect(first.conclusion, JSON.stringify(first.decisions)).toBe('action_required');
  expect(first.reviewRequests?.added).toEqual({ users: [], teams: ['qa-leads'] });
  expect(await forge.requestedReviewers(pull)).toEqual({ users: ['zoe'], teams: ['qa-leads'] });
  expect((await check()).reviewRequests).toMatchObject({
    added: { users: [], teams: [] },
    removed: { users: [], teams: [] },
  });

  const p = forge.pulls.get(pull);
  p?.reviews.push({
    user: { login: 'carol', type: 'User' },
    state: 'APPROVED',
    commit_id: p.head.sha,
    submitted_at: '2026-03-02T09:30:00Z',
  });
  const approved = await check();
  expect(approved.conclusion).toBe('success');
  expect(approved.reviewRequests?.removed).toEqual({ users: [], teams: ['qa-leads'] });
  expect(await forge.requestedReviewers(pull)).toEqual({ users: ['zoe'], teams: [] });
});

it('a team the forge refuses is asked for through its members who could count, without churn', async () => {
  /** Refuses every team, as GitHub does a team without access to the repository (422). */
  class NoTeams extends MemoryForge {
    override async requestReviewers(number: number, add: { users: string[]; teams: string[] }) {
      if (add.teams.length > 0) throw new Error('Reviews may only be requested from collaborators.');
      return super.requestReviewers(number, add);
    }
  }
  const forge = new NoTeams(() => new Date('2026-03-02T10:00:00Z'));
  forge.commit('main', { 'policies/qa.yaml': readFileSync(join(ROOT, 'policies/qa.yaml'), 'utf8') });
  forge.teams.set('@acme/qa', ['alice']);
  forge.teams.set('@acme/qa-leads', ['carol', 'alice']);
  forge.permissions.set('carol', 'write');
  forge.branches.set('b', forge.branches.get('main') ?? '');
  forge.commit('b', { 'requests/alice/orders.yaml': requestYaml('alice') });
  const pull = forge.openPull('b', 'alice', '2026-03-02T09:00:00Z');
  const warnings: string[] = [];
  const check = () =>
    checkPullRequest(forge, pull, {
      botLogin: BOT,
      clock: fixedClock(Date.parse('2026-03-02T10:00:00Z')),
      notices: noticesFor(forge, BOT),
      warn: (m) => warnings.push(m),
    });
  expect((await check()).reviewRequests?.added).toEqual({ users: ['carol'], teams: [] });
  expect(warnings.join('\n')).toMatch(/could not ask qa-leads/);
  expect(await forge.requestedReviewers(pull)).toEqual({ users: ['carol'], teams: [] });
  expect((await check()).reviewRequests).toMatchObject({
    added: { users: [], teams: [] },
    removed: { users: [], teams: [] },
  });
  expect(await forge.requestedReviewers(pull)).toEqual({ users: ['carol'], teams: [] });
});
