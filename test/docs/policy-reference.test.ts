// docs/policy-reference.md lists every field of every schema and of every provider's settings, in the
// section for that file, and no field the schemas do not know; its on-call and break-glass examples decide
// as the page says.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDecisions } from '../../src/cli/format.js';
import { decideRequest } from '../../src/core/decide.js';
import { DEFAULT_CONFIG } from '../../src/core/model.js';
import { loadPolicies } from '../../src/core/policy.js';
import { providerDefinitions } from '../../src/providers/registry.js';
import { ROOT } from '../helpers/repo.js';

type Schema = {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  definitions?: Record<string, Schema>;
  $ref?: string;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
};

/** Every property name at any depth, following local `#/definitions/…` references. */
function fieldsOf(schema: Schema, root: Schema = schema, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  const visit = (s: Schema | boolean | undefined): void => {
    if (!s || typeof s !== 'object') return;
    if (s.$ref?.startsWith('#/definitions/')) {
      const name = s.$ref.slice('#/definitions/'.length);
      if (!seen.has(name)) {
        seen.add(name);
        visit(root.definitions?.[name]);
      }
    }
    for (const [k, v] of Object.entries(s.properties ?? {})) {
      out.add(k);
      visit(v);
    }
    visit(s.items);
    visit(s.additionalProperties);
    for (const x of [...(s.oneOf ?? []), ...(s.anyOf ?? []), ...(s.allOf ?? [])]) visit(x);
  };
  visit(schema);
  return out;
}

const DOC = readFileSync(join(ROOT, 'docs/policy-reference.md'), 'utf8');
const schema = (name: string) => JSON.parse(readFileSync(join(ROOT, 'schemas', name), 'utf8')) as Schema;

/**
 * The text under a heading, up to the next heading of the same or a higher level (a `# comment` line in a
 * fenced example is no heading).
 */
function section(heading: string): string {
  const start = DOC.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/policy-reference.md has no "${heading}"`);
  const level = (heading.split(' ')[0] as string).length;
  const lines = DOC.slice(start + heading.length + 2).split('\n');
  let fenced = false;
  const end = lines.findIndex((line) => {
    if (line.startsWith('```')) fenced = !fenced;
    const m = /^(#+) /.exec(line);
    return !fenced && m !== null && (m[1] as string).length <= level;
  });
  return (end < 0 ? lines : lines.slice(0, end)).join('\n');
}

/** The backticked names in the first column of the section's tables. */
function documented(text: string): Set<string> {
  return new Set([...text.matchAll(/^\| `([a-z_]+)`/gm)].map((m) => m[1] as string));
}

const CASES: [string, string, Set<string>][] = [
  ['request files', '## Request files', fieldsOf(schema('request.schema.json'))],
  ['policies', '## Policies', fieldsOf(schema('policy.schema.json'))],
  ['timebox.yaml', '## timebox.yaml', fieldsOf(schema('config.schema.json'))],
  ['policy tests', '## Policy tests', fieldsOf(schema('policy-test.schema.json'))],
];

describe('docs/policy-reference.md', () => {
  it.each(CASES)(
    '%s: every schema field is documented, and every documented field exists',
    (_, heading, fields) => {
      // Provider sections sit inside "Policies" but are checked on their own below.
      const text = section(heading).split('\n### Provider:')[0] as string;
      const listed = documented(text);
      expect([...fields].filter((f) => !listed.has(f)).sort(), 'missing from the docs').toEqual([]);
      expect([...listed].filter((f) => !fields.has(f)).sort(), 'documented but unknown').toEqual([]);
    },
  );

  it.each([...providerDefinitions.keys()])('provider %s: resource and role fields', (id) => {
    const def = providerDefinitions.get(id);
    const fields = new Set([
      ...fieldsOf(def?.resourceSchema as Schema),
      ...fieldsOf(def?.roleSchema as Schema),
    ]);
    const listed = documented(section(`### Provider: ${id}`));
    expect([...fields].filter((f) => !listed.has(f)).sort(), 'missing from the docs').toEqual([]);
    expect([...listed].filter((f) => !fields.has(f)).sort(), 'documented but unknown').toEqual([]);
  });
});

/** The fenced YAML blocks of a section, by the path their first line names (`# policies/sre.yaml`). */
function yamlBlocks(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/```yaml\n# (\S+)\n([\s\S]*?)```/g)) out.set(m[1] as string, m[2] as string);
  return out;
}

/** The examples' resource, which the examples leave out. */
const RESOURCES = {
  path: 'policies/resources.yaml',
  text: 'resources:\n  orders-db:\n    provider: postgres\n    connection: orders\n    roles:\n      read-only: { grant: [orders_read] }\n      read-write: { grant: [orders_write] }\n',
};
const TEAMS = { '@acme/sre': ['erin', 'frank'], '@acme/sre-leads': ['lena'] };

describe('docs/policy-reference.md examples', () => {
  const policyFiles = (blocks: Map<string, string>) =>
    [...blocks].filter(([p]) => p.startsWith('policies/')).map(([path, text]) => ({ path, text }));
  const request = (fields: Record<string, string>) =>
    Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n');
  const decide = (pol: ReturnType<typeof loadPolicies>['policies'], path: string, text: string, at: string) =>
    decideRequest(path, text, {
      files: [],
      changedPaths: [],
      pull: { headSha: 'HEAD', reviews: [], pushers: [], permissions: {}, teams: TEAMS },
      policies: pol,
      codeowners: null,
      config: DEFAULT_CONFIG,
      at: new Date(at),
    });

  it('on call: the example fills the step for erin in her week, and not after the hand-off', () => {
    const blocks = yamlBlocks(section('### Approval by whoever is on call'));
    const schedule = blocks.get('schedules/primary.yaml') as string;
    const load = loadPolicies([RESOURCES, ...policyFiles(blocks)], providerDefinitions, [
      { path: 'schedules/primary.yaml', text: schedule },
    ]);
    expect(load.errors).toEqual([]);
    const text = request({
      requester: 'erin',
      resource: 'orders-db',
      role: 'read-only',
      duration: '1h',
      reason: 'Check the stuck orders',
    });
    const d = decide(load.policies, 'requests/erin/orders.yaml', text, '2026-01-07T10:00:00Z');
    expect(d.status).toBe('approved');
    expect(formatDecisions([d], { color: false })).toContain(
      'filled: erin is on call (schedules/primary.yaml, layer weekly, until 2026-01-12T09:00:00Z)',
    );
    expect(decide(load.policies, 'requests/erin/orders.yaml', text, '2026-01-12T09:00:00Z').status).toBe(
      'pending',
    );
  });

  it('break-glass: the example request is approved at once, to be ratified within 4h', () => {
    const blocks = yamlBlocks(section('### Break-glass'));
    const load = loadPolicies([RESOURCES, ...policyFiles(blocks)], providerDefinitions);
    expect(load.errors).toEqual([]);
    const path = 'requests/erin/incident.yaml';
    const text = blocks.get(path) as string;
    const d = decide(load.policies, path, text, '2026-01-07T10:00:00Z');
    expect(d).toMatchObject({
      status: 'approved',
      rule: 'sre-incident',
      break_glass: { rule: 'sre-incident', ratify_within: '4h', ratify_by: '2026-01-07T14:00:00Z' },
    });
    expect(formatDecisions([d], { color: false })).toContain(
      'break-glass: approved by rule sre-incident before its approvals; they must ratify it',
    );
    const long = decide(load.policies, path, text.replace('30m', '2h'), '2026-01-07T10:00:00Z');
    expect(long.status).toBe('denied');
    const calm = decide(
      load.policies,
      path,
      text.replace('emergency: true', 'emergency: false'),
      '2026-01-07T10:00:00Z',
    );
    expect(calm.status).toBe('pending');
  });
});
