// Ratification as the engine counts it (src/engine/break-glass.ts), over the example in-memory forge: a merged
// emergency request is known as break-glass by deciding it as at its merge; it is ratified only by approvals
// the rule counts (a lead's, not the requester's, not a QA member's) submitted by ratify_by — one given later
// never ratifies, whenever the question is asked — and the alarm is opened once per request file.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Grant } from '../../src/core/ledger.js';
import { candidates, glassMark, raiseUnratified, ratification } from '../../src/engine/break-glass.js';
import { noticesFor } from '../../src/engine/notices/index.js';
import { unratifiedTitle } from '../../src/engine/notices/render.js';
import { MemoryForge } from '../examples/forge-memory/index.js';

const BOT = 'timebox[bot]';
const FILE = 'requests/alice/incident.yaml';
const MERGED = '2026-03-01T03:00:00.000Z';
const RATIFY_BY = Date.parse(MERGED) + 3_600_000;

const POLICY = `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [orders_reader], read_only: true }
rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-only]
    max_duration: 4h
    break_glass: { max_duration: 2h, ratify_within: 1h }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`;

function merged(): { forge: MemoryForge; pull: number; grant: Grant } {
  const forge = new MemoryForge(() => new Date(MERGED));
  forge.commit('main', { 'timebox.yaml': 'auto_merge: true\n', 'policies/qa.yaml': POLICY });
  forge.teams.set('@acme/qa', ['alice', 'bob']);
  forge.teams.set('@acme/qa-leads', ['carol']);
  for (const l of ['alice', 'bob', 'carol']) forge.permissions.set(l, 'write');
  forge.branches.set('b', forge.branches.get('main') ?? '');
  forge.commit('b', {
    [FILE]:
      'requester: alice\nresource: orders-db\nrole: read-only\nduration: 1h\nemergency: true\nreason: INC-9 checkout down\n',
  });
  const pull = forge.openPull('b', 'alice', '2026-03-01T02:59:00Z');
  const p = forge.pulls.get(pull);
  if (p) Object.assign(p, { state: 'closed', merged: true, merged_at: MERGED, merge_commit_sha: 'm1' });
  const grant = {
    id: `${FILE}@m1`,
    file: FILE,
    requester: 'alice',
    resource: 'orders-db',
    role: 'read-only',
    reason: 'INC-9 checkout down',
    starts_at: MERGED,
    expires_at: '2026-03-01T04:00:00.000Z',
    ends_at: '2026-03-01T04:00:00.000Z',
    state: 'active',
    commit: 'm1',
    merged_at: MERGED,
    approvers: [],
  } as Grant;
  return { forge, pull, grant };
}

function approve(forge: MemoryForge, pull: number, login: string, at: number) {
  const p = forge.pulls.get(pull);
  p?.reviews.push({
    user: { login, id: forge.user(login).id, type: 'User' },
    state: 'APPROVED',
    commit_id: p.head.sha,
    submitted_at: new Date(at).toISOString(),
  });
}

describe('break-glass ratification in the engine', () => {
  it('is known as break-glass by its decision at the merge; an ordinary approval is not', async () => {
    const { forge, pull, grant } = merged();
    const w = await glassMark(forge, { grant, pull }, { botLogin: BOT });
    expect(w?.grant.break_glass).toEqual({
      rule: 'qa-read',
      ratify_by: new Date(RATIFY_BY).toISOString().replace('.000Z', 'Z'),
    });

    const plain = merged();
    approve(plain.forge, plain.pull, 'carol', Date.parse(MERGED) - 60_000);
    expect(
      await glassMark(plain.forge, { grant: plain.grant, pull: plain.pull }, { botLogin: BOT }),
    ).toBeNull();
  });

  it('ratified by a lead before ratify_by: by whom and when; the requester and a QA member count for nothing', async () => {
    const { forge, pull, grant } = merged();
    const w = await glassMark(forge, { grant, pull }, { botLogin: BOT });
    if (!w) throw new Error('not break-glass');
    approve(forge, pull, 'alice', RATIFY_BY - 30 * 60_000);
    approve(forge, pull, 'bob', RATIFY_BY - 20 * 60_000);
    expect(await ratification(forge, w, { botLogin: BOT, nowMs: RATIFY_BY - 10 * 60_000 })).toMatchObject({
      state: 'waiting',
      missing: ['1 from @acme/qa-leads'],
    });
    approve(forge, pull, 'carol', RATIFY_BY - 5 * 60_000);
    expect(await ratification(forge, w, { botLogin: BOT, nowMs: RATIFY_BY + 3_600_000 })).toEqual({
      state: 'ratified',
      by: ['carol'],
      at: new Date(RATIFY_BY - 5 * 60_000).toISOString().replace('.000Z', 'Z'),
    });
  });

  it('an approval after ratify_by never ratifies; the alarm is opened once per file', async () => {
    const { forge, pull, grant } = merged();
    const w = await glassMark(forge, { grant, pull }, { botLogin: BOT });
    if (!w) throw new Error('not break-glass');
    approve(forge, pull, 'carol', RATIFY_BY + 60_000);
    const r = await ratification(forge, w, { botLogin: BOT, nowMs: RATIFY_BY + 120_000 });
    expect(r).toEqual({ state: 'unratified', missing: ['1 from @acme/qa-leads'] });

    const notices = noticesFor(forge, BOT);
    expect(await raiseUnratified(forge, notices, w, ['1 from @acme/qa-leads'], RATIFY_BY)).toBe(true);
    const alarms = forge.issues.filter((i) => i.title === unratifiedTitle('alice', FILE));
    expect(alarms).toHaveLength(1);
    // Closed by a code owner, asked again (a restart): no second alarm.
    await forge.closeIssue(alarms[0]?.number ?? 0);
    expect(await raiseUnratified(forge, notices, w, [], RATIFY_BY)).toBe(false);
    expect(forge.issues.filter((i) => i.title === unratifiedTitle('alice', FILE))).toHaveLength(1);
  });
});

describe('candidates: only emergency requests are looked at again', () => {
  it('a grant whose request did not say emergency: true is never decided again, whatever else holds', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            n: fc.nat(20),
            emergency: fc.boolean(),
            marked: fc.boolean(),
            state: fc.constantFrom<Grant['state'][]>('active', 'expired', 'revoked', 'replaced'),
            pull: fc.option(fc.nat(99), { nil: undefined }),
          }),
          { maxLength: 30 },
        ),
        (raw) => {
          const now = Date.parse('2026-07-02T00:00:00Z');
          const grants: Grant[] = raw.map((r, i) => ({
            id: `requests/a/${r.n}.yaml@${i}`,
            file: `requests/a/${r.n}.yaml`,
            requester: 'alice',
            resource: 'orders-db',
            role: 'read-only',
            reason: 'Reproduce BUG-1',
            starts_at: '2026-07-01T10:00:00Z',
            expires_at: '2026-07-01T11:00:00Z',
            ends_at: '2026-07-01T11:00:00Z',
            state: r.state,
            commit: 'c'.repeat(40),
            merged_at: '2026-07-01T10:00:00Z',
            approvers: [],
            ...(r.pull === undefined ? {} : { pull_request: r.pull }),
            ...(r.emergency ? { emergency: true as const } : {}),
            ...(r.marked ? { break_glass: { rule: 'incident', ratify_by: '2026-07-01T14:00:00Z' } } : {}),
          }));
          for (const c of candidates(grants, () => 7, now)) {
            expect(c.grant.emergency === true || c.grant.break_glass !== undefined).toBe(true);
          }
          // And an unsettled emergency grant, latest of its file and not replaced, is looked at.
          const last = new Map(grants.map((g) => [g.file, g]));
          for (const g of last.values()) {
            if (g.emergency && !g.break_glass && g.state !== 'replaced')
              expect(candidates(grants, () => 7, now).some((c) => c.grant.id === g.id)).toBe(true);
          }
        },
      ),
    );
  });
});
