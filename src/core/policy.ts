// Policy files: load, validate (shared schema, then each provider's own schemas), merge.
import type { ValidateFunction } from 'ajv';
import { Minimatch } from 'minimatch';
import { parseSchedule } from '../oncall/load.js';
import { parseDuration } from './duration.js';
import { isValidTimeZone } from './hours.js';
import type {
  FileProblem,
  HoursSpec,
  Policies,
  ProviderDefinition,
  Resource,
  Rule,
  Schedule,
  Weekday,
} from './model.js';
import { compileSchema, didYouMean, validateAgainst, validateSchema } from './schemas.js';
import { formatPath, type LoadedYaml, loadYaml } from './yaml-loader.js';

export interface SourceFile {
  path: string;
  text: string;
}

export interface PolicyLoad {
  policies: Policies;
  errors: FileProblem[];
  warnings: FileProblem[];
}

/** Policy files may be larger than requests; they are reviewed, but still parsed with the same hardening. */
const POLICY_MAX_BYTES = 1024 * 1024;

const COMMON_RESOURCE_KEYS = new Set(['provider', 'description', 'roles']);
const DENY_ONLY_FORBIDDEN = ['max_duration', 'require_ticket', 'hours', 'approvals', 'break_glass'] as const;

const providerValidators = new WeakMap<
  ProviderDefinition,
  { resource: ValidateFunction; role: ValidateFunction }
>();
function validatorsFor(p: ProviderDefinition) {
  let v = providerValidators.get(p);
  if (!v) {
    v = { resource: compileSchema(p.resourceSchema), role: compileSchema(p.roleSchema) };
    providerValidators.set(p, v);
  }
  return v;
}

/**
 * `scheduleFiles`: the on-call schedules (schedules/*.yaml) from the same source as `files`, so a step's
 * `on_call` is read from where the policies are (the base branch), never from a pull request's branch.
 */
export function loadPolicies(
  files: SourceFile[],
  providers: ReadonlyMap<string, ProviderDefinition>,
  scheduleFiles: readonly SourceFile[] = [],
): PolicyLoad {
  const resources = new Map<string, Resource>();
  const schedules = new ScheduleSet(scheduleFiles);
  /** Every resource id declared, valid or not (see the rule check below). */
  const declared = new Set<string>();
  const rules: Rule[] = [];
  const errors: FileProblem[] = [];
  const warnings: FileProblem[] = [];
  const ruleSources = new Map<string, string>();
  /** Where each rule's `resources` entries are written, for errors about names that match nothing. */
  const resourceAt = new Map<Rule, { line: number; column: number; path: string }[]>();

  for (const file of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const loaded = loadYaml(file.text, { scalars: 'core', maxBytes: POLICY_MAX_BYTES });
    const add = (list: FileProblem[], e: { line: number; column: number; path: string; message: string }) =>
      list.push({ file: file.path, ...e });
    const before = errors.length;
    for (const e of loaded.errors) add(errors, e);
    if (errors.length > before) continue;
    for (const e of validateSchema('policy', loaded.value, loaded)) add(errors, e);
    if (errors.length > before) continue;

    const doc = (loaded.value ?? {}) as { resources?: Record<string, RawResource>; rules?: RawRule[] };
    for (const [id, raw] of Object.entries(doc.resources ?? {})) {
      declared.add(id);
      const at = loaded.locateKey(['resources', id]);
      const existing = resources.get(id);
      if (existing) {
        add(errors, {
          ...at,
          path: `$.resources.${id}`,
          message: `resource \`${id}\` is already defined at ${existing.source.file}:${existing.source.line}`,
        });
        continue;
      }
      const resource = checkResource(id, raw, loaded, providers, (e) => add(errors, e));
      if (resource) resources.set(id, { ...resource, source: { file: file.path, line: at.line } });
    }
    (doc.rules ?? []).forEach((raw, index) => {
      const at = loaded.locate(['rules', index]);
      const previous = ruleSources.get(raw.name);
      if (previous) {
        add(errors, {
          ...loaded.locate(['rules', index, 'name']),
          path: `$.rules[${index}].name`,
          message: `rule name \`${raw.name}\` is already used at ${previous}`,
        });
        return;
      }
      ruleSources.set(raw.name, `${file.path}:${at.line}`);
      const rule = checkRule(raw, index, loaded, (e) => add(errors, e));
      if (rule) schedules.check(rule, index, loaded, file.path, errors);
      if (rule) {
        const pushed = { ...rule, source: { file: file.path, line: at.line } };
        rules.push(pushed);
        resourceAt.set(
          pushed,
          rule.resources.map((_, j) => ({
            ...loaded.locate(['rules', index, 'resources', j]),
            path: `$.rules[${index}].resources[${j}]`,
          })),
        );
      }
    });
  }

  // A rule naming a resource that does not exist is a mistake (a typo would silently grant nothing, or
  // deny nothing): an error, as is a rule that matches nothing at all. A glob matching nothing beside
  // patterns that do is fine (`admin-*` in a deny rule, before any admin system exists).
  // Resources that were declared but refused count as existing here: their own errors say what is wrong,
  // and a rule naming them is not a second mistake.
  const ids = [...declared];
  for (const rule of rules) {
    const matchesAny = rule.resources.some((p) => ids.some((id) => compileGlob(p).test(id)));
    rule.resources.forEach((pattern, j) => {
      if (ids.some((id) => compileGlob(pattern).test(id))) return;
      const at = resourceAt.get(rule)?.[j] ?? { line: rule.source.line, column: 1, path: '$.rules' };
      const literal = !/[*?[\]{}()!+@]/.test(pattern);
      const problem = {
        file: rule.source.file,
        ...at,
        message: literal
          ? `rule \`${rule.name}\` names resource \`${pattern}\`, which does not exist${didYouMean(pattern, ids) || (ids.length > 0 ? ` (resources: ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''})` : ' (no resources are defined)')}`
          : `rule \`${rule.name}\`: \`${pattern}\` matches no resource`,
      };
      if (literal || !matchesAny) errors.push(problem);
    });
  }
  return { policies: { resources, rules, schedules: schedules.loaded }, errors, warnings };
}

/**
 * The schedules steps name, each parsed once. A step naming a schedule that is missing or invalid is a
 * policy error at the step (and the schedule's own errors at its file:line): it would otherwise fill never,
 * or worse, for the wrong person.
 */
class ScheduleSet {
  readonly loaded = new Map<string, Schedule>();
  private readonly files: Map<string, string>;
  private readonly reported = new Set<string>();
  constructor(files: readonly SourceFile[]) {
    this.files = new Map(files.map((f) => [f.path, f.text]));
  }

  check(rule: Omit<Rule, 'source'>, index: number, loaded: LoadedYaml, file: string, errors: FileProblem[]) {
    rule.approvals.forEach((step, j) => {
      if (step.onCall === undefined) return;
      const keyPath = ['rules', index, 'approvals', j, 'on_call'];
      const at = { file, ...loaded.locate(keyPath), path: formatPath(keyPath) };
      const problem = this.load(step.onCall, errors);
      if (problem) errors.push({ ...at, message: problem });
    });
  }

  /** Why `path` cannot be used (null: it is loaded); a schedule's own errors are added once. */
  private load(path: string, errors: FileProblem[]): string | null {
    if (this.loaded.has(path)) return null;
    const text = this.files.get(path);
    if (text === undefined) {
      const known = [...this.files.keys()];
      return `on-call schedule \`${path}\` does not exist${didYouMean(path, known) || (known.length > 0 ? ` (schedules: ${known.slice(0, 10).join(', ')})` : '')}`;
    }
    const parsed = parseSchedule(path, text);
    if (parsed.schedule) {
      this.loaded.set(path, parsed.schedule);
      return null;
    }
    if (!this.reported.has(path)) errors.push(...parsed.errors);
    this.reported.add(path);
    const first = parsed.errors[0];
    return `on-call schedule \`${path}\` is invalid${first ? ` (${path}:${first.line}: ${first.message})` : ''}`;
  }
}

interface RawResource {
  provider: string;
  description?: string;
  roles: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

interface RawRule {
  name: string;
  effect?: 'allow' | 'deny';
  description?: string;
  requesters?: string[];
  resources: string[];
  roles?: string[];
  max_duration?: string;
  require_ticket?: boolean;
  hours?: { days?: Weekday[]; from: string; to: string; tz: string };
  approvals?: { from: string[]; count?: number; on_call?: string }[];
  break_glass?: { max_duration: string; ratify_within: string };
  message?: string;
}

type Report = (e: { line: number; column: number; path: string; message: string }) => void;

function checkResource(
  id: string,
  raw: RawResource,
  loaded: LoadedYaml,
  providers: ReadonlyMap<string, ProviderDefinition>,
  report: Report,
): Omit<Resource, 'source'> | null {
  const provider = providers.get(raw.provider);
  if (!provider) {
    report({
      ...loaded.locate(['resources', id, 'provider']),
      path: `$.resources.${id}.provider`,
      message: `unknown provider \`${raw.provider}\` (known: ${[...providers.keys()].join(', ')})`,
    });
    return null;
  }
  const settings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!COMMON_RESOURCE_KEYS.has(k)) settings[k] = v;
  const v = validatorsFor(provider);
  let ok = true;
  for (const e of validateAgainst(v.resource, settings, loaded, ['resources', id])) {
    ok = false;
    report({ ...e, message: `${e.message} (${provider.id} resource settings)` });
  }
  for (const [role, roleSettings] of Object.entries(raw.roles)) {
    const base = ['resources', id, 'roles', role];
    let roleOk = true;
    for (const e of validateAgainst(v.role, roleSettings, loaded, base)) {
      roleOk = false;
      report({ ...e, message: `${e.message} (${provider.id} role settings)` });
    }
    // What the schema cannot express (rights that reach Timebox's bookkeeping), once the shape is right.
    if (roleOk && provider.checkRole) {
      for (const p of provider.checkRole(roleSettings, settings)) {
        roleOk = false;
        const path = [...base, ...p.path];
        report({
          ...loaded.locate(path),
          path: formatPath(path),
          message: `${p.message} (${provider.id} role)`,
        });
      }
    }
    if (!roleOk) ok = false;
  }
  if (!ok) return null;
  return {
    id,
    provider: provider.id,
    ...(raw.description === undefined ? {} : { description: raw.description }),
    settings,
    roles: raw.roles,
  };
}

function checkRule(
  raw: RawRule,
  index: number,
  loaded: LoadedYaml,
  report: Report,
): Omit<Rule, 'source'> | null {
  const effect = raw.effect ?? 'allow';
  let ok = true;
  const fail = (key: string, message: string) => {
    ok = false;
    report({ ...loaded.locateKey(['rules', index, key]), path: `$.rules[${index}].${key}`, message });
  };
  if (effect === 'deny') {
    for (const key of DENY_ONLY_FORBIDDEN) {
      if (raw[key] !== undefined)
        fail(key, `\`${key}\` has no meaning on a deny rule (a deny rule always denies)`);
    }
  }
  if (raw.max_duration !== undefined && !(Number(parseDuration(raw.max_duration)) > 0)) {
    fail('max_duration', 'must be longer than 0');
  }
  for (const key of ['max_duration', 'ratify_within'] as const) {
    const value = raw.break_glass?.[key];
    if (value !== undefined && !(Number(parseDuration(value)) > 0)) {
      ok = false;
      const keyPath = ['rules', index, 'break_glass', key];
      report({ ...loaded.locate(keyPath), path: formatPath(keyPath), message: 'must be longer than 0' });
    }
  }
  let hours: HoursSpec | undefined;
  if (raw.hours) {
    if (!isValidTimeZone(raw.hours.tz))
      fail('hours', `unknown time zone \`${raw.hours.tz}\` (use an IANA name such as Europe/Berlin)`);
    if (raw.hours.from === raw.hours.to) fail('hours', '`from` and `to` must differ');
    hours = {
      days: raw.hours.days ?? ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      from: raw.hours.from,
      to: raw.hours.to,
      tz: raw.hours.tz,
    };
  }
  if (!ok) return null;
  return {
    name: raw.name,
    effect,
    ...(raw.description === undefined ? {} : { description: raw.description }),
    requesters: raw.requesters ?? ['*'],
    resources: raw.resources,
    roles: raw.roles ?? null,
    ...(raw.max_duration === undefined ? {} : { maxDuration: raw.max_duration }),
    requireTicket: raw.require_ticket ?? false,
    ...(hours ? { hours } : {}),
    approvals: (raw.approvals ?? []).map((s) => ({
      from: s.from,
      count: s.count ?? 1,
      ...(s.on_call === undefined ? {} : { onCall: s.on_call }),
    })),
    ...(raw.break_glass === undefined
      ? {}
      : {
          breakGlass: {
            maxDuration: raw.break_glass.max_duration,
            ratifyWithin: raw.break_glass.ratify_within,
          },
        }),
    ...(raw.message === undefined ? {} : { message: raw.message }),
  };
}

export interface Glob {
  test(id: string): boolean;
}

const globCache = new Map<string, Glob>();

/** Resource and role patterns are minimatch globs (ids contain no `/`); compiled once, results memoised. */
export function compileGlob(pattern: string): Glob {
  const cached = globCache.get(pattern);
  if (cached) return cached;
  const mm = new Minimatch(pattern, { dot: true, nonegate: true, nocomment: true });
  const seen = new Map<string, boolean>();
  const glob: Glob = {
    test(id) {
      let hit = seen.get(id);
      if (hit === undefined) {
        hit = mm.match(id);
        if (seen.size < 10_000) seen.set(id, hit);
      }
      return hit;
    },
  };
  globCache.set(pattern, glob);
  return glob;
}

// Which rules cover a resource and role: asked for every request, so compiled and memoised per policy set.

/** A rule's role and resource globs, compiled once per rule object. */
const compiledRules = new WeakMap<Rule, { roles: Glob[] | null; resources: Glob[] }>();
function compiled(rule: Rule) {
  let c = compiledRules.get(rule);
  if (!c) {
    c = {
      roles: rule.roles ? rule.roles.map(compileGlob) : null,
      resources: rule.resources.map(compileGlob),
    };
    compiledRules.set(rule, c);
  }
  return c;
}

/**
 * The literal start of a resource pattern (all of it when it has no glob syntax): an id it matches starts
 * with it. Patterns with a `/` (which no id has) or an escape start with nothing known.
 */
export function literalPrefix(pattern: string): string {
  if (pattern.includes('/')) return '';
  const magic = pattern.search(/[*?[\]{}()!+@\\]/);
  return magic === -1 ? pattern : pattern.slice(0, magic);
}

/** Per policy set: rule positions by the literal prefix of each of their resource patterns. */
const byPrefix = new WeakMap<Policies, Map<string, number[]>>();
function prefixIndex(policies: Policies): Map<string, number[]> {
  let index = byPrefix.get(policies);
  if (!index) {
    index = new Map();
    policies.rules.forEach((rule, i) => {
      for (const pattern of rule.resources) {
        const prefix = literalPrefix(pattern);
        const list = index?.get(prefix);
        if (!list) index?.set(prefix, [i]);
        else if (list.at(-1) !== i) list.push(i);
      }
    });
    byPrefix.set(policies, index);
  }
  return index;
}

/**
 * Rules whose resource patterns match a resource id, in policy order; memoised per policy set. Only the rules
 * with a pattern whose literal start begins the id are tested (a thousand rules, most for other resources).
 */
const index = new WeakMap<Policies, Map<string, Rule[]>>();
export function rulesFor(policies: Policies, resource: string): Rule[] {
  let byResource = index.get(policies);
  if (!byResource) {
    byResource = new Map();
    index.set(policies, byResource);
  }
  let rules = byResource.get(resource);
  if (!rules) {
    const prefixes = prefixIndex(policies);
    const candidates = new Set<number>();
    for (let k = 0; k <= resource.length; k++) {
      for (const i of prefixes.get(resource.slice(0, k)) ?? []) candidates.add(i);
    }
    rules = [...candidates]
      .sort((a, b) => a - b)
      .map((i) => policies.rules[i] as Rule)
      .filter((r) => compiled(r).resources.some((g) => g.test(resource)));
    byResource.set(resource, rules);
  }
  return rules;
}

/** Rules matching a resource and a role (requesters still to check), memoised per policy set. */
const roleIndex = new WeakMap<Policies, Map<string, Rule[]>>();
export function rulesForRole(policies: Policies, resource: string, role: string): Rule[] {
  let byKey = roleIndex.get(policies);
  if (!byKey) {
    byKey = new Map();
    roleIndex.set(policies, byKey);
  }
  const key = `${resource}\u0000${role}`;
  let rules = byKey.get(key);
  if (!rules) {
    rules = rulesFor(policies, resource).filter((r) => {
      const roles = compiled(r).roles;
      return !roles || roles.some((g) => g.test(role));
    });
    byKey.set(key, rules);
  }
  return rules;
}
