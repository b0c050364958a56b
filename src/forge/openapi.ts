// Validation of requests and responses against GitHub's official OpenAPI description (@octokit/openapi).
// The 13 MB document is parsed once; per-operation validators are compiled lazily and cached.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

const SPEC_ID = 'https://fake-github.test/api.github.com.json';

interface JsonObject {
  [key: string]: unknown;
}

interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonObject;
  'x-multi-segment'?: boolean;
}

interface MediaObject {
  schema?: JsonObject;
}

interface ResponseObject {
  description?: string;
  content?: Record<string, MediaObject>;
}

interface OperationObject {
  operationId: string;
  parameters?: (ParameterObject | { $ref: string })[];
  requestBody?: { required?: boolean; content?: Record<string, MediaObject> };
  responses: Record<string, ResponseObject | { $ref: string }>;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
  components: {
    schemas: Record<string, JsonObject>;
    parameters: Record<string, ParameterObject>;
    responses: Record<string, ResponseObject>;
  };
}

/**
 * Ajv settings for GitHub's large descriptions: lenient about OpenAPI keywords, every error reported, and
 * unoptimised code with shared (not inlined) references, which compiles them in a third of the time.
 */
export const SPEC_AJV_OPTIONS = {
  strict: false,
  allErrors: true,
  logger: false,
  allowUnionTypes: true,
  inlineRefs: false,
  code: { optimize: false },
} as const;

export interface SpecOperation {
  method: string;
  path: string;
  operationId: string;
  parameters: ParameterObject[];
  raw: OperationObject;
}

export interface RequestParts {
  pathParams: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body, or undefined when the request had no body. */
  body: unknown;
}

/** Keywords whose values are data or name maps rather than sub-schemas. */
const NAME_MAPS = new Set(['properties', 'patternProperties', 'definitions']);
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'example', 'examples', 'required']);

/**
 * OpenAPI 3.0 schema → draft-07: `nullable: true` becomes `anyOf: [schema, {type: 'null'}]` (this also covers
 * `nullable` next to `$ref`/`oneOf`, which ajv's own `nullable` support rejects), and local `#/components/...`
 * references become absolute so they resolve against the whole document registered under SPEC_ID.
 */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node as JsonObject)) {
    if (key === 'nullable') continue;
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/')) {
      out[key] = `${SPEC_ID}${value}`;
    } else if (NAME_MAPS.has(key) && value !== null && typeof value === 'object') {
      out[key] = Object.fromEntries(
        Object.entries(value as JsonObject).map(([k, v]) => [k, toJsonSchema(v)]),
      );
    } else if (DATA_KEYWORDS.has(key) || key.startsWith('x-')) {
      out[key] = value;
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  if ((node as JsonObject).nullable === true) {
    // `$ref` siblings are ignored in draft-07, so keep the ref inside its own branch.
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

function formatErrors(where: string, errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : '';
    return `${where}${e.instancePath || ''} ${e.message ?? e.keyword}${extra}`;
  });
}

/**
 * OpenAPI path template → RegExp plus the parameter names of its capture groups, in order. Parameters GitHub
 * marks `x-multi-segment` (a contents path, a `heads/main` ref) may span several segments.
 */
function compileTemplate(
  template: string,
  multiSegment: ReadonlySet<string>,
): { regexp: RegExp; names: string[] } {
  const names: string[] = [];
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => {
      if (!part.startsWith('{')) return part.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
      const name = part.slice(1, -1);
      names.push(name);
      return multiSegment.has(name) ? '(.+)' : '([^/]+)';
    })
    .join('');
  return { regexp: new RegExp(`^${source}$`), names };
}

export class OpenApiValidator {
  readonly #doc: OpenApiDocument;
  readonly #ajv: Ajv;
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #routes: { method: string; path: string; regexp: RegExp; names: string[]; multi: number }[] = [];

  constructor(doc: OpenApiDocument) {
    this.#doc = doc;
    this.#ajv = new Ajv(SPEC_AJV_OPTIONS);
    addFormats.default(this.#ajv);
    // OpenAPI numeric/binary formats carry no constraint ajv should enforce.
    for (const format of [
      'int32',
      'int64',
      'float',
      'double',
      'byte',
      'binary',
      'password',
      'repo.nwo',
      'ssh-key',
    ]) {
      this.#ajv.addFormat(format, true);
    }
    this.#ajv.addSchema(
      { $id: SPEC_ID, components: { schemas: toJsonSchema(doc.components.schemas) } },
      undefined,
      undefined,
      false,
    );
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        if (method === 'parameters') continue;
        const multi = new Set(
          this.operation(method.toUpperCase(), path)
            .parameters.filter((p) => p.in === 'path' && p['x-multi-segment'] === true)
            .map((p) => p.name),
        );
        this.#routes.push({
          method: method.toUpperCase(),
          path,
          multi: multi.size,
          ...compileTemplate(path, multi),
        });
      }
    }
    // Literal segments win over templated ones (`/issues/comments/{id}` before `/issues/{number}/...`), and
    // greedy multi-segment templates come last, longest literal first (`/commits/{ref}/check-runs` before
    // `/commits/{ref}`).
    const params = (path: string): number => path.split('{').length - 1;
    const literal = (path: string): number => path.replace(/\{[^}]+\}/g, '').length;
    this.#routes.sort(
      (a, b) => a.multi - b.multi || params(a.path) - params(b.path) || literal(b.path) - literal(a.path),
    );
  }

  /** Find the documented operation matching a concrete request path. */
  match(
    method: string,
    pathname: string,
  ): { operation: SpecOperation; pathParams: Record<string, string> } | undefined {
    for (const route of this.#routes) {
      if (route.method !== method) continue;
      const m = route.regexp.exec(pathname);
      if (!m) continue;
      const pathParams = Object.fromEntries(
        route.names.map((name, i) => [name, decodeURIComponent(m[i + 1] ?? '')]),
      );
      return { operation: this.operation(method, route.path), pathParams };
    }
    return undefined;
  }

  /** A schema of `components.schemas`, as the description has it (OpenAPI 3.0 dialect). */
  componentSchema(name: string): JsonObject | undefined {
    return this.#doc.components.schemas[name];
  }

  operation(method: string, path: string): SpecOperation {
    const item = this.#doc.paths[path];
    const raw = item?.[method.toLowerCase()] as OperationObject | undefined;
    if (!item || !raw) throw new Error(`No ${method} ${path} in the OpenAPI description`);
    const shared = (item.parameters as OperationObject['parameters']) ?? [];
    const parameters = [...shared, ...(raw.parameters ?? [])].map((p) => this.#resolveParameter(p));
    return { method, path, operationId: raw.operationId, parameters, raw };
  }

  validateRequest(op: SpecOperation, parts: RequestParts): string[] {
    const errors: string[] = [];
    for (const param of op.parameters) {
      if (param.in !== 'path' && param.in !== 'query') continue;
      const raw = param.in === 'path' ? parts.pathParams[param.name] : parts.query.get(param.name);
      if (raw === undefined || raw === null) {
        if (param.required) errors.push(`${param.in}.${param.name} is required`);
        continue;
      }
      if (!param.schema) continue;
      const validate = this.#compile(`${op.operationId}:param:${param.name}`, param.schema);
      if (!validate(coerce(raw, param.schema))) {
        errors.push(...formatErrors(`${param.in}.${param.name}`, validate.errors));
      }
    }
    const requestBody = op.raw.requestBody;
    const schema = requestBody?.content?.['application/json']?.schema;
    if (parts.body === undefined) {
      if (requestBody?.required) errors.push('body is required');
    } else if (schema) {
      const validate = this.#compile(`${op.operationId}:body`, schema);
      if (!validate(parts.body)) errors.push(...formatErrors('body', validate.errors));
    }
    return errors;
  }

  validateResponse(op: SpecOperation, status: number, body: unknown): string[] {
    const declared = op.raw.responses[String(status)];
    if (!declared) {
      // The description omits many error statuses GitHub really sends (e.g. 404 on pulls/list-reviews):
      // accept undocumented 4xx/5xx when shaped like GitHub's basic-error, never an undocumented success.
      if (status >= 400) {
        const validate = this.#compile('basic-error', { $ref: '#/components/schemas/basic-error' });
        return validate(body) ? [] : formatErrors(`response ${status}`, validate.errors);
      }
      return [`response status ${status} is not documented for ${op.operationId}`];
    }
    const response = '$ref' in declared ? this.#resolveResponse(declared.$ref) : declared;
    const schema = response.content?.['application/json']?.schema;
    if (!schema) {
      if (body === undefined) return [];
      // Some errors are documented without content (delete-a-reference's 422), yet GitHub explains them in a
      // basic-error body ("Reference does not exist").
      if (status >= 400) {
        const validate = this.#compile('basic-error', { $ref: '#/components/schemas/basic-error' });
        return validate(body) ? [] : formatErrors(`response ${status}`, validate.errors);
      }
      return [`response ${status} must not have a body`];
    }
    const validate = this.#compile(`${op.operationId}:response:${status}`, schema);
    return validate(body) ? [] : formatErrors(`response ${status}`, validate.errors);
  }

  #compile(key: string, schema: JsonObject): ValidateFunction {
    let validate = this.#validators.get(key);
    if (!validate) {
      validate = this.#ajv.compile(toJsonSchema(schema) as JsonObject);
      this.#validators.set(key, validate);
    }
    return validate;
  }

  #resolveParameter(p: ParameterObject | { $ref: string }): ParameterObject {
    if (!('$ref' in p)) return p;
    const name = p.$ref.replace('#/components/parameters/', '');
    const resolved = this.#doc.components.parameters[name];
    if (!resolved) throw new Error(`Unresolvable parameter ${p.$ref}`);
    return resolved;
  }

  #resolveResponse(ref: string): ResponseObject {
    const resolved = this.#doc.components.responses[ref.replace('#/components/responses/', '')];
    if (!resolved) throw new Error(`Unresolvable response ${ref}`);
    return resolved;
  }
}

/** Path and query values arrive as strings; convert them to the type their schema declares. */
function coerce(raw: string, schema: JsonObject): unknown {
  const type = schema.type;
  if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (type === 'boolean' && (raw === 'true' || raw === 'false')) return raw === 'true';
  if (type === 'array') return raw.split(',');
  return raw;
}

let shared: OpenApiValidator | undefined;

/** The process-wide validator for api.github.com (parsing the description takes a moment; do it once). */
export function githubApi(): OpenApiValidator {
  if (!shared) {
    const require = createRequire(import.meta.url);
    const file = require.resolve('@octokit/openapi/generated/api.github.com.json');
    shared = new OpenApiValidator(JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument);
  }
  return shared;
}
