// `npm run build` precompiles the schema validators (scripts/build-validators.mjs, ajv's standalone code) so
// that a cold `timebox check` compiles none; the validators compiled at run time (tsx, vitest, or a schema
// without a precompiled one) must answer alike, error for error. Here both are made from the same schemas
// and run on many broken documents: ajv's error objects (keyword, paths, params, message, parent schema)
// must be deep-equal, so the file:line messages built from them are byte-identical.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { knownSchemas, validatorsModule } from '../../scripts/build-validators.mjs';
import * as lib from '../../src/core/schemas.js';
import { ROOT, tempDir } from '../helpers/repo.js';

const yamlAt = (path: string): unknown => parse(readFileSync(join(ROOT, path), 'utf8'));

/** A valid-looking document for each schema, to break in every place. */
const SEEDS: Record<string, unknown> = {
  'https://timebox.dev/schemas/request.schema.json': yamlAt(
    'requests/alice/2026-12-01-orders-db-read-only.yaml',
  ),
  'https://timebox.dev/schemas/policy.schema.json': yamlAt('policies/qa.yaml'),
  'https://timebox.dev/schemas/policy-test.schema.json': yamlAt('policies/tests/qa.yaml'),
  'https://timebox.dev/schemas/config.schema.json': {
    auto_merge: true,
    pending_ttl: '7d',
    remind_before: '15m',
    paths: { requests: 'requests', policies: 'policies' },
    audit: { issue: true },
  },
  'https://timebox.dev/schemas/oncall.schema.json': parse(`tz: Europe/Berlin
layers:
  - name: primary
    rotation: [alice, bob]
    turn: weekly
    handoff: "09:00"
    handoff_day: mon
    start: 2026-01-05T09:00:00+01:00
`),
};

const REPLACEMENTS: unknown[] = [
  42,
  -1.5,
  'not valid!',
  '',
  true,
  null,
  [],
  ['x', 3],
  {},
  { reson: 'x' },
  '2026-13-01T25:00:00Z',
  '2026-12-01T09:00:00',
  'a'.repeat(600),
];

/** `doc` broken in every place: each value replaced, each key removed, an unknown key added to each mapping. */
function variants(doc: unknown): unknown[] {
  const out: unknown[] = [doc];
  const walk = (node: unknown, replace: (v: unknown) => unknown, depth: number) => {
    for (const r of REPLACEMENTS) out.push(replace(r));
    if (depth > 5 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries())
        walk(item, (v) => replace(node.map((x, j) => (j === i ? v : x))), depth + 1);
      return;
    }
    const obj = node as Record<string, unknown>;
    out.push(replace({ ...obj, reson: 'typo', zzz: 1 }));
    for (const key of Object.keys(obj)) {
      const { [key]: _, ...rest } = obj;
      out.push(replace(rest));
      walk(obj[key], (v) => replace({ ...obj, [key]: v }), depth + 1);
    }
  };
  walk(doc, (v) => v, 0);
  return out;
}

/** Runs `validate` on `doc` and returns what a caller of it sees. */
function outcome(validate: ValidateFunction, doc: unknown) {
  const ok = validate(structuredClone(doc));
  return { ok, errors: validate.errors ?? null };
}

let precompiled: Map<string, ValidateFunction>;
let schemas: object[];

beforeAll(async () => {
  const known = await knownSchemas(
    (path: string) => import(new URL(`../../src/${path.replace(/\.js$/, '.ts')}`, import.meta.url).href),
  );
  schemas = known.schemas;
  const file = join(tempDir(), 'schema-validators.cjs');
  writeFileSync(file, validatorsModule(lib, schemas));
  precompiled = lib.loadPrecompiled(file);
});

describe('precompiled validators', () => {
  it('exist for every shipped schema, the on-call schema and every provider schema', () => {
    expect(schemas.length).toBeGreaterThanOrEqual(5 + 2 * 4);
    for (const s of schemas) expect(precompiled.has(lib.schemaKey(s))).toBe(true);
  });

  it('answer every broken document as the validators compiled at run time do', () => {
    const runtime = lib.createAjv();
    const shipped = Object.values(lib.shippedSchemas());
    for (const s of shipped) runtime.addSchema(s);
    let compared = 0;
    let invalid = 0;
    for (const schema of schemas) {
      const id = (schema as { $id?: string }).$id;
      const compiled = shipped.includes(schema as Record<string, unknown>)
        ? (runtime.getSchema(id as string) as ValidateFunction)
        : runtime.compile(schema);
      const pre = precompiled.get(lib.schemaKey(schema)) as ValidateFunction;
      // A provider's schema: every field it declares, to be broken one by one.
      const props = Object.keys((schema as { properties?: object }).properties ?? {});
      const seed = id ? SEEDS[id] : Object.fromEntries(props.map((p) => [p, 'x']));
      expect(id === undefined || seed !== undefined, `a seed for ${id}`).toBe(true);
      for (const doc of variants(seed)) {
        const a = outcome(pre, doc);
        expect(a, JSON.stringify(doc)).toEqual(outcome(compiled, doc));
        compared++;
        if (!a.ok) invalid++;
      }
    }
    // Enough documents, most of them broken, that every keyword of the schemas reports at least once.
    expect(compared).toBeGreaterThan(1000);
    expect(invalid).toBeGreaterThan(compared / 2);
  });

  it('are not used for a schema whose text changed since the build (it is compiled instead)', () => {
    const request = lib.shippedSchemas().request;
    const changed = { ...request, description: 'edited after the build' };
    expect(precompiled.has(lib.schemaKey(changed))).toBe(false);
  });
});
