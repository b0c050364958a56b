// docs/policy-reference.md lists every field of every schema and of every provider's settings, in the
// section for that file, and no field the schemas do not know.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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

/** The text under a heading, up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const start = DOC.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/policy-reference.md has no "${heading}"`);
  const level = heading.split(' ')[0] as string;
  const rest = DOC.slice(start + heading.length + 2);
  const next = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return next < 0 ? rest : rest.slice(0, next);
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
