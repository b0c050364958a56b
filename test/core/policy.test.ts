// Policy files: merged, validated by the shared schema and by each provider's own schemas, positions exact.
import { describe, expect, it } from 'vitest';
import { loadPolicies } from '../../src/core/policy.js';
import { providerDefinitions } from '../../src/providers/registry.js';

const load = (...files: [string, string][]) =>
  loadPolicies(
    files.map(([path, text]) => ({ path, text })),
    providerDefinitions,
  );

const DB = `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [orders_read], read_only: true }
`;

describe('loadPolicies', () => {
  it('merges resources and rules from every file', () => {
    const r = load(
      ['policies/a.yaml', DB],
      ['policies/b.yaml', 'rules:\n  - name: r1\n    resources: ["*-db"]\n'],
    );
    expect(r.errors).toEqual([]);
    expect([...r.policies.resources.keys()]).toEqual(['orders-db']);
    expect(r.policies.rules.map((x) => [x.name, x.effect, x.requesters, x.source])).toEqual([
      ['r1', 'allow', ['*'], { file: 'policies/b.yaml', line: 2 }],
    ]);
  });

  it('a resource id defined twice is an error naming both places', () => {
    const r = load(['policies/a.yaml', DB], ['policies/b.yaml', DB]);
    expect(r.errors).toEqual([
      expect.objectContaining({
        file: 'policies/b.yaml',
        line: 2,
        message: 'resource `orders-db` is already defined at policies/a.yaml:2',
      }),
    ]);
  });

  it('a rule name used twice is an error', () => {
    const rules = 'rules:\n  - { name: r1, resources: [a] }\n';
    const r = load(['policies/a.yaml', rules], ['policies/b.yaml', `\n${rules}`]);
    expect(r.errors[0]).toMatchObject({
      file: 'policies/b.yaml',
      line: 3,
      message: expect.stringContaining('policies/a.yaml:2'),
    });
  });

  it('a typo in a provider role setting fails with file:line', () => {
    const r = load(['policies/a.yaml', DB.replace('read_only: true', 'readonly: true')]);
    expect(r.errors).toEqual([
      {
        file: 'policies/a.yaml',
        line: 6,
        column: 42,
        path: "$.resources['orders-db'].roles['read-only'].readonly",
        message: 'unknown field `readonly` (did you mean `read_only`?) (postgres role settings)',
      },
    ]);
  });

  it('provider resource settings are checked too, and unknown providers are named', () => {
    expect(
      load(['policies/a.yaml', DB.replace('connection: orders', 'connection: Orders DB')]).errors[0]?.line,
    ).toBe(4);
    const r = load(['policies/a.yaml', DB.replace('provider: postgres', 'provider: oracle')]);
    expect(r.errors[0]).toMatchObject({
      line: 3,
      message: expect.stringContaining('unknown provider `oracle`'),
    });
  });

  it('injection attempts in grant role names are refused by the provider schema', () => {
    const r = load(['policies/a.yaml', DB.replace('orders_read', '"orders_read; DROP ROLE admin"')]);
    expect(r.errors[0]).toMatchObject({
      line: 6,
      path: "$.resources['orders-db'].roles['read-only'].grant[0]",
    });
  });

  it('deny rules cannot carry allow-only settings; bad time zones and empty windows are errors', () => {
    const r = load([
      'policies/a.yaml',
      `rules:
  - name: d
    effect: deny
    resources: [x]
    approvals: [{ from: [carol] }]
  - name: h
    resources: [x]
    hours: { from: "08:00", to: "08:00", tz: Mars/Base }
  - name: z
    resources: [x]
    max_duration: 0m
`,
    ]);
    expect(r.errors.map((e) => [e.line, e.message])).toEqual([
      [5, '`approvals` has no meaning on a deny rule (a deny rule always denies)'],
      [8, expect.stringContaining('unknown time zone `Mars/Base`')],
      [8, '`from` and `to` must differ'],
      [11, 'must be longer than 0'],
    ]);
  });

  it('a rule naming a resource that does not exist is an error at the name, with a suggestion', () => {
    const r = load([
      'policies/a.yaml',
      `${DB}rules:\n  - name: typo\n    resources: [orders-db, order-db]\n`,
    ]);
    expect(r.errors).toEqual([
      {
        file: 'policies/a.yaml',
        line: 9,
        column: 28,
        path: '$.rules[0].resources[1]',
        message: 'rule `typo` names resource `order-db`, which does not exist (did you mean `orders-db`?)',
      },
    ]);
  });

  it('a rule whose globs match nothing is an error; a glob beside a match is fine', () => {
    const none = load(['policies/a.yaml', `${DB}rules:\n  - { name: g, resources: ["cache-*"] }\n`]);
    expect(none.errors.map((e) => e.message)).toEqual(['rule `g`: `cache-*` matches no resource']);
    const some = load(['policies/a.yaml', `${DB}rules:\n  - { name: g, resources: ["*-db", "cache-*"] }\n`]);
    expect(some.errors).toEqual([]);
    expect(some.warnings).toEqual([]);
  });

  it('an unknown field in a policy gets "did you mean"', () => {
    const r = load([
      'policies/a.yaml',
      `${DB}rules:\n  - name: r\n    resources: [orders-db]\n    max_duraton: 2h\n`,
    ]);
    expect(r.errors).toEqual([
      expect.objectContaining({
        line: 10,
        column: 5,
        message: 'unknown field `max_duraton` (did you mean `max_duration`?)',
      }),
    ]);
  });

  it('policy files get the same hardening as requests (anchors, duplicate keys)', () => {
    const r = load(['policies/a.yaml', 'rules:\n  - &r { name: a, resources: [x] }\n  - *r\n']);
    expect(r.errors.map((e) => e.message)).toEqual(
      expect.arrayContaining([expect.stringContaining('anchors'), expect.stringContaining('aliases')]),
    );
    expect(load(['policies/a.yaml', 'rules: []\nrules: []\n']).errors[0]?.line).toBe(2);
  });

  it('resource globs follow minimatch (braces, ?)', () => {
    const r = load([
      'policies/a.yaml',
      `${DB}  billing-db:\n    provider: postgres\n    connection: billing\n    roles: { r: { grant: [b] } }\nrules:\n  - { name: g, resources: ["{orders,billing}-db"] }\n`,
    ]);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
  });
});
