// Policy test coverage (src/core/coverage.ts) over decisions the real decision function gives. Each case is
// a policy test written to exercise known rules and steps; for any set of cases (fast-check picks subsets)
// what is covered is exactly the union of what those cases exercise, so adding a case covers its items and
// removing the last case that exercised one leaves it uncovered.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { belowMinimum, policyCoverage } from '../../src/core/coverage.js';
import { decideRequest } from '../../src/core/decide.js';
import type { Decision } from '../../src/core/model.js';
import { approve, input, policies, pull, requestText } from '../helpers/core.js';
import { BILLING_DB, ORDERS_DB } from '../helpers/policies.js';

const POLICY = policies(`${ORDERS_DB}${BILLING_DB}rules:
  - name: write
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-write]
    max_duration: 2h
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
      - { from: ["@acme/dba"], count: 1 }
  - name: read
    requesters: ["@acme/qa"]
    resources: [orders-db]
    roles: [read-only]
    max_duration: 4h
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
  - name: no-billing
    effect: deny
    resources: [billing-*]
  - name: unused
    requesters: [nobody]
    resources: [orders-db]
    approvals:
      - { from: ["@acme/dba"], count: 1 }
`);

interface Case {
  name: string;
  request: Record<string, string>;
  approvedBy: string[];
  /** What this case exercises, by hand: rule names and `rule#step` (1-based). */
  covers: string[];
}

const req = (over: Record<string, string>) => ({
  requester: 'alice',
  resource: 'orders-db',
  role: 'read-only',
  duration: '1h',
  reason: 'Reproduce BUG-1234, totals off',
  ...over,
});

const CASES: Case[] = [
  {
    name: 'write, both steps filled',
    request: req({ role: 'read-write' }),
    approvedBy: ['carol', 'dave'],
    covers: ['write', 'write#1', 'write#2'],
  },
  {
    name: 'write, pending: one step filled, one needed',
    request: req({ role: 'read-write' }),
    approvedBy: ['carol'],
    covers: ['write', 'write#1', 'write#2'],
  },
  {
    name: 'write, too long: denied',
    request: req({ role: 'read-write', duration: '3h' }),
    approvedBy: [],
    covers: ['write'],
  },
  { name: 'read, needed', request: req({}), approvedBy: [], covers: ['read', 'read#1'] },
  {
    name: 'read, too long: denied',
    request: req({ duration: '5h' }),
    approvedBy: ['carol'],
    covers: ['read'],
  },
  {
    name: 'billing: denied',
    request: req({ resource: 'billing-db' }),
    approvedBy: [],
    covers: ['no-billing'],
  },
  { name: 'no rule for this requester', request: req({ requester: 'zed' }), approvedBy: [], covers: [] },
  { name: 'invalid: unknown role', request: req({ role: 'admin' }), approvedBy: [], covers: [] },
];

const ALL = ['write', 'write#1', 'write#2', 'read', 'read#1', 'no-billing', 'unused', 'unused#1'];

function decide(c: Case): Decision {
  return decideRequest(
    `requests/${c.request.requester}/test.yaml`,
    requestText(c.request),
    input(POLICY, [], { pull: pull(c.approvedBy.map((l) => approve(l))) }),
  );
}
const DECISIONS = new Map(CASES.map((c) => [c, decide(c)]));

function uncoveredOf(cases: readonly Case[]): string[] {
  const cov = policyCoverage(
    POLICY.rules,
    cases.map((c) => DECISIONS.get(c) as Decision),
  );
  return [
    ...cov.rules.uncovered.map((r) => r.rule),
    ...cov.steps.uncovered.map((s) => `${s.rule}#${s.step}`),
  ].sort();
}

describe('policy test coverage', () => {
  it('each case decides as its name says (the oracle is about real decisions)', () => {
    const status = (name: string) => DECISIONS.get(CASES.find((c) => c.name === name) as Case)?.status;
    expect(status('write, both steps filled')).toBe('approved');
    expect(status('write, pending: one step filled, one needed')).toBe('pending');
    expect(status('write, too long: denied')).toBe('denied');
    expect(status('read, needed')).toBe('pending');
    expect(status('billing: denied')).toBe('denied');
    expect(status('no rule for this requester')).toBe('denied');
    expect(status('invalid: unknown role')).toBe('invalid');
  });

  it('covered is exactly the union of what the chosen tests exercise, for any set of tests', () => {
    fc.assert(
      fc.property(fc.subarray(CASES), (cases) => {
        const covered = new Set(cases.flatMap((c) => c.covers));
        expect(uncoveredOf(cases)).toEqual(ALL.filter((x) => !covered.has(x)).sort());
      }),
      { numRuns: 200 },
    );
  });

  it('adding a test covers what it exercises; removing the last one that did uncovers it', () => {
    fc.assert(
      fc.property(fc.subarray(CASES), fc.constantFrom(...CASES), (cases, extra) => {
        const without = cases.filter((c) => c !== extra);
        const before = new Set(uncoveredOf(without));
        const after = new Set(uncoveredOf([...without, extra]));
        for (const item of extra.covers) expect(after.has(item)).toBe(false);
        for (const item of before) if (!extra.covers.includes(item)) expect(after.has(item)).toBe(true);
        // And back: removing it again restores exactly what was uncovered.
        expect(new Set(uncoveredOf(without))).toEqual(before);
      }),
      { numRuns: 200 },
    );
  });

  it('percentages, totals and where each uncovered item is defined', () => {
    const cov = policyCoverage(POLICY.rules, [DECISIONS.get(CASES[3] as Case) as Decision]);
    // read and read#1 covered: 1 of 4 rules, 1 of 4 steps (deny rules have no steps).
    expect(cov.rules).toMatchObject({ covered: 1, total: 4, percent: 25 });
    expect(cov.steps).toMatchObject({ covered: 1, total: 4, percent: 25 });
    expect(cov.steps.uncovered[0]).toEqual({
      rule: 'write',
      step: 1,
      from: ['@acme/qa-leads'],
      count: 1,
      source: { file: 'policies/test.yaml', line: expect.any(Number) },
    });
    expect(belowMinimum(cov, 25)).toEqual([]);
    expect(belowMinimum(cov, 25.1)).toEqual(['rules', 'steps']);
    const three = policyCoverage(
      POLICY.rules,
      CASES.slice(0, 3).map((c) => DECISIONS.get(c) as Decision),
    );
    expect(three.rules.percent).toBe(25);
    expect(three.steps.percent).toBe(50);
    expect(policyCoverage([], []).rules.percent).toBe(100);
  });

  it('a break-glass approval covers its rule and the steps that must ratify it', () => {
    const glass = policies(`resources:
  incident-db:
    provider: postgres
    connection: incident
    roles:
      read-write: { grant: [w] }
rules:
  - name: incident
    requesters: [erin]
    resources: [incident-db]
    break_glass: { max_duration: 1h, ratify_within: 4h }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`);
    const d = decideRequest(
      'requests/erin/x.yaml',
      `${requestText(req({ requester: 'erin', resource: 'incident-db', role: 'read-write' }))}emergency: true\n`,
      input(glass, []),
    );
    expect(d.break_glass?.rule).toBe('incident');
    const cov = policyCoverage(glass.rules, [d]);
    expect(cov.rules.uncovered).toEqual([]);
    expect(cov.steps.uncovered).toEqual([]);
  });
});
