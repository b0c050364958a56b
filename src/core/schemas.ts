// JSON Schema validation with errors mapped back to file positions.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ajv, ErrorObject, Format, Options, ValidateFunction } from 'ajv';
import { checkTimestamp } from './time.js';
import {
  type FileError,
  formatPath,
  type LoadedYaml,
  type PathSegment,
  pointerToPath,
} from './yaml-loader.js';

const require = createRequire(import.meta.url);
// src/core and dist/core are both two levels below the package root.
const load = (name: string): Record<string, unknown> => require(`../../schemas/${name}.schema.json`);

export const requestSchema = load('request');
const policySchema = load('policy');
const configSchema = load('config');
const policyTestSchema = load('policy-test');

export type SchemaName = 'request' | 'policy' | 'config' | 'policy-test';

const SCHEMAS: Record<SchemaName, Record<string, unknown>> = {
  request: requestSchema,
  policy: policySchema,
  config: configSchema,
  'policy-test': policyTestSchema,
};
let added = false;
/** Compiled on first use, one by one: `check` never needs the policy-test schema, `verify` does. */
const compiled = new Map<SchemaName, ValidateFunction>();

// ajv-formats' `date-time` accepts times JavaScript cannot represent (leap seconds, `+01`, year 0000, …):
// every schema's `date-time` is the one rule of src/core/time.ts instead.
const DATE_TIME: Format = { type: 'string', validate: (s: string) => checkTimestamp(s).ok };

/**
 * A new ajv (draft-07) for Timebox's own schemas. `standalone`: one that keeps each validator's source for
 * scripts/build-validators.mjs, whose code then reads its formats from the `formats` of `precompiled()`.
 * ajv, ajv-formats and ajv-errors are required here, not imported: a process whose validators were
 * precompiled never loads them (about 150 CommonJS modules and the compiling, on every cold start).
 */
export function createAjv(standalone = false): Ajv {
  const { Ajv: AjvClass, Name } = require('ajv') as typeof import('ajv');
  const options: Options = {
    allErrors: true,
    strict: true,
    strictRequired: false,
    allowUnionTypes: true,
    // `verbose`: errors carry their parent schema, so an unknown field can be compared with the known ones.
    verbose: true,
    // Every schema compiled here is Timebox's own (schemas/*.json, the providers' definitions), never a user's:
    // checking each against the JSON Schema meta-schema on every start cost a cold `check` ~40 ms. Tests do it
    // (test/core/request-file.test.ts, test/core/schema-meta.test.ts); strict mode still runs when compiling.
    validateSchema: false,
    ...(standalone ? { code: { source: true, formats: new Name(PRECOMPILED_FORMATS) } } : {}),
  };
  const ajv = new AjvClass(options);
  (require('ajv-formats') as typeof import('ajv-formats')).default(ajv);
  ajv.addFormat('date-time', DATE_TIME);
  (require('ajv-errors') as typeof import('ajv-errors')).default(ajv);
  return ajv;
}

/** The name generated validators read their formats from (a parameter of the generated module's function). */
export const PRECOMPILED_FORMATS = '__timeboxFormats';

/** The key of a schema among the precompiled validators: its JSON text, so that a stale build is never used. */
export const schemaKey = (schema: object): string => JSON.stringify(schema);

/** What the generated module's function returns: the validators of the schemas whose keys are given. */
export interface PrecompiledValidators {
  keys: string[];
  validators: ValidateFunction[];
}

/** The validators `npm run build` generated beside this file (dist/core/); none under tsx or vitest. */
const PRECOMPILED_FILE = fileURLToPath(new URL('./schema-validators.cjs', import.meta.url));
let precompiledCache: Map<string, ValidateFunction> | null | undefined;

/** The precompiled validators from `file` (scripts/build-validators.mjs writes it), by schema key. */
export function loadPrecompiled(file: string): Map<string, ValidateFunction> {
  const make = require(file) as (
    formats: Record<string, Format>,
    req: NodeJS.Require,
  ) => PrecompiledValidators;
  const { fullFormats } = require('ajv-formats/dist/formats') as { fullFormats: Record<string, Format> };
  const { keys, validators } = make({ ...fullFormats, 'date-time': DATE_TIME }, require);
  return new Map(keys.map((k, i) => [k, validators[i] as ValidateFunction]));
}

function precompiled(schema: object): ValidateFunction | undefined {
  if (precompiledCache === undefined)
    precompiledCache = existsSync(PRECOMPILED_FILE) ? loadPrecompiled(PRECOMPILED_FILE) : null;
  return precompiledCache?.get(schemaKey(schema));
}

let runtime: Ajv | undefined;
/** The ajv that compiles what was not precompiled, made on first use. */
const runtimeAjv = (): Ajv => (runtime ??= createAjv());

/** The ajv instance providers' schemas compile through when not precompiled (made when first used). */
export const ajv: Ajv = new Proxy({} as Ajv, {
  get(_, key) {
    const target = runtimeAjv();
    const value = Reflect.get(target, key, target);
    return typeof value === 'function' ? value.bind(target) : value;
  },
});

/** The message for a `date-time` value, with what is wrong when more can be said than "not a time". */
const TIME_MESSAGE = 'must be an RFC 3339 time with a time zone, such as 2026-12-01T09:00:00Z';
function timeDetail(value: unknown): string {
  if (typeof value !== 'string') return '';
  const c = checkTimestamp(value);
  return !c.ok && c.problem ? ` (${c.problem})` : '';
}

function validator(name: SchemaName): ValidateFunction {
  let v = compiled.get(name);
  if (!v) {
    v = precompiled(SCHEMAS[name]);
    if (!v) {
      const a = runtimeAjv();
      // All four are added (not compiled) at once, so that a $ref from one to another resolves.
      if (!added) for (const schema of Object.values(SCHEMAS)) a.addSchema(schema);
      added = true;
      v = a.getSchema(SCHEMAS[name].$id as string) as ValidateFunction;
    }
    compiled.set(name, v);
  }
  return v;
}

/** The shipped schemas by name, for scripts/build-validators.mjs. */
export const shippedSchemas = (): Readonly<Record<SchemaName, Record<string, unknown>>> => SCHEMAS;

export function compileSchema(schema: object): ValidateFunction {
  return precompiled(schema) ?? runtimeAjv().compile(schema);
}

/** Validate `value` (found at `base` inside `loaded`) and return positioned errors. */
export function validateAgainst(
  validate: ValidateFunction,
  value: unknown,
  loaded: Pick<LoadedYaml, 'locate' | 'locateKey'>,
  base: readonly PathSegment[] = [],
): FileError[] {
  if (validate(value)) return [];
  return toFileErrors(validate.errors ?? [], value, loaded, base);
}

export function validateSchema(
  name: SchemaName,
  value: unknown,
  loaded: Pick<LoadedYaml, 'locate' | 'locateKey'>,
  base: readonly PathSegment[] = [],
): FileError[] {
  return validateAgainst(validator(name), value, loaded, base);
}

function toFileErrors(
  errors: ErrorObject[],
  value: unknown,
  loaded: Pick<LoadedYaml, 'locate' | 'locateKey'>,
  base: readonly PathSegment[] = [],
): FileError[] {
  const out: FileError[] = [];
  const seen = new Set<string>();
  // A missing field explained by a typo beside it (`reson:` for `reason:`) is said once, as the typo.
  const typoOf = new Set<string>();
  const missing = new Map<FileError, string>();
  for (const e of relevant(errors)) {
    const path: PathSegment[] = [...base, ...typedPath(value, pointerToPath(e.instancePath))];
    let at = loaded.locate(path);
    let message = e.message ?? 'is invalid';
    let missingKey: string | null = null;
    const params = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String(params.additionalProperty);
        const close = closeNames(key, knownFields(e.parentSchema));
        for (const c of close) typoOf.add(`${formatPath(path)}\u0000${c}`);
        path.push(key);
        at = loaded.locateKey(path);
        message = `unknown field \`${key}\`${didYouMean(key, knownFields(e.parentSchema))}`;
        break;
      }
      case 'required':
        missingKey = `${formatPath(path)}\u0000${String(params.missingProperty)}`;
        message = `missing required field \`${String(params.missingProperty)}\``;
        break;
      case 'type':
        message = `must be ${article(String(params.type))}`;
        break;
      case 'enum':
        message = `must be one of: ${(params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}`;
        break;
      case 'format':
        if (params.format === 'date-time') message = TIME_MESSAGE;
        break;
      case 'propertyNames': {
        const key = String(params.propertyName);
        path.push(key);
        at = loaded.locateKey(path);
        message = `\`${key}\` is not a valid name here`;
        break;
      }
      default:
        break;
    }
    if (isTimeFormat(e)) message += timeDetail(valueAt(value, pointerToPath(e.instancePath)));
    const fe = { line: at.line, column: at.column, path: formatPath(path), message };
    const k = `${fe.path}\u0000${fe.message}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(fe);
      if (missingKey) missing.set(fe, missingKey);
    }
  }
  return out
    .filter((e) => !typoOf.has(missing.get(e) ?? ''))
    .sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * Drop ajv's noise: the `if`/`propertyNames` wrappers, errors already explained by ajv-errors (the branch
 * errors of a `oneOf` that has its own message), and anything else said about a value of the wrong type.
 */
function relevant(errors: ErrorObject[]): ErrorObject[] {
  const replaced = (e: ErrorObject): ErrorObject[] =>
    e.keyword === 'errorMessage' ? ((e.params as { errors?: ErrorObject[] }).errors ?? []) : [];
  const isType = (e: ErrorObject) => e.keyword === 'type' || replaced(e).some((r) => r.keyword === 'type');
  const explained = errors.flatMap(replaced);
  const isExplained = (e: ErrorObject) =>
    explained.some(
      (r) => e.schemaPath.startsWith(`${r.schemaPath}/`) && e.instancePath.startsWith(r.instancePath),
    );
  const wrongType = new Set(errors.filter(isType).map((e) => e.instancePath));
  return errors.filter(
    (e) =>
      e.keyword !== 'if' &&
      !(e.keyword === 'pattern' && e.propertyName !== undefined) &&
      !isExplained(e) &&
      !(wrongType.has(e.instancePath) && !isType(e)),
  );
}

/** A `date-time` format error, as ajv reports it or as ajv-errors replaced it with the schema's own message. */
function isTimeFormat(e: ErrorObject): boolean {
  const formatOf = (x: ErrorObject) =>
    x.keyword === 'format' && (x.params as { format?: unknown }).format === 'date-time';
  if (formatOf(e)) return true;
  return (
    e.keyword === 'errorMessage' && ((e.params as { errors?: ErrorObject[] }).errors ?? []).some(formatOf)
  );
}

function valueAt(value: unknown, segments: string[]): unknown {
  let node = value;
  for (const seg of segments) {
    if (!node || typeof node !== 'object') return undefined;
    node = Object.hasOwn(node, seg) ? (node as Record<string, unknown>)[seg] : undefined;
  }
  return node;
}

/** Pointer segments with sequence indexes as numbers, so paths print as `$.rules[0]`. */
function typedPath(value: unknown, segments: string[]): PathSegment[] {
  const out: PathSegment[] = [];
  let node = value;
  for (const seg of segments) {
    if (Array.isArray(node)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function article(type: string): string {
  const t = type
    .replace('integer', 'a whole number')
    .replace('object', 'a mapping')
    .replace('array', 'a list');
  if (t.startsWith('a ')) return t;
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

function knownFields(schema: unknown): string[] {
  const props = (schema as { properties?: unknown } | undefined)?.properties;
  return props && typeof props === 'object' ? Object.keys(props) : [];
}

/** ` (did you mean \`reason\`?)` when a few known names are close to a typo; empty otherwise. */
export function didYouMean(value: string, known: readonly string[]): string {
  const close = closeNames(value, known);
  return close.length > 0 ? ` (did you mean ${close.map((c) => `\`${c}\``).join(' or ')}?)` : '';
}

function closeNames(value: string, known: readonly string[]): string[] {
  const v = value.toLowerCase();
  return known
    .filter((k) => {
      const l = k.toLowerCase();
      return (
        editDistance(l, v) <= Math.min(2, Math.max(1, Math.floor(l.length / 3))) ||
        l.replace(/[-_]/g, '') === v.replace(/[-_]/g, '')
      );
    })
    .slice(0, 3);
}

/** Levenshtein distance, cut off at 3 (enough for "did you mean"). */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}
