// The pure decision function (SPEC "Decisions"): facts, policies and a time in; decisions out.
// No fs, no git, no network, no clock.
import { approvalReport, countApprovals, lower, onCallFills, principalSet } from './approvals.js';
import { type CodeOwners, ownersOf } from './codeowners.js';
import { formatDuration, parseDuration } from './duration.js';
import { describeHours, describeWallClock, withinHours } from './hours.js';
import type {
  AccessRequest,
  ApprovalReport,
  ChangedRequestFile,
  Config,
  Decision,
  Policies,
  PullFacts,
  ReadRequest,
  Reason,
  Rule,
  Window,
} from './model.js';
import { rulesFor, rulesForRole } from './policy.js';
import { editDistance, validateSchema } from './schemas.js';
import { formatTimestamp, MAX_TIME_MS, MIN_TIME_MS, parseTimestamp } from './time.js';
import { type FileError, loadYaml } from './yaml-loader.js';

export interface CheckInput {
  files: ChangedRequestFile[];
  /** Every path the pull request changes, for the "review policy and requests separately" rule. */
  changedPaths: string[];
  pull: PullFacts;
  policies: Policies;
  codeowners: CodeOwners | null;
  config: Config;
  at: Date;
}

/** Built-in rules, named like policy rules so that every reason names the rule that gives it. */
export const BUILTIN = {
  separateReview: 'timebox/separate-review',
  noAllowRule: 'timebox/no-allow-rule',
  codeowners: 'timebox/codeowners',
  earlyRevocation: 'timebox/early-revocation',
  breakGlassAlarm: 'timebox/break-glass-alarm',
} as const;

export function isRequestPath(path: string, config: Config): boolean {
  return path.startsWith(`${config.paths.requests}/`);
}

/**
 * Files whose change must be reviewed on its own, never together with requests: everything outside the
 * requests folder. Policies, schemas, CODEOWNERS, the teams file, workflows — and, where the access repo
 * runs its own copy of Timebox (`uses: ./`), `bin/`, `src/`, `package.json` and the lockfile — all decide
 * how a request is judged; an allow-list of "harmless" paths would miss the next one.
 */
function isGovernancePath(path: string, config: Config): boolean {
  return !isRequestPath(path, config);
}

/** Plain relative paths only: no `.` or `..` segments, no empty segments, no backslashes or control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses
const SAFE_PATH = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))(?!.*\/\/)[^\\\u0000-\u001f\u007f]+$/;

export interface ParsedRequest {
  request: ReadRequest | null;
  errors: FileError[];
  locate: (path: readonly (string | number)[]) => { line: number; column: number };
}

/** Read one request file: hardened YAML, then the request schema. Never throws. */
export function parseRequest(path: string, text: string, config: Config): ParsedRequest {
  const loaded = loadYaml(text, { scalars: 'strings' });
  const errors = [...loaded.errors];
  if (!isRequestPath(path, config) || !path.endsWith('.yaml') || !SAFE_PATH.test(path)) {
    errors.unshift({
      line: 1,
      column: 1,
      path: '$',
      message: `request files must be named ${config.paths.requests}/**/*.yaml (got ${path})`,
    });
  }
  if (loaded.errors.length === 0) errors.push(...validateSchema('request', loaded.value, loaded));
  // `emergency` is read as written (`true`, `false`: the schema allows no other) and kept as a boolean.
  let request: ReadRequest | null = null;
  if (errors.length === 0) {
    const { emergency, ...fields } = loaded.value as AccessRequest & { emergency?: string };
    request = emergency === undefined ? fields : { ...fields, emergency: emergency === 'true' };
  }
  return { request, errors, locate: loaded.locate };
}

export function decideAll(input: CheckInput): Decision[] {
  const members = memberships(input.pull.teams);
  const mixed = input.changedPaths.filter((p) => isGovernancePath(p, input.config));
  return input.files.map((file) => {
    const decision =
      file.status === 'removed'
        ? decideRemoval(file, input)
        : decideRequest(file.path, file.content ?? '', input, members);
    if (mixed.length > 0 && decision.status !== 'invalid') {
      return {
        ...decision,
        status: 'denied',
        rule: BUILTIN.separateReview,
        reasons: [
          {
            rule: BUILTIN.separateReview,
            message: `this pull request also changes ${mixed.slice(0, 3).join(', ')}${mixed.length > 3 ? ', …' : ''}; policy and access changes must be reviewed in separate pull requests`,
          },
        ],
      };
    }
    return decision;
  });
}

export type RequestWindow =
  | { ok: true; startsMs: number; expiresMs: number }
  | { ok: false; field: 'start' | 'until' | 'duration'; message: string };

/**
 * The access window if the request were merged at `atMs`: `starts_at = max(merge, start)`, `expires_at =
 * starts_at + duration` (or `until`). The one rule the decision and the ledger share, so a request is never
 * approved with a window the ledger then cannot read (and silently never provisions). Every instant in an
 * `ok` window is one `formatTimestamp` writes (a four-digit year); anything else is an error on its field.
 */
export function requestWindow(request: AccessRequest, atMs: number): RequestWindow {
  if (!(atMs >= MIN_TIME_MS && atMs <= MAX_TIME_MS)) {
    return { ok: false, field: 'start', message: 'the time of the merge is not one Timebox can record' };
  }
  const start = request.start === undefined ? atMs : parseTimestamp(request.start);
  if (start === null) return { ok: false, field: 'start', message: TIME_ERROR };
  const startsMs = Math.max(start, atMs);
  if (!(startsMs >= MIN_TIME_MS && startsMs <= MAX_TIME_MS)) {
    return { ok: false, field: 'start', message: 'access would start outside the years 0001 to 9999' };
  }
  let expiresMs: number;
  if (request.until !== undefined) {
    const until = parseTimestamp(request.until);
    if (until === null) return { ok: false, field: 'until', message: TIME_ERROR };
    if (until <= startsMs) {
      return {
        ok: false,
        field: 'until',
        message: `must be later than the start of access (${iso(startsMs)})`,
      };
    }
    expiresMs = until;
  } else {
    const length = parseDuration(request.duration ?? '');
    if (length === null) return { ok: false, field: 'duration', message: 'must be a duration such as 2h' };
    if (length === 0) return { ok: false, field: 'duration', message: 'must be longer than 0' };
    expiresMs = startsMs + length;
  }
  if (!(expiresMs <= MAX_TIME_MS)) {
    return {
      ok: false,
      field: request.until !== undefined ? 'until' : 'duration',
      message: `access would end after ${iso(MAX_TIME_MS)}, the latest time Timebox can record`,
    };
  }
  return { ok: true, startsMs, expiresMs };
}

/** The window's two ends as written, unchecked (Invalid Date for a time that is not one): see requestWindow. */
export function windowOf(request: AccessRequest, at: Date): { startsAt: Date; expiresAt: Date } {
  const start = request.start === undefined ? at.getTime() : (parseTimestamp(request.start) ?? Number.NaN);
  const startsMs = Math.max(start, at.getTime());
  const expiresMs =
    request.until !== undefined
      ? (parseTimestamp(request.until) ?? Number.NaN)
      : startsMs + (parseDuration(request.duration ?? '') ?? Number.NaN);
  return { startsAt: new Date(startsMs), expiresAt: new Date(expiresMs) };
}

const TIME_ERROR = 'must be an RFC 3339 time with a time zone, such as 2026-12-01T09:00:00Z';
/** Whole seconds, as messages and check runs show windows; only for instants already known to be in range. */
const iso = (ms: number) => (formatTimestamp(ms) ?? String(ms)).replace(/\.\d{3}Z$/, 'Z');

export function decideRequest(
  path: string,
  text: string,
  input: CheckInput,
  members: Memberships = memberships(input.pull.teams),
): Decision {
  const parsed = parseRequest(path, text, input.config);
  const base: Decision = {
    file: path,
    status: 'invalid',
    change: 'added',
    request: parsed.request,
    rule: null,
    errors: parsed.errors,
    reasons: [],
    approvals: null,
    window: null,
  };
  const request = parsed.request;
  if (!request) return base;

  // Semantic checks that a schema cannot express: known resource and role, a non-empty window.
  const errors: FileError[] = [];
  const at = (key: keyof AccessRequest, message: string) =>
    errors.push({ ...parsed.locate([key]), path: `$.${key}`, message });
  const resource = input.policies.resources.get(request.resource);
  if (!resource) {
    at(
      'resource',
      `unknown resource \`${request.resource}\`${suggest(request.resource, [...input.policies.resources.keys()])}`,
    );
  } else if (!Object.hasOwn(resource.roles, request.role)) {
    at(
      'role',
      `resource \`${resource.id}\` has no role \`${request.role}\` (roles: ${Object.keys(resource.roles).join(', ')})`,
    );
  }
  const w = requestWindow(request, input.at.getTime());
  if (!w.ok) at(w.field, w.message);
  if (errors.length > 0 || !w.ok) return { ...base, errors };

  const startsAt = new Date(w.startsMs);
  const expiresAt = new Date(w.expiresMs);
  const window: Window = { starts_at: iso(w.startsMs), expires_at: iso(w.expiresMs) };
  const decided = { ...base, window };
  const requester = request.requester;
  const author = input.pull.author ?? requester;
  // rulesForRole already selected rules by resource and role: only the requester is left to check.
  const matches = (rule: Rule) => members(rule.requesters).has(request.requester);
  const candidates = rulesForRole(input.policies, request.resource, request.role).filter(matches);

  const denies = candidates.filter((r) => r.effect === 'deny');
  if (denies.length > 0) {
    return {
      ...decided,
      status: 'denied',
      rule: (denies[0] as Rule).name,
      reasons: denies.map((r) => ({
        rule: r.name,
        message: r.message ?? `${request.resource}/${request.role} is denied by policy`,
      })),
    };
  }
  const allows = candidates.filter((r) => r.effect === 'allow');
  if (allows.length === 0) {
    const unknown = unknownMembership(request, input, author, startsAt, expiresAt);
    if (unknown.met) {
      // Unknown is not a denial: the requester may be a member. The unknown team still approves nobody.
      const report = reportFor(input, unknown.met, requester, ownersOf(input.codeowners, path).owners);
      return {
        ...decided,
        status: 'pending',
        rule: unknown.met.name,
        reasons: [{ rule: unknown.met.name, message: unknown.message }],
        approvals: { ...report, satisfied: false },
      };
    }
    return {
      ...decided,
      status: 'denied',
      reasons: [
        { rule: BUILTIN.noAllowRule, message: noAllowMessage(request, input) },
        ...unknown.violations,
      ],
    };
  }

  const violations: Reason[] = [];
  const met: Rule[] = [];
  for (const rule of allows) {
    const v = violationsOf(rule, request, author, startsAt, expiresAt);
    if (v.length === 0) met.push(rule);
    else violations.push(...v.map((message) => ({ rule: rule.name, message })));
  }
  if (met.length === 0) return { ...decided, status: 'denied', reasons: violations };

  const owners = ownersOf(input.codeowners, path).owners;
  const reports = met.map((rule) => ({ rule, report: reportFor(input, rule, requester, owners) }));
  const approve = (rule: Rule, approvals: ApprovalReport, extra: Partial<Decision> = {}) =>
    approveUnlessMaybeDenied(decided, input, request, rule, approvals, extra);
  const done = reports.find((r) => r.report.satisfied);
  if (done) return approve(done.rule, done.report);
  const glass = request.emergency ? reports.find((r) => r.rule.breakGlass) : undefined;
  if (glass) return breakGlass(decided, input, request, glass.rule, glass.report);

  // Pending: report the rule closest to being met (fewest approvals missing), policy order on ties.
  const missing = (r: (typeof reports)[number]) =>
    r.report.steps.reduce((n, s) => n + (s.filled ? 0 : Math.max(0, s.count - s.approvers.length)), 0) +
    (r.report.codeowners.satisfied ? 0 : 1);
  const best = [...reports].sort((a, b) => missing(a) - missing(b))[0] as (typeof reports)[number];
  const reasons: Reason[] = best.report.steps
    .filter((s) => !s.filled && s.approvers.length < s.count)
    .map((s) => ({
      rule: best.rule.name,
      message: `needs ${s.count - s.approvers.length} more approval${s.count - s.approvers.length === 1 ? '' : 's'} from ${s.from.join(', ')}`,
    }));
  if (!best.report.codeowners.satisfied) {
    reasons.push({
      rule: BUILTIN.codeowners,
      message: `needs an approval from a code owner of ${path}: ${owners.join(', ')}`,
    });
  }
  return { ...decided, status: 'pending', rule: best.rule.name, reasons, approvals: best.report };
}

/** Approved, unless a deny rule might match through a team whose membership is unknown: then pending. */
function approveUnlessMaybeDenied(
  decided: Decision,
  input: CheckInput,
  request: ReadRequest,
  rule: Rule,
  approvals: ApprovalReport,
  extra: Partial<Decision>,
): Decision {
  const maybe = rulesForRole(input.policies, request.resource, request.role).find(
    (r) => r.effect === 'deny' && unknownTeamsOf(r, input.pull.teams).length > 0,
  );
  if (!maybe) return { ...decided, status: 'approved', rule: rule.name, approvals, ...extra };
  return {
    ...decided,
    status: 'pending',
    rule: rule.name,
    approvals: { ...approvals, satisfied: false },
    reasons: [
      {
        rule: maybe.name,
        message: `membership of ${unknownTeamsOf(maybe, input.pull.teams).join(', ')} is unknown, so whether this deny rule applies to ${request.requester} is not known yet (offline, pass --teams FILE)`,
      },
    ],
  };
}

/**
 * Break-glass (SPEC "Break-glass"): an emergency under a met rule with `break_glass` is approved now, and
 * the approvals it lacks must ratify it after the merge, by `ratify_by`. The file's CODEOWNERS are part of
 * that ratification, not a condition now (docs/decisions.md). A requester with an open alarm gets none.
 */
function breakGlass(
  decided: Decision,
  input: CheckInput,
  request: ReadRequest,
  rule: Rule,
  report: ApprovalReport,
): Decision {
  const requester = request.requester;
  if ((input.pull.unratifiedAlarms ?? []).some((l) => lower(l) === lower(requester))) {
    return {
      ...decided,
      status: 'denied',
      rule: BUILTIN.breakGlassAlarm,
      reasons: [
        {
          rule: BUILTIN.breakGlassAlarm,
          message: `${requester} has an unratified break-glass access whose \`timebox-alarm\` issue is still open; no emergency access until a code owner of ${input.config.paths.policies}/ closes it (without \`emergency: true\`, the request waits for its approvals as usual)`,
        },
      ],
    };
  }
  const { maxDuration, ratifyWithin } = rule.breakGlass as NonNullable<Rule['breakGlass']>;
  const by = Math.min(MAX_TIME_MS, input.at.getTime() + (parseDuration(ratifyWithin) ?? 0));
  return approveUnlessMaybeDenied(decided, input, request, rule, report, {
    break_glass: {
      rule: rule.name,
      max_duration: maxDuration,
      ratify_within: ratifyWithin,
      ratify_by: iso(by),
      ratification: report,
    },
  });
}

/**
 * Approval reports depend only on the PR facts, the rule, the requester, the owners and (for `on_call`
 * steps, whose schedules come with the rule's policies) the decision time: share them.
 */
const reportCache = new WeakMap<PullFacts, WeakMap<Rule, Map<string, ApprovalReport>>>();
function reportFor(input: CheckInput, rule: Rule, requester: string, owners: string[]): ApprovalReport {
  const pull = input.pull;
  let byRule = reportCache.get(pull);
  if (!byRule) {
    byRule = new WeakMap();
    reportCache.set(pull, byRule);
  }
  let byKey = byRule.get(rule);
  if (!byKey) {
    byKey = new Map();
    byRule.set(rule, byKey);
  }
  const onCall = rule.approvals.some((s) => s.onCall !== undefined);
  const key = `${lower(requester)}\u0000${owners.join('\u0000')}${onCall ? `\u0000${input.at.getTime()}` : ''}`;
  let report = byKey.get(key);
  if (!report) {
    const fills = onCall ? onCallFills(rule.approvals, input.policies.schedules, requester, input.at) : [];
    report = approvalReport(
      rule.approvals,
      owners,
      countApprovals(pull, [requester]),
      pull.teams,
      [requester],
      fills,
    );
    byKey.set(key, report);
  }
  return report;
}

function decideRemoval(file: ChangedRequestFile, input: CheckInput): Decision {
  const previous = file.previous
    ? parseRequest(file.path, file.previous.content, input.config).request
    : null;
  const author = input.pull.author ? lower(input.pull.author) : null;
  const base: Decision = {
    file: file.path,
    status: 'approved',
    change: 'removed',
    request: previous,
    rule: BUILTIN.earlyRevocation,
    errors: [],
    reasons: [],
    approvals: null,
    window: null,
  };
  const privileged = new Set(
    [previous?.requester, ...(file.previous?.approvers ?? [])].filter(Boolean).map((l) => lower(l as string)),
  );
  if (author === null || privileged.has(author)) {
    return {
      ...base,
      reasons: [
        {
          rule: BUILTIN.earlyRevocation,
          message: 'removing access early needs no approval from its requester or approvers',
        },
      ],
    };
  }
  const exclude = input.pull.author ? [input.pull.author] : [];
  const counted = countApprovals(input.pull, exclude);
  const report = approvalReport([{ from: ['*'], count: 1 }], [], counted, input.pull.teams, exclude);
  if (report.satisfied) return { ...base, approvals: report };
  return {
    ...base,
    status: 'pending',
    approvals: report,
    reasons: [
      {
        rule: BUILTIN.earlyRevocation,
        message: `${input.pull.author} is neither the requester nor an approver of this access, so one approval from anyone with write access is needed`,
      },
    ],
  };
}

/**
 * `principalSet` of a principal list, built once per list: within one `decideAll` call the teams and the
 * rules do not change, so every request can share them (10,000 requests would otherwise rebuild the same
 * team sets for every candidate rule).
 */
export type Memberships = (from: readonly string[]) => ReturnType<typeof principalSet>;

function memberships(teams: PullFacts['teams']): Memberships {
  const built = new Map<readonly string[], ReturnType<typeof principalSet>>();
  return (from) => {
    let set = built.get(from);
    if (!set) {
      set = principalSet(from, teams);
      built.set(from, set);
    }
    return set;
  };
}

function violationsOf(
  rule: Rule,
  request: ReadRequest,
  author: string,
  startsAt: Date,
  expiresAt: Date,
): string[] {
  const out: string[] = [];
  if (lower(author) !== lower(request.requester)) {
    out.push(
      `the pull request was opened by ${author}, but only the requester (${request.requester}) may ask for access`,
    );
  }
  const length = expiresAt.getTime() - startsAt.getTime();
  const max = rule.maxDuration ? parseDuration(rule.maxDuration) : null;
  if (max !== null && length > max) {
    out.push(`allows at most ${rule.maxDuration}; this request is for ${formatDuration(length)}`);
  }
  const glass = request.emergency ? rule.breakGlass : undefined;
  const glassMax = glass ? parseDuration(glass.maxDuration) : null;
  if (glass && glassMax !== null && length > glassMax) {
    out.push(
      `allows emergency (break-glass) access for at most ${glass.maxDuration}; this request is for ${formatDuration(length)}`,
    );
  }
  if (rule.requireTicket && !request.ticket) out.push('requires a `ticket`');
  if (rule.hours && !withinHours(rule.hours, startsAt, expiresAt)) {
    out.push(
      `allows access only within office hours (${describeHours(rule.hours)}); this window is ${describeWallClock(startsAt, rule.hours.tz)} to ${describeWallClock(expiresAt, rule.hours.tz)}`,
    );
  }
  return out;
}

const isTeam = (p: string) => p.startsWith('@') && p.includes('/');
const unknownTeamsOf = (rule: Rule, teams: PullFacts['teams']) =>
  rule.requesters.filter((p) => isTeam(p) && !(lower(p) in teams));

/**
 * Allow rules for this resource and role that name the requester only through teams whose membership the
 * facts do not know (offline without `--teams`, or a team GitHub would not show). `met` is the first of them
 * that nothing else violates: membership is then the only thing missing, and the request is pending on it.
 */
function unknownMembership(
  request: AccessRequest,
  input: CheckInput,
  author: string,
  startsAt: Date,
  expiresAt: Date,
): { met: Rule | null; message: string; violations: Reason[] } {
  const rules = rulesForRole(input.policies, request.resource, request.role).filter(
    (r) => r.effect === 'allow' && r.requesters.some((p) => isTeam(p) && !(lower(p) in input.pull.teams)),
  );
  const violations: Reason[] = [];
  for (const rule of rules) {
    const v = violationsOf(rule, request, author, startsAt, expiresAt);
    if (v.length === 0) {
      const teams = rule.requesters.filter((p) => isTeam(p) && !(lower(p) in input.pull.teams));
      return {
        met: rule,
        violations: [],
        message: `membership of ${teams.join(', ')} is unknown, so whether ${request.requester} may ask is not known yet (offline, pass --teams FILE); an unknown team approves nobody`,
      };
    }
    violations.push(...v.map((message) => ({ rule: rule.name, message })));
  }
  return { met: null, message: '', violations };
}

function noAllowMessage(request: AccessRequest, input: CheckInput): string {
  const unknownTeams = new Set<string>();
  for (const rule of rulesFor(input.policies, request.resource)) {
    for (const p of rule.requesters)
      if (p.startsWith('@') && !(lower(p) in input.pull.teams)) unknownTeams.add(p);
  }
  const hint =
    unknownTeams.size > 0
      ? ` (membership of ${[...unknownTeams].join(', ')} is unknown; offline, pass --teams FILE)`
      : '';
  return `no allow rule lets ${request.requester} have ${request.role} on ${request.resource}${hint}`;
}

function suggest(value: string, known: string[]): string {
  const close = known
    .filter((k) => k.includes(value) || value.includes(k) || editDistance(k, value) <= 2)
    .slice(0, 3);
  return close.length > 0 ? ` (did you mean ${close.map((c) => `\`${c}\``).join(' or ')}?)` : '';
}
