// SPEC "Decisions", sentence by sentence.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUILTIN, decideAll, decideRequest, windowOf } from '../../src/core/decide.js';
import type { Decision } from '../../src/core/model.js';
import {
  approve,
  BASE_REQUEST,
  HEAD,
  input,
  OLD,
  policies,
  pull,
  requestText,
  TEAMS,
} from '../helpers/core.js';

const POLICY = policies(`
resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [orders_read], read_only: true }
      read-write: { grant: [orders_write] }
  billing-db:
    provider: postgres
    connection: billing
    roles:
      read-only: { grant: [billing_read] }
  free-db:
    provider: postgres
    connection: free
    roles:
      read-only: { grant: [free_read] }
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
    max_duration: 2h
    require_ticket: true
    hours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", tz: Europe/Berlin }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
      - { from: ["@acme/dba"], count: 1 }
  - name: free-read
    requesters: ["*"]
    resources: [free-db]
  - name: no-billing
    effect: deny
    resources: ["billing-*"]
    message: Billing is out of scope
`);

const FILE = 'requests/alice/orders.yaml';

function decide(
  fields: Record<string, string>,
  over: Parameters<typeof input>[2] = {},
  path = FILE,
): Decision {
  return decideRequest(path, requestText(fields), input(POLICY, [], over));
}

describe('invalid: YAML or schema errors, each with line, column, JSON path and message', () => {
  it('reports a schema error at the field, with its JSON path', () => {
    const d = decideRequest(
      FILE,
      'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2 hours\nreason: Reproduce BUG-1234\n',
      input(POLICY, []),
    );
    expect(d.status).toBe('invalid');
    expect(d.errors).toEqual([
      { line: 4, column: 11, path: '$.duration', message: expect.stringContaining('duration') },
    ]);
    expect(d.request).toBeNull();
  });

  it('reports broken YAML at its line', () => {
    const d = decideRequest(FILE, 'requester: alice\nresource: [orders-db\n', input(POLICY, []));
    expect(d.status).toBe('invalid');
    expect(d.errors[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it('an unknown resource is invalid, at the resource line', () => {
    const d = decide({ ...BASE_REQUEST, resource: 'orders-dbb' });
    expect(d.status).toBe('invalid');
    expect(d.errors).toEqual([
      {
        line: 2,
        column: 11,
        path: '$.resource',
        message: expect.stringMatching(/unknown resource `orders-dbb`.*did you mean `orders-db`/),
      },
    ]);
  });

  it('an unknown role is invalid, naming the roles the resource offers', () => {
    const d = decide({ ...BASE_REQUEST, role: 'superuser' });
    expect(d.status).toBe('invalid');
    expect(d.errors[0]).toMatchObject({
      line: 3,
      path: '$.role',
      message: expect.stringContaining('read-only, read-write'),
    });
  });

  it('a role name that is an Object.prototype key is still unknown', () => {
    expect(decide({ ...BASE_REQUEST, role: 'constructor' }).status).toBe('invalid');
  });

  it('a zero duration and an `until` that is already past are invalid', () => {
    expect(decide({ ...BASE_REQUEST, duration: '0m' }).errors[0]?.message).toBe('must be longer than 0');
    const { duration: _, ...noDuration } = BASE_REQUEST;
    const past = decide({ ...noDuration, until: '2026-01-07T09:00:00Z' });
    expect(past.status).toBe('invalid');
    expect(past.errors[0]?.path).toBe('$.until');
  });

  it('invalid wins over everything else, even a deny rule', () => {
    const d = decide({ ...BASE_REQUEST, resource: 'billing-db', extra: 'x' });
    expect(d.status).toBe('invalid');
    expect(d.errors[0]?.message).toBe('unknown field `extra`');
  });
});

describe('denied', () => {
  it('a matching deny rule wins over an allow rule that would approve', () => {
    const d = decide({ ...BASE_REQUEST, resource: 'billing-db' }, { pull: pull([approve('carol')]) });
    expect(d.status).toBe('denied');
    expect(d.rule).toBe('no-billing');
    expect(d.reasons).toEqual([{ rule: 'no-billing', message: 'Billing is out of scope' }]);
  });

  it('no allow rule matches: someone outside the requesters', () => {
    const d = decide(
      { ...BASE_REQUEST, requester: 'mallory' },
      { pull: pull([approve('carol')]) },
      'requests/mallory/x.yaml',
    );
    expect(d.status).toBe('denied');
    expect(d.reasons).toEqual([
      { rule: BUILTIN.noAllowRule, message: expect.stringContaining('no allow rule lets mallory') },
    ]);
  });

  it('unknown team membership is not a denial: pending on it, and the unknown team still approves nobody', () => {
    const d = decide(BASE_REQUEST, { pull: pull([approve('carol')], { teams: {} }) });
    expect(d.status).toBe('pending');
    expect(d.rule).toBe('qa-read');
    expect(d.reasons).toEqual([
      { rule: 'qa-read', message: expect.stringContaining('membership of @acme/qa is unknown') },
    ]);
    expect(d.approvals?.satisfied).toBe(false);
    expect(d.approvals?.steps[0]?.approvers).toEqual([]);
    // A rule needing no approval at all is still not approved while membership is unknown.
    const free = policies(`
resources:
  orders-db: { provider: postgres, connection: orders, roles: { read-only: { grant: [r] } } }
rules:
  - { name: qa-free, requesters: ["@acme/qa"], resources: [orders-db] }
`);
    const open = decideRequest(
      FILE,
      requestText(BASE_REQUEST),
      input(free, [], { pull: pull([], { teams: {} }) }),
    );
    expect(open.status).toBe('pending');
    expect(open.reasons[0]?.message).toContain('membership of @acme/qa is unknown');
  });

  it('a deny rule that may apply through a team of unknown membership keeps the request from approval', () => {
    const withDeny = policies(`
resources:
  orders-db: { provider: postgres, connection: orders, roles: { read-only: { grant: [r] } } }
rules:
  - { name: anyone, resources: [orders-db] }
  - { name: no-contractors, effect: deny, requesters: ["@acme/contractors"], resources: ["*"] }
`);
    const at = (teams: Record<string, string[]>) =>
      decideRequest(FILE, requestText(BASE_REQUEST), input(withDeny, [], { pull: pull([], { teams }) }));
    const unknown = at({});
    expect(unknown.status).toBe('pending');
    expect(unknown.reasons).toEqual([
      {
        rule: 'no-contractors',
        message: expect.stringContaining('membership of @acme/contractors is unknown'),
      },
    ]);
    expect(unknown.approvals?.satisfied).toBe(false);
    expect(at({ '@acme/contractors': ['bob'] }).status).toBe('approved');
    expect(at({ '@acme/contractors': ['alice'] }).status).toBe('denied');
  });

  it('unknown membership with another violation is still denied, and says both', () => {
    const d = decide({ ...BASE_REQUEST, duration: '5h' }, { pull: pull([approve('carol')], { teams: {} }) });
    expect(d.status).toBe('denied');
    expect(d.reasons).toEqual([
      { rule: BUILTIN.noAllowRule, message: expect.stringContaining('membership of @acme/qa is unknown') },
      { rule: 'qa-read', message: 'allows at most 4h; this request is for 5h' },
    ]);
  });

  it('a known team the requester is not in is a denial', () => {
    const d = decide(BASE_REQUEST, {
      pull: pull([approve('carol')], { teams: { ...TEAMS, '@acme/qa': ['bob'] } }),
    });
    expect(d.status).toBe('denied');
    expect(d.reasons[0]?.rule).toBe(BUILTIN.noAllowRule);
  });

  it('duration over the maximum', () => {
    const d = decide({ ...BASE_REQUEST, duration: '4h1m' }, { pull: pull([approve('carol')]) });
    expect(d.status).toBe('denied');
    expect(d.reasons).toEqual([{ rule: 'qa-read', message: 'allows at most 4h; this request is for 4h1m' }]);
  });

  it('`until` counts against the maximum too, from the start of access', () => {
    const { duration: _, ...r } = BASE_REQUEST;
    expect(decide({ ...r, until: '2026-01-07T14:00:00Z' }, { pull: pull([approve('carol')]) }).status).toBe(
      'approved',
    );
    expect(decide({ ...r, until: '2026-01-07T14:01:00Z' }, { pull: pull([approve('carol')]) }).status).toBe(
      'denied',
    );
  });

  it('missing ticket, outside hours, and the wrong PR author each deny, naming the rule', () => {
    const write = { ...BASE_REQUEST, role: 'read-write', duration: '1h' };
    const approvals = pull([approve('carol'), approve('dave')]);
    const noTicket = decide(write, { pull: approvals });
    expect(noTicket.reasons).toEqual([{ rule: 'qa-write', message: 'requires a `ticket`' }]);

    const night = decide(
      { ...write, ticket: 'OPS-1' },
      { pull: approvals, at: new Date('2026-01-07T17:30:00Z') },
    );
    expect(night.status).toBe('denied');
    expect(night.reasons[0]).toMatchObject({
      rule: 'qa-write',
      message: expect.stringContaining('office hours'),
    });

    const other = decide({ ...write, ticket: 'OPS-1' }, { pull: { ...approvals, author: 'bob' } });
    expect(other.status).toBe('denied');
    expect(other.reasons[0]?.message).toContain('opened by bob');
  });

  it('every violated allow rule gives its reasons', () => {
    const d = decide(
      { ...BASE_REQUEST, resource: 'free-db', duration: '1h' },
      { pull: { ...pull(), author: 'bob' } },
    );
    expect(d.status).toBe('denied');
    expect(d.reasons.map((r) => r.rule).sort()).toEqual(['free-read', 'qa-read']);
  });

  it('the PR author is compared case-insensitively, as GitHub logins are', () => {
    expect(decide(BASE_REQUEST, { pull: { ...pull([approve('carol')]), author: 'ALICE' } }).status).toBe(
      'approved',
    );
  });
});

describe('pending: lists per step who can approve, how many are needed and who has approved', () => {
  it('two steps, one met', () => {
    const d = decide(
      { ...BASE_REQUEST, role: 'read-write', duration: '1h', ticket: 'OPS-1' },
      { pull: pull([approve('carol')]) },
    );
    expect(d.status).toBe('pending');
    expect(d.rule).toBe('qa-write');
    expect(d.approvals?.steps).toEqual([
      { from: ['@acme/qa-leads'], count: 1, approvers: ['carol'], candidates: ['carol', 'lead2'] },
      { from: ['@acme/dba'], count: 1, approvers: [], candidates: ['dave', 'dba2'] },
    ]);
    expect(d.approvals?.satisfied).toBe(false);
    expect(d.reasons).toEqual([{ rule: 'qa-write', message: 'needs 1 more approval from @acme/dba' }]);
  });

  it('candidates never include the requester', () => {
    const pol = policies(`
resources: { x-db: { provider: postgres, connection: x, roles: { r: { grant: [x] } } } }
rules: [ { name: peer, resources: [x-db], approvals: [ { from: ["@acme/qa"] } ] } ]
`);
    const d = decideRequest(
      FILE,
      requestText({ ...BASE_REQUEST, resource: 'x-db', role: 'r' }),
      input(pol, []),
    );
    expect(d.approvals?.steps[0]?.candidates).toEqual(['bob']);
  });
});

describe('approved', () => {
  it('a fully met allow rule approves', () => {
    const d = decide(BASE_REQUEST, { pull: pull([approve('carol')]) });
    expect(d).toMatchObject({ status: 'approved', rule: 'qa-read', errors: [], reasons: [] });
    expect(d.window).toEqual({ starts_at: '2026-01-07T10:00:00Z', expires_at: '2026-01-07T12:00:00Z' });
  });

  it('a rule without approval steps approves at once', () => {
    expect(decide({ ...BASE_REQUEST, resource: 'free-db' }).status).toBe('approved');
  });

  it('CODEOWNERS of the file must be satisfied by an owner approval', () => {
    const codeownersText = '/requests/alice/ @acme/security\n';
    const withoutOwner = decide(BASE_REQUEST, { pull: pull([approve('carol')]), codeownersText });
    expect(withoutOwner.status).toBe('pending');
    expect(withoutOwner.approvals?.codeowners).toEqual({ owners: ['@acme/security'], satisfied: false });
    expect(withoutOwner.reasons).toContainEqual({
      rule: BUILTIN.codeowners,
      message: expect.stringContaining('@acme/security'),
    });

    const withOwner = decide(BASE_REQUEST, {
      pull: pull([approve('carol'), approve('sam')]),
      codeownersText,
    });
    expect(withOwner.status).toBe('approved');
    expect(withOwner.approvals?.codeowners.satisfied).toBe(true);
  });

  it('a file with no owners needs no owner approval; a pattern without owners clears ownership', () => {
    const codeownersText = '* @acme/security\n/requests/\n';
    expect(decide(BASE_REQUEST, { pull: pull([approve('carol')]), codeownersText }).status).toBe('approved');
  });

  it('an owner that does not exist approves nothing (fails closed)', () => {
    const codeownersText = '/requests/ @acme/ghosts @nobody-here owner@example.com\n';
    const d = decide(BASE_REQUEST, { pull: pull([approve('carol'), approve('sam')]), codeownersText });
    expect(d.status).toBe('pending');
    const byUser = decide(BASE_REQUEST, {
      pull: pull([approve('carol'), approve('nobody-here')]),
      codeownersText,
    });
    expect(byUser.status).toBe('approved');
  });

  it('a scheduled start moves the window: starts_at = max(now, start)', () => {
    const d = decide(
      { ...BASE_REQUEST, start: '2026-01-08T09:00:00+01:00' },
      { pull: pull([approve('carol')]) },
    );
    expect(d.window).toEqual({ starts_at: '2026-01-08T08:00:00Z', expires_at: '2026-01-08T10:00:00Z' });
    const past = decide(
      { ...BASE_REQUEST, start: '2026-01-01T00:00:00Z' },
      { pull: pull([approve('carol')]) },
    );
    expect(past.window?.starts_at).toBe('2026-01-07T10:00:00Z');
  });
});

describe('approval counting', () => {
  const ok = (reviews: Parameters<typeof pull>[0], extra: Parameters<typeof pull>[1] = {}) =>
    decide(BASE_REQUEST, { pull: pull(reviews, extra) });

  it('only the latest review of each reviewer counts', () => {
    const changed = ok([
      approve('carol'),
      approve('carol', { state: 'CHANGES_REQUESTED', submittedAt: '2026-01-07T09:30:00Z' }),
    ]);
    expect(changed.status).toBe('pending');
    const reapproved = ok([
      approve('carol', { state: 'CHANGES_REQUESTED', submittedAt: '2026-01-07T09:00:00Z' }),
      approve('carol', { submittedAt: '2026-01-07T09:30:00Z' }),
    ]);
    expect(reapproved.status).toBe('approved');
  });

  it('order is by time, not by list position', () => {
    const d = ok([
      approve('carol', { state: 'CHANGES_REQUESTED', submittedAt: '2026-01-07T09:30:00Z' }),
      approve('carol', { submittedAt: '2026-01-07T09:00:00Z' }),
    ]);
    expect(d.status).toBe('pending');
  });

  it('a dismissed review takes the approval away; a later comment does not (as on GitHub)', () => {
    expect(
      ok([approve('carol'), approve('carol', { state: 'DISMISSED', submittedAt: '2026-01-07T09:10:00Z' })])
        .status,
    ).toBe('pending');
    expect(
      ok([approve('carol'), approve('carol', { state: 'COMMENTED', submittedAt: '2026-01-07T09:10:00Z' })])
        .status,
    ).toBe('approved');
  });

  it('an approval of an older commit is stale', () => {
    const d = ok([approve('carol', { commitId: OLD })]);
    expect(d.status).toBe('pending');
    expect(d.approvals?.ignored).toEqual([
      { login: 'carol', reason: expect.stringContaining('older commit') },
    ]);
  });

  it('the requester’s own approval never counts, even when they are in the approving team', () => {
    const teams = { ...TEAMS, '@acme/qa-leads': ['alice'] };
    const d = ok([approve('alice'), approve('ALICE')], { teams });
    expect(d.status).toBe('pending');
    expect(d.approvals?.ignored[0]?.reason).toBe('cannot approve their own request');
  });

  it('a bot’s approval never counts', () => {
    const teams = { ...TEAMS, '@acme/qa-leads': ['renovate[bot]', 'helper'] };
    expect(ok([approve('renovate[bot]')], { teams }).status).toBe('pending');
    expect(ok([approve('helper', { bot: true })], { teams }).status).toBe('pending');
  });

  it('anyone who pushed commits to the PR cannot approve it', () => {
    const d = ok([approve('carol')], { pushers: ['Carol'] });
    expect(d.status).toBe('pending');
    expect(d.approvals?.ignored[0]?.reason).toBe(
      'pushed to this pull request or is named in one of its commits',
    );
  });

  it('while who pushed is unknown, no approval counts, and each says why', () => {
    const d = ok([approve('carol')], { pushersUnknown: 'the log has no push of the head commit' });
    expect(d.status).toBe('pending');
    expect(d.approvals?.ignored).toEqual([
      { login: 'carol', reason: 'cannot count while who pushed to this pull request is unknown' },
    ]);
    expect(ok([approve('carol')]).status).toBe('approved');
  });

  it('an approver needs write access', () => {
    for (const permission of ['read', 'triage', 'none'] as const) {
      expect(ok([approve('carol')], { permissions: { carol: permission } }).status).toBe('pending');
    }
    for (const permission of ['write', 'maintain', 'admin'] as const) {
      expect(ok([approve('carol')], { permissions: { carol: permission } }).status).toBe('approved');
    }
    const unknown = decide(BASE_REQUEST, { pull: { ...pull([approve('carol')]), permissions: {} } });
    expect(unknown.status).toBe('pending');
  });

  it('one person fills at most one step', () => {
    const write = { ...BASE_REQUEST, role: 'read-write', duration: '1h', ticket: 'OPS-1' };
    const teams = { ...TEAMS, '@acme/qa-leads': ['carol'], '@acme/dba': ['carol', 'dave'] };
    expect(decide(write, { pull: pull([approve('carol')], { teams }) }).status).toBe('pending');
    expect(decide(write, { pull: pull([approve('carol'), approve('dave')], { teams }) }).status).toBe(
      'approved',
    );
  });

  it('people are assigned to steps so that all can be met when possible', () => {
    // carol can fill either step, lead2 only the first: carol must take the DBA step.
    const write = { ...BASE_REQUEST, role: 'read-write', duration: '1h', ticket: 'OPS-1' };
    const teams = { ...TEAMS, '@acme/dba': ['carol'] };
    const d = decide(write, { pull: pull([approve('carol'), approve('lead2')], { teams }) });
    expect(d.status).toBe('approved');
    expect(d.approvals?.steps.map((s) => s.approvers)).toEqual([['lead2'], ['carol']]);
  });

  it('a step with count 2 needs two distinct people', () => {
    const pol = policies(`
resources: { x-db: { provider: postgres, connection: x, roles: { r: { grant: [x] } } } }
rules: [ { name: two, resources: [x-db], approvals: [ { from: ["@acme/qa-leads", dave], count: 2 } ] } ]
`);
    const text = requestText({ ...BASE_REQUEST, resource: 'x-db', role: 'r' });
    expect(
      decideRequest(FILE, text, input(pol, [], { pull: pull([approve('carol'), approve('carol')]) })).status,
    ).toBe('pending');
    expect(
      decideRequest(FILE, text, input(pol, [], { pull: pull([approve('carol'), approve('dave')]) })).status,
    ).toBe('approved');
  });

  it('membership is read from the facts at decision time (a team change between reviews counts)', () => {
    const before = ok([approve('erin')]);
    expect(before.status).toBe('pending');
    const after = ok([approve('erin')], { teams: { ...TEAMS, '@acme/qa-leads': ['erin'] } });
    expect(after.status).toBe('approved');
  });
});

describe('pull request scope', () => {
  const text = requestText(BASE_REQUEST);

  it('a PR that changes policies and requests together is denied', () => {
    for (const governance of [
      'policies/qa.yaml',
      'schemas/request.schema.json',
      'timebox.yaml',
      '.github/CODEOWNERS',
      'CODEOWNERS',
      'docs/CODEOWNERS',
      // Actions mode runs from these: a PR must not change its own gate and a request together
      '.github/workflows/timebox-check.yml',
      'action.yml',
      // the Actions teams file, and the action's own code where the access repo runs it with `uses: ./`
      'teams.yaml',
      '.github/timebox-teams.yaml',
      'bin/timebox.js',
      'src/core/approvals.ts',
      'dist/core/approvals.js',
      'package.json',
      'package-lock.json',
      'README.md',
      // a look-alike of the requests folder is not the requests folder
      'requests.yaml',
      'requests-old/alice/x.yaml',
    ]) {
      const i = input(POLICY, [{ path: FILE, text }], { pull: pull([approve('carol')]) });
      const [d] = decideAll({ ...i, changedPaths: [FILE, governance] });
      expect(d?.status, governance).toBe('denied');
      expect(d?.reasons[0]).toMatchObject({
        rule: BUILTIN.separateReview,
        message: expect.stringContaining(governance),
      });
    }
  });

  it('other request files beside a request do not make it governance', () => {
    const i = input(POLICY, [{ path: FILE, text }], { pull: pull([approve('carol')]) });
    expect(decideAll({ ...i, changedPaths: [FILE, 'requests/bob/other.yaml'] })[0]?.status).toBe('approved');
  });

  it('any path outside requests/ is governance (property)', () => {
    const i = input(POLICY, [{ path: FILE, text }], { pull: pull([approve('carol')]) });
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (path) => {
        const inRequests = path.startsWith(`${i.config.paths.requests}/`);
        const [d] = decideAll({ ...i, changedPaths: [FILE, path] });
        expect(d?.rule === BUILTIN.separateReview).toBe(!inRequests);
      }),
    );
  });

  it('a PR with no request files passes', () => {
    expect(decideAll({ ...input(POLICY, []), changedPaths: ['policies/qa.yaml'] })).toEqual([]);
  });

  it('a file under requests/ with another extension is invalid, not ignored', () => {
    const [d] = decideAll(input(POLICY, [{ path: 'requests/alice/x.yml', text }]));
    expect(d?.status).toBe('invalid');
    expect(d?.errors[0]?.message).toContain('requests/**/*.yaml');
  });
});

describe('early revocation: a PR that only removes request files', () => {
  const removal = (author: string, approvers: string[] = [], reviews: Parameters<typeof pull>[0] = []) =>
    decideAll({
      ...input(POLICY, []),
      files: [{ path: FILE, status: 'removed', previous: { content: requestText(BASE_REQUEST), approvers } }],
      changedPaths: [FILE],
      pull: { ...pull(reviews), author },
    })[0];

  it('needs no approval when opened by the requester', () => {
    expect(removal('alice')).toMatchObject({
      status: 'approved',
      change: 'removed',
      rule: BUILTIN.earlyRevocation,
    });
  });

  it('needs no approval when opened by one of its approvers', () => {
    expect(removal('carol', ['carol'])?.status).toBe('approved');
  });

  it('needs one approval from someone with write access otherwise', () => {
    expect(removal('mallory')?.status).toBe('pending');
    expect(removal('mallory', [], [approve('mallory')])?.status).toBe('pending');
    expect(removal('mallory', [], [approve('dave')])?.status).toBe('approved');
  });
});

describe('windowOf', () => {
  it('computes duration and until windows', () => {
    const at = new Date('2026-01-07T10:00:00Z');
    expect(windowOf({ ...BASE_REQUEST, duration: '1d12h' }, at).expiresAt.toISOString()).toBe(
      '2026-01-08T22:00:00.000Z',
    );
    const { duration: _, ...r } = BASE_REQUEST;
    expect(windowOf({ ...r, until: '2026-01-07T11:00:00+01:00' }, at).expiresAt.toISOString()).toBe(
      '2026-01-07T10:00:00.000Z',
    );
  });
});

it('HEAD constant is what pull() uses', () => {
  expect(pull().headSha).toBe(HEAD);
});

describe('request paths', () => {
  it('refuses dot segments, empty segments, backslashes and control characters', () => {
    const text = requestText(BASE_REQUEST);
    for (const path of [
      'requests/../policies/x.yaml',
      'requests/./x.yaml',
      'requests//x.yaml',
      'requests/a\\b.yaml',
      'requests/a\nb.yaml',
    ]) {
      const d = decideRequest(path, text, input(POLICY, [], { pull: pull([approve('carol')]) }));
      expect(d.status, JSON.stringify(path)).toBe('invalid');
    }
    expect(
      decideRequest('requests/alice/.x.yaml', text, input(POLICY, [], { pull: pull([approve('carol')]) }))
        .status,
    ).toBe('approved');
  });

  it('a reason with control characters is invalid', () => {
    expect(decide({ ...BASE_REQUEST, reason: 'Reproduce \u0007 BUG-1234' }).errors[0]?.message).toBe(
      'must not contain control characters',
    );
  });
});
