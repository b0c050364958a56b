// Request files against request.schema.json through parseRequest, with exact positions; every shipped
// schema compiles strictly and accepts its own examples; every example file in the repo is valid.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import ajvErrors from 'ajv-errors';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseTeams } from '../../src/cli/context.js';
import { parseRequest } from '../../src/core/decide.js';
import { type AccessRequest, DEFAULT_CONFIG } from '../../src/core/model.js';
import { loadPolicies } from '../../src/core/policy.js';
import { validateSchema } from '../../src/core/schemas.js';
import { type FileError, loadYaml } from '../../src/core/yaml-loader.js';
import { providerDefinitions } from '../../src/providers/registry.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PATH = 'requests/alice/2026-12-01-orders-db.yaml';

const VALID = {
  requester: 'alice',
  resource: 'orders-db',
  role: 'read-only',
  duration: '2h',
  reason: 'Reproduce BUG-1234, EU order totals off by VAT',
};

/** One `key: value` line per field, in order, so positions are predictable: field i is on line i + 1. */
function text(fields: Record<string, string | undefined>): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => (v === '' ? `${k}:` : `${k}: ${v}`))
    .join('\n')
    .concat('\n');
}

const parse = (fields: Record<string, string | undefined>, path = PATH) =>
  parseRequest(path, text(fields), DEFAULT_CONFIG);

const error = (line: number, column: number, path: string, message: string): FileError => ({
  line,
  column,
  path,
  message,
});

const LOGIN = 'must be a GitHub login (letters, digits and single hyphens, at most 39 characters)';
const RESOURCE =
  "must be a resource id (lower-case letters, digits, '.', '_' and '-', at most 63 characters)";
const ROLE = "must be a role name (lower-case letters, digits, '.', '_' and '-', at most 63 characters)";
const DURATION = 'must be a duration such as 30m, 2h, 1h30m, 1d or 1d12h';
const ONE_OF = 'give exactly one of `duration` or `until`';

/** The only error is `message` at the value of `field` (line `line`, column after `field: `). */
function expectValueError(fields: Record<string, string | undefined>, field: string, message: string) {
  const line =
    Object.keys(fields)
      .filter((k) => fields[k] !== undefined)
      .indexOf(field) + 1;
  const r = parse(fields);
  expect(r.request).toBeNull();
  expect(r.errors).toEqual([error(line, field.length + 3, `$.${field}`, message)]);
}

describe('valid requests', () => {
  it('with a duration', () => {
    const r = parse(VALID);
    expect(r.errors).toEqual([]);
    expect(r.request).toEqual(VALID);
  });

  it('with until instead of a duration', () => {
    const r = parse({ ...VALID, duration: undefined, until: '2026-12-01T18:00:00Z' });
    expect(r.errors).toEqual([]);
    expect(r.request).toEqual({ ...VALID, duration: undefined, until: '2026-12-01T18:00:00Z' });
    expect(r.request).not.toHaveProperty('duration');
  });

  it('with a start (any RFC 3339 offset)', () => {
    const r = parse({ ...VALID, start: '2026-12-01T09:00:00+01:00' });
    expect(r.errors).toEqual([]);
    expect(r.request?.start).toBe('2026-12-01T09:00:00+01:00');
  });

  it('with a ticket', () => {
    const r = parse({ ...VALID, ticket: 'BUG-1234' });
    expect(r.errors).toEqual([]);
    expect(r.request?.ticket).toBe('BUG-1234');
  });

  it('with every optional field, quoted values and a block-scalar reason', () => {
    const r = parseRequest(
      PATH,
      'requester: "alice"\nresource: \'orders-db\'\nrole: read-only\nuntil: 2026-12-01T18:00:00Z\nstart: 2026-12-01T09:00:00Z\nticket: OPS-77\nreason: |\n  Fix stuck order 9912\n  before the EU cut-off\n',
      DEFAULT_CONFIG,
    );
    expect(r.errors).toEqual([]);
    expect(r.request).toEqual({
      requester: 'alice',
      resource: 'orders-db',
      role: 'read-only',
      until: '2026-12-01T18:00:00Z',
      start: '2026-12-01T09:00:00Z',
      ticket: 'OPS-77',
      reason: 'Fix stuck order 9912\nbefore the EU cut-off\n',
    });
  });

  it.each(['30m', '2h', '1h30m', '1d', '1d12h', '1d2h3m', '0m', '9999d'])('duration %s', (duration) => {
    expect(parse({ ...VALID, duration }).errors).toEqual([]);
  });

  it('a login of digits is the login as written, not a number', () => {
    const r = parse({ ...VALID, requester: '0123' });
    expect(r.errors).toEqual([]);
    expect(r.request?.requester).toBe('0123');
  });

  it('logins: 39 characters, single hyphens, upper case', () => {
    expect(parse({ ...VALID, requester: 'a'.repeat(39) }).errors).toEqual([]);
    expect(parse({ ...VALID, requester: 'Alice-B-2' }).errors).toEqual([]);
  });

  it('a reason of exactly 10 characters', () => {
    expect(parse({ ...VALID, reason: 'ten chars!' }).errors).toEqual([]);
  });

  it('a request under any folder below requests/', () => {
    expect(parse(VALID, 'requests/a.yaml').errors).toEqual([]);
    expect(parse(VALID, 'requests/alice/2026/12/x.yaml').errors).toEqual([]);
  });
});

describe('schema errors', () => {
  it('an unknown field points at its key', () => {
    const r = parse({ ...VALID, extra: 'x' });
    expect(r.request).toBeNull();
    expect(r.errors).toEqual([error(6, 1, '$.extra', 'unknown field `extra`')]);
  });

  it('a typo of a field gets "did you mean", and is not also reported as the field missing', () => {
    const { reason, ...rest } = VALID;
    const r = parse({ ...rest, reson: reason });
    expect(r.errors).toEqual([error(5, 1, '$.reson', 'unknown field `reson` (did you mean `reason`?)')]);
    expect(parse({ ...VALID, tiket: 'BUG-1' }).errors).toEqual([
      error(6, 1, '$.tiket', 'unknown field `tiket` (did you mean `ticket`?)'),
    ]);
  });

  it('an indentation mistake is one message at the line indented wrong, not the parser’s text twice', () => {
    const r = parseRequest(
      PATH,
      'requester: alice\nresource: orders-db\n  role: read-only\nduration: 2h\nreason: Reproduce BUG-1234 here\n',
      DEFAULT_CONFIG,
    );
    expect(r.errors).toEqual([
      error(
        3,
        3,
        '$',
        'indented 2 spaces, deeper than the line above (0), whose `resource` already has a value: fields of one mapping must start in the same column',
      ),
    ]);
  });

  it('an unknown field with an odd name is quoted in the path', () => {
    const r = parseRequest(PATH, `${text(VALID)}"read only": x\n`, DEFAULT_CONFIG);
    expect(r.errors).toEqual([error(6, 1, "$['read only']", 'unknown field `read only`')]);
  });

  it('__proto__, constructor and prototype are unknown fields, and pollute nothing', () => {
    const r = parseRequest(
      PATH,
      `${text(VALID)}__proto__: {polluted: yes}\nconstructor: x\nprototype: {polluted: yes}\n`,
      DEFAULT_CONFIG,
    );
    expect(r.request).toBeNull();
    expect(r.errors).toEqual([
      error(6, 1, '$.__proto__', 'unknown field `__proto__`'),
      error(7, 1, '$.constructor', 'unknown field `constructor`'),
      error(8, 1, '$.prototype', 'unknown field `prototype`'),
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
  });

  it('a missing field is named', () => {
    const r = parse({ ...VALID, reason: undefined });
    expect(r.request).toBeNull();
    expect(r.errors).toEqual([error(1, 1, '$', 'missing required field `reason`')]);
  });

  it('every missing field is named', () => {
    const r = parse({ duration: '2h' });
    expect(r.errors).toEqual([
      error(1, 1, '$', 'missing required field `requester`'),
      error(1, 1, '$', 'missing required field `resource`'),
      error(1, 1, '$', 'missing required field `role`'),
      error(1, 1, '$', 'missing required field `reason`'),
    ]);
  });

  it('both duration and until: one error', () => {
    const r = parse({ ...VALID, until: '2026-12-01T18:00:00Z' });
    expect(r.request).toBeNull();
    expect(r.errors).toEqual([error(1, 1, '$', ONE_OF)]);
  });

  it('neither duration nor until: one error, not also "missing duration" and "missing until"', () => {
    const r = parse({ ...VALID, duration: undefined });
    expect(r.request).toBeNull();
    expect(r.errors).toEqual([error(1, 1, '$', ONE_OF)]);
  });

  it.each(['2 hours', '1h1d', '-1h', 'h', '""', '1.5h', '2H', '1d1d', 'PT2H', '"2h "', '12345d', '"2h\\n"'])(
    'duration %j is refused',
    (duration) => {
      expectValueError({ ...VALID, duration }, 'duration', DURATION);
    },
  );

  it('an empty duration is refused where the value is missing', () => {
    const r = parse({ ...VALID, duration: '' });
    expect(r.errors).toEqual([error(4, 10, '$.duration', DURATION)]);
  });

  it('a reason shorter than 10 characters', () => {
    expectValueError(
      { ...VALID, reason: 'too short' },
      'reason',
      'must be at least 10 characters: say why you need this access',
    );
  });

  it('a reason longer than 2000 characters', () => {
    expectValueError({ ...VALID, reason: 'x'.repeat(2001) }, 'reason', 'must be at most 2000 characters');
  });

  it.each([
    'alice;rm -rf /',
    '../x',
    'a'.repeat(40),
    '-alice',
    'alice-',
    'al--ice',
    'alice bob',
    '"alice\\nbob"',
    '$(id)',
    '"alice\\u0000"',
    'ålice',
  ])('requester %j is not a login', (requester) => {
    expectValueError({ ...VALID, requester }, 'requester', LOGIN);
  });

  it.each([
    'Orders-DB',
    '"orders db"',
    `"orders'db"`,
    "orders-db'; DROP ROLE x; --",
    '"orders-db\\"; DROP ROLE x; --"',
    '-orders',
    'orders-',
    'a'.repeat(64),
    '../orders-db',
  ])('resource %j is not a resource id', (resource) => {
    expectValueError({ ...VALID, resource }, 'resource', RESOURCE);
  });

  it('an injection attempt gets a clean message, not the regular expression', () => {
    const r = parse({ ...VALID, role: 'read-only; GRANT ALL ON DATABASE x TO alice; --' });
    expect(r.errors).toEqual([error(3, 7, '$.role', ROLE)]);
    expect(r.errors[0]?.message).not.toMatch(/\^|pattern|\\/);
  });

  it('a ticket with a space', () => {
    expectValueError(
      { ...VALID, ticket: 'BUG 1234' },
      'ticket',
      'must be a ticket reference without spaces, at most 100 characters',
    );
  });

  it.each([
    ['tomorrow', ''],
    ['2026-12-01', ''],
    ['2026-12-01T18:00:00', ' (give a time zone: `Z` for UTC or an offset such as +01:00)'],
    ['2026-13-01T18:00:00Z', ' (there is no month 13)'],
  ])('until %j is not an RFC 3339 time with a zone', (until, detail) => {
    expectValueError(
      { ...VALID, duration: undefined, until },
      'until',
      `must be an RFC 3339 time with a time zone, such as 2026-12-01T18:00:00Z${detail}`,
    );
  });

  it('an invalid start', () => {
    expectValueError(
      { ...VALID, start: '2026-12-01 9am' },
      'start',
      'must be an RFC 3339 time with a time zone, such as 2026-12-01T09:00:00Z',
    );
  });

  it('a list or a mapping where a string belongs', () => {
    expectValueError({ ...VALID, requester: '[alice]' }, 'requester', 'must be a string');
    expectValueError({ ...VALID, duration: '{h: 2}' }, 'duration', 'must be a string');
  });

  it('a file that is not a mapping: one error', () => {
    expect(parseRequest(PATH, '- alice\n', DEFAULT_CONFIG).errors).toEqual([
      error(1, 1, '$', 'must be a mapping'),
    ]);
    expect(parseRequest(PATH, 'alice\n', DEFAULT_CONFIG).errors).toEqual([
      error(1, 1, '$', 'must be a mapping'),
    ]);
  });

  it('several errors are all reported, in file order', () => {
    const r = parse({ ...VALID, requester: '../x', extra: 'y', reason: 'short' });
    expect(r.errors).toEqual([
      error(1, 12, '$.requester', LOGIN),
      error(5, 9, '$.reason', 'must be at least 10 characters: say why you need this access'),
      error(6, 1, '$.extra', 'unknown field `extra`'),
    ]);
  });

  it('YAML errors come first: a hostile file is not schema-checked', () => {
    const r = parseRequest(PATH, 'requester: &a alice\nresource: *a\n', DEFAULT_CONFIG);
    expect(r.request).toBeNull();
    expect(r.errors).toEqual([
      error(1, 12, '$.requester', 'anchors (`&name`) are not allowed'),
      error(2, 11, '$.resource', 'aliases (`*name`) are not allowed'),
    ]);
  });

  it('an empty request file', () => {
    expect(parseRequest(PATH, '# nothing yet\n', DEFAULT_CONFIG)).toMatchObject({
      request: null,
      errors: [error(1, 1, '$', 'file is empty')],
    });
  });
});

describe('request file paths', () => {
  it.each([
    'requests/alice/x.yml',
    'requests/alice/x.json',
    'requests/alice/x.yaml.txt',
    'policies/x.yaml',
    'x/requests/a.yaml',
    'requests.yaml',
    'requestsx/a.yaml',
    '/requests/a.yaml',
  ])('%s is not a request file', (path) => {
    const r = parse(VALID, path);
    expect(r.request).toBeNull();
    expect(r.errors).toEqual([
      error(1, 1, '$', `request files must be named requests/**/*.yaml (got ${path})`),
    ]);
  });

  it('the requests folder comes from the config', () => {
    const config = { ...DEFAULT_CONFIG, paths: { requests: 'access', policies: 'rules' } };
    expect(parseRequest('access/alice/x.yaml', text(VALID), config).errors).toEqual([]);
    expect(parseRequest('requests/alice/x.yaml', text(VALID), config).errors).toEqual([
      error(1, 1, '$', 'request files must be named access/**/*.yaml (got requests/alice/x.yaml)'),
    ]);
  });

  it('a bad path and a bad body: both are reported', () => {
    const r = parse({ ...VALID, extra: 'x' }, 'policies/x.yaml');
    expect(r.errors.map((e) => e.message)).toEqual([
      'request files must be named requests/**/*.yaml (got policies/x.yaml)',
      'unknown field `extra`',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------

/** Files below `dir` (relative to the repo root, `/`-separated) whose name matches `name`. */
function filesIn(dir: string, name: RegExp, recursive: boolean): string[] {
  const abs = join(ROOT, dir);
  return readdirSync(abs, { recursive, encoding: 'utf8' })
    .filter((f) => name.test(basename(f)) && statSync(join(abs, f)).isFile())
    .map((f) => relative(ROOT, join(abs, f)).split(sep).join('/'))
    .sort();
}
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

describe('the shipped JSON schemas', () => {
  const files = filesIn('schemas', /\.schema\.json$/, false);
  const schemas = files.map((f) => JSON.parse(read(f)) as Record<string, unknown> & { $id: string });

  /** A fresh instance with the project's settings: strict, except strictRequired (see the report). */
  function freshAjv(warnings: unknown[]) {
    const ajv = new Ajv({
      allErrors: true,
      strict: true,
      strictRequired: false,
      allowUnionTypes: true,
      logger: {
        log: () => {},
        warn: (...a: unknown[]) => warnings.push(a),
        error: (...a: unknown[]) => warnings.push(a),
      },
    });
    addFormats.default(ajv);
    ajvErrors.default(ajv);
    for (const s of schemas) ajv.addSchema(s);
    return ajv;
  }

  /** JSON pointers of every subschema that has `examples`, with the examples. */
  function examplesIn(node: unknown, pointer = ''): [string, unknown[]][] {
    if (!node || typeof node !== 'object') return [];
    const found: [string, unknown[]][] = [];
    const obj = node as Record<string, unknown>;
    if (!Array.isArray(node) && Array.isArray(obj.examples)) found.push([pointer, obj.examples]);
    for (const [k, v] of Object.entries(obj)) {
      if (['examples', 'enum', 'const', 'default', 'errorMessage'].includes(k)) continue;
      found.push(...examplesIn(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`));
    }
    return found;
  }

  it('are the four the code loads', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'schemas/config.schema.json',
        'schemas/policy-test.schema.json',
        'schemas/policy.schema.json',
        'schemas/request.schema.json',
      ]),
    );
  });

  it.each(files)('%s compiles with ajv in strict mode, without warnings', (file) => {
    const warnings: unknown[] = [];
    const ajv = freshAjv(warnings);
    const schema = schemas[files.indexOf(file)] as { $id: string };
    expect(schema.$id).toBe(`https://timebox.dev/${file}`);
    expect(() => ajv.getSchema(schema.$id)).not.toThrow();
    expect(ajv.getSchema(schema.$id)).toBeTypeOf('function');
    expect(warnings).toEqual([]);
  });

  it.each(files)('%s accepts every one of its own examples', (file) => {
    const ajv = freshAjv([]);
    const schema = schemas[files.indexOf(file)] as { $id: string };
    for (const [pointer, examples] of examplesIn(schema)) {
      const validate = ajv.getSchema(`${schema.$id}#${encodeURI(pointer)}`);
      expect(validate, `${file}#${pointer}`).toBeTypeOf('function');
      for (const example of examples) {
        const ok = validate?.(example);
        expect({ at: `${file}#${pointer}`, example, ok, errors: validate?.errors ?? null }).toMatchObject({
          ok: true,
        });
      }
    }
  });

  it('the examples are really checked (a wrong example would be caught)', () => {
    const ajv = freshAjv([]);
    const all = schemas.flatMap((s) => examplesIn(s).map(([p, ex]) => [s.$id, p, ex] as const));
    expect(all.length).toBeGreaterThan(5);
    const login = ajv.getSchema('https://timebox.dev/schemas/request.schema.json#/properties/requester');
    expect(login?.('alice;rm -rf /')).toBe(false);
  });

  it('the request schema examples pass parseRequest as files too', () => {
    const schema = schemas[files.indexOf('schemas/request.schema.json')] as unknown as {
      examples: unknown[];
    };
    expect(schema.examples.length).toBeGreaterThan(0);
    for (const example of schema.examples) {
      const r = parseRequest(PATH, stringify(example), DEFAULT_CONFIG);
      expect(r.errors).toEqual([]);
      expect(r.request).toEqual(example);
    }
  });
});

describe('the example files in the repo', () => {
  const requestFiles = filesIn('requests', /\.ya?ml$/, true);
  const policyFiles = filesIn('policies', /\.ya?ml$/, false);
  const testFiles = filesIn('policies/tests', /\.ya?ml$/, false);
  const policies = loadPolicies(
    policyFiles.map((path) => ({ path, text: read(path) })),
    providerDefinitions,
  );

  it('exist', () => {
    expect(requestFiles.length).toBeGreaterThan(0);
    expect(policyFiles.length).toBeGreaterThan(0);
    expect(testFiles.length).toBeGreaterThan(0);
  });

  it.each(requestFiles)('%s is a valid request', (path) => {
    const r = parseRequest(path, read(path), DEFAULT_CONFIG);
    expect(r.errors).toEqual([]);
    expect(r.request).not.toBeNull();
  });

  it.each(requestFiles)('%s names a resource and a role that the example policies define', (path) => {
    const request = parseRequest(path, read(path), DEFAULT_CONFIG).request as AccessRequest;
    const resource = policies.policies.resources.get(request.resource);
    expect(resource, request.resource).toBeDefined();
    expect(Object.keys(resource?.roles ?? {})).toContain(request.role);
  });

  it('policies/*.yaml load without errors', () => {
    expect(policies.errors).toEqual([]);
    expect(policies.policies.resources.size).toBeGreaterThan(0);
    expect(policies.policies.rules.length).toBeGreaterThan(0);
  });

  it.each(testFiles)('%s is a valid policy test file', (path) => {
    const loaded = loadYaml(read(path), { scalars: 'core', maxBytes: 1024 * 1024 });
    expect(loaded.errors).toEqual([]);
    expect(validateSchema('policy-test', loaded.value, loaded)).toEqual([]);
  });

  it.each(testFiles)('%s: every test not expected to be invalid has a valid request', (path) => {
    const loaded = loadYaml(read(path), { scalars: 'core', maxBytes: 1024 * 1024 });
    const tests = (loaded.value as { tests: { name: string; request: unknown; expect: string }[] }).tests;
    expect(tests.length).toBeGreaterThan(0);
    for (const t of tests.filter((x) => x.expect !== 'invalid')) {
      const r = parseRequest('requests/x/test.yaml', stringify(t.request), DEFAULT_CONFIG);
      expect({ test: t.name, errors: r.errors }).toEqual({ test: t.name, errors: [] });
    }
  });

  it('teams.example.yaml is a valid teams file', () => {
    const teams = parseTeams(read('teams.example.yaml'), 'teams.example.yaml');
    expect(Object.keys(teams).length).toBeGreaterThan(0);
    for (const [team, members] of Object.entries(teams)) {
      expect(team).toMatch(/^@[a-z0-9-]+\/[a-z0-9._-]+$/);
      expect(members.length).toBeGreaterThan(0);
      for (const m of members) expect(typeof m).toBe('string');
    }
  });
});

describe('policies and the teams file are read as carefully (issue 13.8)', () => {
  // Less hostile than request files, but a crash is still a bug: each is a ConfigError (exit 2) at file:line.
  const NESTED = 'nesting is deeper than 32 levels';

  it('a policy file nested thousands deep is an error at its line, not a stack overflow', () => {
    for (const [deep, line] of [
      ['['.repeat(20_000), 2],
      ['{a: '.repeat(10_000), 2],
      [`\n    ${'- '.repeat(20_000)}x\nb: 1\n`, 3],
    ] as const) {
      const r = loadPolicies(
        [{ path: 'policies/deep.yaml', text: `resources:\n  x: ${deep}` }],
        providerDefinitions,
      );
      expect(r.errors).toEqual([
        expect.objectContaining({ file: 'policies/deep.yaml', line, message: NESTED }),
      ]);
    }
  });

  it('a teams file nested thousands deep is a ConfigError naming teams.yaml:line', () => {
    let thrown: unknown;
    try {
      parseTeams(`"@acme/qa":\n  ${'- '.repeat(20_000)}x\nb: 1\n`, 'teams.yaml');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({
      name: 'ConfigError',
      problems: [expect.objectContaining({ file: 'teams.yaml', line: 2, message: NESTED })],
    });
  });
});
