// What an auditor narrows the ledger to (src/audit/filter.ts) and the access review of a period
// (src/audit/review.ts): a filter by person keeps exactly that person's events over many generated
// ledgers; the review counts the hours inside the period, flags the exceptions and cannot be broken by
// hostile text; and the CLI filters a real git history the same way.
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, filterLedger } from '../../src/audit/filter.js';
import { renderReview } from '../../src/audit/review.js';
import type { Grant, LedgerEvent } from '../../src/core/ledger.js';
import { exampleRepo, run, write } from '../helpers/repo.js';

const PEOPLE = ['alice', 'Bob', 'carol', 'dave'];
const RESOURCES = ['billing-db', 'billing-cache', 'orders-db'];

const eventArb = fc.record({
  time: fc
    .integer({ min: Date.parse('2026-01-01'), max: Date.parse('2026-12-31') })
    .map((t) => new Date(t).toISOString()),
  type: fc.constantFrom(...EVENT_TYPES),
  requester: fc.constantFrom(...PEOPLE),
  actor: fc.option(fc.constantFrom(...PEOPLE, 'timebox[bot]'), { nil: null }),
  resource: fc.constantFrom(...RESOURCES),
  role: fc.constantFrom('read-only', 'read-write'),
  ticket: fc.option(fc.constantFrom('BUG-1', 'OPS-7'), { nil: null }),
  n: fc.nat(5),
});

type Raw = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

function events(raw: Raw[]): LedgerEvent[] {
  return raw.map((r) => ({
    time: r.time,
    type: r.type,
    file: `requests/${r.requester.toLowerCase()}/${r.n}.yaml`,
    actor: r.actor,
    requester: r.requester,
    resource: r.resource,
    role: r.role,
    expires_at: r.time,
    ticket: r.ticket,
    pull_request: null,
    commit: 'c'.repeat(40),
    grant: `requests/${r.requester.toLowerCase()}/${r.n}.yaml@c`,
  }));
}

describe('filterLedger', () => {
  it('--who keeps exactly the events the person requested or acted in, in order, whatever the case', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), fc.constantFrom(...PEOPLE), (raw, who) => {
        const all = events(raw);
        const { events: kept } = filterLedger({ events: all, grants: [] }, { who: [who.toUpperCase()] });
        const mine = (e: LedgerEvent) =>
          e.requester.toLowerCase() === who.toLowerCase() || e.actor?.toLowerCase() === who.toLowerCase();
        expect(kept).toEqual(all.filter(mine));
      }),
    );
  });

  it('every criterion narrows; together they are an AND', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), (raw) => {
        const all = events(raw);
        const since = new Date('2026-04-01T00:00:00Z');
        const until = new Date('2026-06-30T23:59:59Z');
        const { events: kept } = filterLedger(
          { events: all, grants: [] },
          {
            since,
            until,
            resources: ['billing-*'],
            types: ['granted', 'approved'],
            roles: ['read-write'],
            search: 'bug',
          },
        );
        expect(kept).toEqual(
          all.filter(
            (e) =>
              Date.parse(e.time) >= since.getTime() &&
              Date.parse(e.time) <= until.getTime() &&
              e.resource.startsWith('billing-') &&
              (e.type === 'granted' || e.type === 'approved') &&
              e.role === 'read-write' &&
              e.ticket === 'BUG-1',
          ),
        );
      }),
    );
  });

  it('a team is its members; an unknown team is an error, never an empty match', () => {
    const all = events([
      {
        time: '2026-02-01T00:00:00.000Z',
        type: 'granted',
        requester: 'alice',
        actor: null,
        resource: 'orders-db',
        role: 'read-only',
        ticket: null,
        n: 1,
      },
      {
        time: '2026-02-01T00:00:00.000Z',
        type: 'granted',
        requester: 'dave',
        actor: null,
        resource: 'orders-db',
        role: 'read-only',
        ticket: null,
        n: 2,
      },
    ]);
    const kept = filterLedger({ events: all, grants: [] }, { teams: ['qa'] }, { qa: ['Alice'] }).events;
    expect(kept.map((e) => e.requester)).toEqual(['alice']);
    expect(() => filterLedger({ events: all, grants: [] }, { teams: ['sre'] }, { qa: ['alice'] })).toThrow(
      'team sre is not in the teams file',
    );
  });
});

function grant(over: Partial<Grant>): Grant {
  return {
    id: 'requests/alice/a.yaml@1111',
    file: 'requests/alice/a.yaml',
    requester: 'alice',
    resource: 'billing-db',
    role: 'read-write',
    reason: 'Fix BUG-1',
    starts_at: '2026-07-01T10:00:00Z',
    expires_at: '2026-07-01T12:00:00Z',
    ends_at: '2026-07-01T12:00:00Z',
    state: 'expired',
    commit: '1'.repeat(40),
    merged_at: '2026-07-01T10:00:00Z',
    approvers: ['carol'],
    ...over,
  };
}

describe('renderReview', () => {
  const base = {
    since: new Date('2026-07-01T00:00:00Z'),
    until: new Date('2026-09-30T23:59:59Z'),
    head: { sha: 'f'.repeat(40), ref: 'main' },
    generatedAt: new Date('2026-10-01T00:00:00Z'),
    command: 'timebox audit --format review',
  };

  it('counts only the hours inside the period and names approvers and exceptions', () => {
    const grants = [
      grant({}),
      // Began in June, ended two hours into July: 2 hours in Q3.
      grant({
        id: 'b@2',
        file: 'requests/alice/b.yaml',
        starts_at: '2026-06-30T22:00:00Z',
        ends_at: '2026-07-01T02:00:00Z',
        commit: '2'.repeat(40),
      }),
      // Entirely before: not in the review.
      grant({
        id: 'c@3',
        file: 'requests/alice/c.yaml',
        starts_at: '2026-05-01T00:00:00Z',
        ends_at: '2026-05-01T01:00:00Z',
      }),
      // Bob: reverted five minutes late, no approval recorded, break-glass unratified.
      grant({
        id: 'd@4',
        file: 'requests/bob/d.yaml',
        requester: 'bob',
        approvers: [],
        reverted: {
          at: '2026-08-01T12:05:00Z',
          by: 'timebox[bot]',
          commit: '4'.repeat(40),
          reason: 'expired',
        },
        starts_at: '2026-08-01T11:00:00Z',
        ends_at: '2026-08-01T12:00:00Z',
        break_glass: {
          rule: 'incident',
          ratify_by: '2026-08-01T15:00:00Z',
          unratified: { commit: '5'.repeat(40) },
        },
      }),
    ];
    const md = renderReview({ grants, notes: [] }, base);
    expect(md).toContain(`at commit \`${'f'.repeat(40)}\``);
    expect(md).toContain('| alice | 2 | 4.0 | billing-db | carol | 0 |');
    expect(md).toContain('| bob | 1 | 1.0 | billing-db | — | 3 |');
    expect(md).not.toContain('requests/alice/c.yaml');
    expect(md).toMatch(
      /requests\/bob\/d\.yaml.*break-glass \(rule incident\); unratified: revoked, alarm raised; revert merged 5 min after expiry/,
    );
  });

  it('hostile text stays inside its cell: every table row is one line with the same number of cells', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (reason, ticket) => {
        const md = renderReview(
          { grants: [grant({ reason: `${reason}|\n<script>x</script>`, ticket })], notes: [] },
          base,
        );
        const rows = md.split('\n').filter((l) => l.startsWith('| billing-db'));
        expect(rows).toHaveLength(1);
        const cells = (rows[0] ?? '').replace(/\\\|/g, '').split('|').length;
        expect(cells).toBe(13);
        expect(md).not.toContain('<script>');
      }),
    );
  });
});

describe('timebox audit filters a real history', () => {
  function commitAt(dir: string, when: string, message: string) {
    execFileSync('git', ['add', '-A'], { cwd: dir });
    execFileSync('git', ['commit', '-q', '-m', message], {
      cwd: dir,
      env: { ...process.env, GIT_AUTHOR_DATE: when, GIT_COMMITTER_DATE: when },
    });
  }
  const request = (who: string, resource: string, role: string) =>
    `requester: ${who}\nresource: ${resource}\nrole: ${role}\nduration: 2h\nreason: Reproduce BUG-${who.length}\n`;

  it('--who, --resource, --type and --format review over the same events', async () => {
    const dir = exampleRepo();
    write(dir, 'requests/alice/a.yaml', request('alice', 'orders-db', 'read-only'));
    commitAt(dir, '2026-07-02T09:00:00Z', 'alice');
    write(dir, 'requests/bob/b.yaml', request('bob', 'customers-db', 'read-only'));
    commitAt(dir, '2026-08-02T09:00:00Z', 'bob');
    const all = JSON.parse((await run(['audit', '--json'], { cwd: dir })).stdout) as {
      events: LedgerEvent[];
    };
    expect(new Set(all.events.map((e) => e.requester))).toEqual(new Set(['alice', 'bob']));

    const alice = JSON.parse((await run(['audit', '--json', '--who', 'ALICE'], { cwd: dir })).stdout) as {
      events: LedgerEvent[];
    };
    expect(alice.events.length).toBeGreaterThan(0);
    expect(alice.events).toEqual(all.events.filter((e) => e.requester === 'alice' || e.actor === 'alice'));

    const customers = await run(
      ['audit', '--format', 'csv', '--resource', 'customers-*', '--type', 'granted'],
      { cwd: dir },
    );
    expect(customers.code).toBe(0);
    const lines = customers.stdout.trim().split('\n');
    expect(lines).toHaveLength(2); // the header and bob's grant
    expect(lines[1]).toContain('customers-db');

    const bad = await run(['audit', '--type', 'deleted'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--type deleted: not an event type');

    const review = await run(
      ['audit', '--format', 'review', '--since', '2026-07-01T00:00:00Z', '--until', '2026-07-31T23:59:59Z'],
      { cwd: dir },
    );
    expect(review.code).toBe(0);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim();
    expect(review.stdout).toContain(`at commit \`${head}\``);
    expect(review.stdout).toContain('| alice | 1 | 2.0 |');
    expect(review.stdout).not.toContain('| bob |');
    expect(review.stdout).toContain('no approval recorded');
  }, 60_000);
});

describe('timebox audit --summary', () => {
  it('counts per resource and role how often write rights went unused', async () => {
    const { usageSummary, formatUsage } = await import('../../src/audit/summary.js');
    const unused =
      '12 statements, 40 rows; write rights granted, no write executed: a read-only role would have done';
    const grants = [
      grant({ id: 'a@1', activity: unused }),
      grant({ id: 'a@2', activity: unused }),
      grant({ id: 'a@3', activity: '3 statements, 3 rows' }),
      grant({ id: 'a@4' }),
      grant({ id: 'b@1', role: 'read-only', activity: '1 statement, 1 row' }),
    ];
    const rows = usageSummary(grants);
    expect(rows).toEqual([
      { resource: 'billing-db', role: 'read-only', grants: 1, hours: 2, with_activity: 1, writes_unused: 0 },
      { resource: 'billing-db', role: 'read-write', grants: 4, hours: 8, with_activity: 3, writes_unused: 2 },
    ]);
    const table = formatUsage(rows);
    expect(table).toContain('2 (67%)');
    expect(table).toContain('billing-db read-write: 2 of 3 grants with activity wrote nothing');
  });

  it('runs over a real history, and refuses --format', async () => {
    const dir = exampleRepo();
    write(
      dir,
      'requests/alice/a.yaml',
      'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Look at BUG-77 in production\n',
    );
    execFileSync('git', ['add', '-A'], { cwd: dir });
    execFileSync('git', ['commit', '-q', '-m', 'a'], { cwd: dir });
    const json = await run(['audit', '--summary', '--json'], { cwd: dir });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).usage).toMatchObject([
      { resource: 'orders-db', role: 'read-only', grants: 1 },
    ]);
    const table = await run(['audit', '--summary'], { cwd: dir });
    expect(table.stdout).toMatch(/^RESOURCE\s+ROLE\s+GRANTS/);
    expect((await run(['audit', '--summary', '--format', 'csv'], { cwd: dir })).code).toBe(2);
  }, 60_000);
});
