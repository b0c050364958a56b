// The pure half of `timebox whatif` (src/core/whatif.ts): which versions a history holds and with which
// recorded approvals, which working-tree files are open, and the comparison of two decision sets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCodeOwners } from '../../src/core/codeowners.js';
import type { HistoryCommit } from '../../src/core/ledger.js';
import { DEFAULT_CONFIG, type Decision, type Status } from '../../src/core/model.js';
import {
  branchFiles,
  compareDecisions,
  type Decided,
  decideBoth,
  decideVersions,
  historyVersions,
  openVersions,
  type RequestVersion,
} from '../../src/core/whatif.js';
import { policies, TEAMS } from '../helpers/core.js';
import { TIMEBOX_BOT, TRUSTING } from '../helpers/trust.js';

const BOT = `${TIMEBOX_BOT.name} <${TIMEBOX_BOT.email}>`;

function commit(sha: string, time: string, over: Partial<HistoryCommit>): HistoryCommit {
  return {
    sha,
    parents: ['p1', 'p2'],
    time,
    authoredAt: time,
    author: BOT,
    committer: 'GitHub <noreply@github.com>',
    subject: 'Grant',
    trailers: {},
    changes: [],
    signature: { status: 'valid', signer: 'web-flow' },
    ...over,
  };
}

const TEXT =
  'requester: alice\nresource: orders-db\nrole: read-only\nduration: 1h\nreason: Reproduce BUG-1234\n';
const approved = { 'timebox-approved-by': ['carol, @dave'], 'timebox-requested-by': ['alice'] };

describe('historyVersions', () => {
  it('every added or modified request file is a version at its commit, with approvals only from Timebox merges', () => {
    const commits = [
      commit('a', '2026-01-07T10:00:00Z', {
        trailers: approved,
        changes: [{ status: 'added', path: 'requests/alice/x.yaml', content: TEXT }],
      }),
      // The same trailers, but not Timebox's: authored by a person, one parent, unsigned.
      commit('b', '2026-01-07T11:00:00Z', {
        author: 'bob <bob@example.com>',
        parents: ['a'],
        signature: { status: 'none' },
        trailers: approved,
        changes: [
          { status: 'modified', path: 'requests/alice/x.yaml', content: `${TEXT}ticket: X-1\n` },
          { status: 'added', path: 'README.md', content: '# no request' },
        ],
      }),
      // Signed and a merge, but authored by a person (a merge in the web UI).
      commit('c', '2026-01-07T12:00:00Z', {
        author: 'bob <bob@example.com>',
        trailers: approved,
        changes: [{ status: 'added', path: 'requests/bob/y.yaml', content: TEXT }],
      }),
      commit('d', '2026-01-07T13:00:00Z', {
        changes: [{ status: 'removed', path: 'requests/alice/x.yaml' }],
      }),
    ];
    expect(historyVersions(commits, TRUSTING)).toEqual([
      {
        file: 'requests/alice/x.yaml',
        commit: 'a',
        at: '2026-01-07T10:00:00Z',
        text: TEXT,
        author: 'alice',
        approvers: ['carol', 'dave'],
      },
      {
        file: 'requests/alice/x.yaml',
        commit: 'b',
        at: '2026-01-07T11:00:00Z',
        text: `${TEXT}ticket: X-1\n`,
        approvers: [],
      },
      { file: 'requests/bob/y.yaml', commit: 'c', at: '2026-01-07T12:00:00Z', text: TEXT, approvers: [] },
    ]);
    // Without audit settings no commit is Timebox's: nobody approved anything.
    expect(historyVersions(commits, DEFAULT_CONFIG).every((v) => v.approvers.length === 0 && !v.author)).toBe(
      true,
    );
  });

  it('a commit dated before the one below it is taken at that time, as the ledger takes it', () => {
    const commits = [
      commit('a', '2026-01-07T10:00:00Z', {
        changes: [{ status: 'added', path: 'requests/a/1.yaml', content: TEXT }],
      }),
      commit('b', '2026-01-01T00:00:00Z', {
        changes: [{ status: 'added', path: 'requests/a/2.yaml', content: TEXT }],
      }),
    ];
    expect(historyVersions(commits, TRUSTING).map((v) => v.at)).toEqual([
      '2026-01-07T10:00:00Z',
      '2026-01-07T10:00:00Z',
    ]);
  });
});

describe('openVersions', () => {
  it('open: working-tree files the branch does not hold as they are (new, edited, written again after removal)', () => {
    const commits = [
      commit('a', '2026-01-07T10:00:00Z', {
        changes: [
          { status: 'added', path: 'requests/a/same.yaml', content: 'S' },
          { status: 'added', path: 'requests/a/edited.yaml', content: 'E1' },
          { status: 'added', path: 'requests/a/gone.yaml', content: 'G' },
        ],
      }),
      commit('b', '2026-01-07T11:00:00Z', { changes: [{ status: 'removed', path: 'requests/a/gone.yaml' }] }),
    ];
    const onBranch = branchFiles(commits, TRUSTING);
    expect([...onBranch.keys()]).toEqual(['requests/a/same.yaml', 'requests/a/edited.yaml']);
    const open = openVersions(
      [
        { path: 'requests/a/same.yaml', text: 'S' },
        { path: 'requests/a/edited.yaml', text: 'E2' },
        { path: 'requests/a/gone.yaml', text: 'G' },
        { path: 'requests/a/new.yaml', text: 'N' },
      ],
      onBranch,
      new Date('2026-01-08T09:00:00.000Z'),
    );
    expect(open.map((v) => [v.file, v.commit, v.at, v.approvers])).toEqual([
      ['requests/a/edited.yaml', null, '2026-01-08T09:00:00Z', []],
      ['requests/a/gone.yaml', null, '2026-01-08T09:00:00Z', []],
      ['requests/a/new.yaml', null, '2026-01-08T09:00:00Z', []],
    ]);
  });
});

const version = (file: string, commit: string | null): RequestVersion => ({
  file,
  commit,
  at: '2026-01-07T10:00:00Z',
  text: '',
  approvers: [],
});
const decided = (v: RequestVersion, status: Status, extra: Partial<Decision> = {}): Decided => ({
  version: v,
  decision: {
    file: v.file,
    status,
    change: 'added',
    request: null,
    rule: null,
    errors: [],
    reasons: [],
    approvals: null,
    window: null,
    ...extra,
  },
});

describe('compareDecisions', () => {
  const a1 = version('requests/a.yaml', 'c1');
  const a2 = version('requests/a.yaml', 'c2');
  const open = version('requests/a.yaml', null);

  it('lists the versions whose status changes, matched by file and commit, with the new reasons', () => {
    const before = [
      decided(a1, 'approved', { rule: 'r' }),
      decided(a2, 'approved', { rule: 'r' }),
      decided(open, 'pending'),
    ];
    // `after` in another order: matching is by file and commit, not position.
    const after = [
      decided(open, 'approved', { rule: 'auto' }),
      decided(a2, 'approved', { rule: 'other' }),
      decided(a1, 'denied', { reasons: [{ rule: 'r', message: 'allows at most 2h' }] }),
    ];
    expect(compareDecisions(before, after)).toEqual({
      changed: [
        {
          file: 'requests/a.yaml',
          commit: 'c1',
          at: '2026-01-07T10:00:00Z',
          before: 'approved',
          after: 'denied',
          rule_before: 'r',
          rule_after: null,
          reasons: [{ rule: 'r', message: 'allows at most 2h' }],
        },
        {
          file: 'requests/a.yaml',
          commit: null,
          at: '2026-01-07T10:00:00Z',
          before: 'pending',
          after: 'approved',
          rule_before: null,
          rule_after: 'auto',
          reasons: [{ rule: 'auto', message: 'approved by rule auto' }],
        },
      ],
      unchanged: 1,
    });
  });

  it('the same decisions change nothing; a file error is a reason without a rule', () => {
    const same = [decided(a1, 'approved'), decided(a2, 'denied')];
    expect(compareDecisions(same, same)).toEqual({ changed: [], unchanged: 2 });
    const invalid = decided(a1, 'invalid', {
      errors: [{ line: 3, column: 11, path: '$.role', message: 'no role x' }],
    });
    expect(compareDecisions([decided(a1, 'approved')], [invalid]).changed[0]?.reasons).toEqual([
      { rule: null, message: 'line 3: no role x' },
    ]);
  });

  it('refuses two sets that do not decide the same versions', () => {
    expect(() => compareDecisions([decided(a1, 'approved')], [decided(a2, 'approved')])).toThrow();
    expect(() => compareDecisions([decided(a1, 'approved')], [])).toThrow();
  });
});

describe('decideVersions', () => {
  it('decides each version at its own time with its recorded approvals and author', () => {
    const pol = policies(`resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [r] }
rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: [orders-db]
    hours: { days: [wed], from: "08:00", to: "12:00", tz: UTC }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`);
    const side = { policies: pol, codeowners: null, config: DEFAULT_CONFIG };
    const v = (at: string, approvers: string[], author?: string): RequestVersion => ({
      file: 'requests/alice/x.yaml',
      commit: at,
      at,
      text: TEXT,
      approvers,
      ...(author ? { author } : {}),
    });
    const out = decideVersions(
      [
        v('2026-01-07T10:00:00Z', ['carol']),
        v('2026-01-07T13:00:00Z', ['carol']),
        v('2026-01-07T10:00:00Z', []),
        v('2026-01-07T10:00:00Z', ['carol'], 'bob'),
      ],
      side,
      TEAMS,
    );
    expect(out.map((d) => d.decision.status)).toEqual(['approved', 'denied', 'pending', 'denied']);
  });
});

describe('decideBoth', () => {
  const BASE = `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [r] }
      read-write: { grant: [w] }
  billing-db:
    provider: postgres
    connection: billing
    roles:
      read-only: { grant: [b] }
rules:
  - name: qa-read
    requesters: ["@acme/qa"]
    resources: ["*-db"]
    roles: [read-only]
    max_duration: 4h
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
  - name: qa-write
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-write]
    hours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", tz: UTC }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
      - { from: ["@acme/dba"], count: 1 }
`;
  /** Policy changes a pull request might make, each a text edit of the policy (applied in order). */
  const MUTATIONS: [string, (y: string) => string][] = [
    ['shorter reads', (y) => y.replace('max_duration: 4h', 'max_duration: 2h')],
    ['narrower hours', (y) => y.replace('to: "18:00"', 'to: "12:00"')],
    ['reads need a DBA', (y) => y.replace(/(qa-read[\s\S]*?from: \[)"@acme\/qa-leads"/, '$1"@acme/dba"')],
    ['reads for alice only', (y) => y.replace(/(qa-read\n {4}requesters: )\["@acme\/qa"\]/, '$1[alice]')],
    ['billing denied', (y) => `${y}  - name: no-billing\n    effect: deny\n    resources: [billing-db]\n`],
    [
      'bob writes alone',
      (y) =>
        `${y}  - name: bob\n    requesters: [bob]\n    resources: [orders-db]\n    roles: [read-write]\n`,
    ],
    [
      'a new resource',
      (y) =>
        y.replace(
          'rules:\n',
          '  payments-db:\n    provider: postgres\n    connection: p\n    roles:\n      read-only: { grant: [p] }\nrules:\n',
        ),
    ],
    ['a comment only', (y) => `# reviewed\n${y}`],
  ];
  const CODEOWNERS = ['', 'requests/alice/ @dave\n'];

  const req = (requester: string, resource: string, role: string, duration: string) =>
    `requester: ${requester}\nresource: ${resource}\nrole: ${role}\nduration: ${duration}\nreason: Reproduce BUG-1234\n`;
  const VERSIONS: RequestVersion[] = [
    ['alice', 'orders-db', 'read-only', '3h', '2026-01-07T10:00:00Z', ['carol']],
    ['alice', 'orders-db', 'read-only', '1h', '2026-01-07T10:00:00Z', ['dave']],
    ['bob', 'orders-db', 'read-only', '1h', '2026-01-07T10:00:00Z', ['carol']],
    ['alice', 'orders-db', 'read-write', '1h', '2026-01-07T14:00:00Z', ['carol', 'dave']],
    ['bob', 'orders-db', 'read-write', '1h', '2026-01-07T10:00:00Z', []],
    ['alice', 'billing-db', 'read-only', '1h', '2026-01-07T10:00:00Z', ['carol']],
    ['alice', 'payments-db', 'read-only', '1h', '2026-01-07T10:00:00Z', ['carol']],
    ['alice', 'orders-db', 'admin', '1h', '2026-01-07T10:00:00Z', ['carol']],
  ].map(([who, res, role, d, at, approvers], i) => ({
    file: `requests/${who}/${i}.yaml`,
    commit: `c${i}`,
    at: at as string,
    text: req(who as string, res as string, role as string, d as string),
    approvers: approvers as string[],
  }));
  VERSIONS.push({
    file: 'requests/alice/bad.yaml',
    commit: 'cx',
    at: '2026-01-07T10:00:00Z',
    text: 'requester: [',
    approvers: [],
  });

  const side = (yaml: string, owners: string) => ({
    policies: policies(yaml),
    codeowners: owners ? parseCodeOwners(owners, '.github/CODEOWNERS') : null,
    config: DEFAULT_CONFIG,
  });
  const statuses = (ds: Decided[]) => ds.map((d) => [d.version.file, d.decision.status, d.decision.rule]);

  it('decides as deciding every version under both sides would, whatever the policy change', () => {
    fc.assert(
      fc.property(fc.subarray(MUTATIONS), fc.constantFrom(...CODEOWNERS), (edits, owners) => {
        const before = side(BASE, CODEOWNERS[0] as string);
        const after = side(
          edits.reduce((y, [, edit]) => edit(y), BASE),
          owners,
        );
        const both = decideBoth(VERSIONS, before, after, TEAMS);
        expect(statuses(both.before)).toEqual(statuses(decideVersions(VERSIONS, before, TEAMS)));
        expect(statuses(both.after)).toEqual(statuses(decideVersions(VERSIONS, after, TEAMS)));
      }),
      { numRuns: 120 },
    );
  });

  it('each edit changes some decision (so the property above is not vacuous)', () => {
    const before = side(BASE, '');
    for (const [name, edit] of MUTATIONS.filter(([n]) => n !== 'a comment only')) {
      const after = side(edit(BASE), '');
      const both = decideBoth(VERSIONS, before, after, TEAMS);
      expect(compareDecisions(both.before, both.after).changed.length, name).toBeGreaterThan(0);
    }
    const owned = decideBoth(VERSIONS, before, side(BASE, CODEOWNERS[1] as string), TEAMS);
    expect(compareDecisions(owned.before, owned.after).changed.length).toBeGreaterThan(0);
  });
});
