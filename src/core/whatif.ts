// `timebox whatif`: replay every request the history holds (and the open ones) under two sets of policies and
// say which decisions change. Pure: history commits, texts and policies in; versions, decisions and the
// comparison out. Reading git and the working tree is the CLI's job (src/cli/whatif.ts).
import { type CodeOwners, ownersOf } from './codeowners.js';
import { decideRequest, isRequestPath } from './decide.js';
import { actorOf, type HistoryCommit, TRAILERS } from './ledger.js';
import type { Config, Decision, Policies, PullFacts, Rule, Status } from './model.js';
import { rulesForRole } from './policy.js';
import { type TrailerTrust, timeboxTrailerKeys, untrustedReasons } from './trust.js';

/** One version of a request file to decide: as merged at a commit of the history, or open (working tree). */
export interface RequestVersion {
  file: string;
  /** The commit that brought this version onto the branch; null for an open request. */
  commit: string | null;
  /** The open pull request that proposes it (the App's and Actions' policy-change check); absent otherwise. */
  pull?: number;
  /** When it is decided (RFC 3339): its merge time (the ledger's commit time), or `--at` for open requests. */
  at: string;
  text: string;
  /** Who opened its pull request: `Timebox-Requested-By` on Timebox's own merge; else the requester. */
  author?: string;
  /** `Timebox-Approved-By` on Timebox's own merge commit; never from a commit Timebox did not make. */
  approvers: string[];
}

/** The policies, CODEOWNERS and settings one side decides with (the base's, or the working tree's). */
export interface PolicySide {
  policies: Policies;
  codeowners: CodeOwners | null;
  config: Config;
}

export interface Decided {
  version: RequestVersion;
  decision: Decision;
}

export interface WhatifReason {
  /** The rule that gives it (a policy rule or a built-in `timebox/…`); null for a file error. */
  rule: string | null;
  message: string;
}

export interface WhatifChange {
  file: string;
  /** The merge commit of this version; null for an open request. */
  commit: string | null;
  /** The open pull request that proposes it, when known. */
  pull?: number;
  /** When it was decided. */
  at: string;
  before: Status;
  after: Status;
  rule_before: string | null;
  rule_after: string | null;
  /** Why it is decided as it is now: the proposed decision's reasons (or the rule that approves it). */
  reasons: WhatifReason[];
}

export interface WhatifResult {
  changed: WhatifChange[];
  unchanged: number;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
const trailer = (c: HistoryCommit, key: string): string[] => c.trailers[key.toLowerCase()] ?? [];
const splitList = (values: string[]) =>
  values
    .flatMap((v) => v.split(/[\s,]+/))
    .map((s) => s.replace(/^@/, ''))
    .filter(Boolean);

/**
 * Every version of every request file on the branch (commits oldest first, as the history reader gives
 * them), each with its merge time and the approvals recorded in `Timebox-*` trailers. Trailers count only
 * in commits Timebox made, by the ledger's own rule (`untrustedReasons`, src/core/trust.ts): a person who
 * writes `Timebox-Approved-By: carol` into their own commit approves nothing. Times follow the ledger: a
 * commit dated before the one below it, or unreadably, is taken at that earlier commit's time.
 */
export function historyVersions(commits: readonly HistoryCommit[], config: Config): RequestVersion[] {
  const trust: TrailerTrust = {
    identities: config.audit?.timebox ?? [],
    keys: (config.audit?.signing_keys ?? []).length > 0,
  };
  const versions: RequestVersion[] = [];
  let lastMs = Number.NEGATIVE_INFINITY;
  for (const commit of commits) {
    let ms = Date.parse(commit.time);
    if (Number.isNaN(ms) || ms < lastMs) ms = lastMs;
    lastMs = ms;
    const trusted = timeboxTrailerKeys(commit).length > 0 && untrustedReasons(commit, trust).length === 0;
    const approvers = trusted ? splitList(trailer(commit, TRAILERS.approvedBy)).map(actorOf) : [];
    const requestedBy = trusted ? trailer(commit, TRAILERS.requestedBy)[0] : undefined;
    for (const change of commit.changes) {
      if (change.status === 'removed' || !isRequestPath(change.path, config)) continue;
      versions.push({
        file: change.path,
        commit: commit.sha,
        at: Number.isFinite(ms) ? iso(ms) : commit.time,
        text: change.content ?? '',
        ...(requestedBy ? { author: actorOf(requestedBy) } : {}),
        approvers,
      });
    }
  }
  return versions;
}

/** The request files on the branch at its tip, with their text (the last version of each that is not removed). */
export function branchFiles(commits: readonly HistoryCommit[], config: Config): Map<string, string> {
  const files = new Map<string, string>();
  for (const commit of commits) {
    for (const change of commit.changes) {
      if (!isRequestPath(change.path, config)) continue;
      if (change.status === 'removed') files.delete(change.path);
      else files.set(change.path, change.content ?? '');
    }
  }
  return files;
}

/**
 * The open requests: request files of the working tree whose text is not on the branch at that path (new
 * files, edits not merged yet, files written again after their removal). Decided at `at` without approvals,
 * opened by their requester. A file the branch holds as it is was replayed at its merge already.
 */
export function openVersions(
  files: readonly { path: string; text: string }[],
  onBranch: ReadonlyMap<string, string>,
  at: Date,
): RequestVersion[] {
  return files
    .filter((f) => onBranch.get(f.path) !== f.text)
    .map((f) => ({ file: f.path, commit: null, at: iso(at.getTime()), text: f.text, approvers: [] }));
}

/** The facts of a past pull request as the record keeps them: its author and the approvals that counted. */
function pullOf(version: RequestVersion, teams: PullFacts['teams']): PullFacts {
  return {
    ...(version.author ? { author: version.author } : {}),
    headSha: 'HEAD',
    reviews: version.approvers.map((login) => ({
      login,
      state: 'APPROVED',
      commitId: 'HEAD',
      submittedAt: version.at,
    })),
    pushers: [],
    permissions: Object.fromEntries(version.approvers.map((l) => [l.toLowerCase(), 'write'])),
    teams,
  };
}

/** Each version decided under one side's policies, at its own time, with its own recorded approvals. */
export function decideVersions(
  versions: readonly RequestVersion[],
  side: PolicySide,
  teams: PullFacts['teams'],
): Decided[] {
  return versions.map((version) => ({
    version,
    decision: decideRequest(version.file, version.text, {
      files: [],
      changedPaths: [],
      pull: pullOf(version, teams),
      policies: side.policies,
      codeowners: side.codeowners,
      config: side.config,
      at: new Date(version.at),
    }),
  }));
}

/**
 * Everything of one side that a decision of `resource`/`role` reads: the resource, the rules that cover the
 * role (in policy order, wherever they are written) and the on-call schedules their steps name. Two sides
 * with the same text here decide such a request alike (the same status; messages that list other rules or
 * resources may differ, and only the status is compared).
 */
function relevantTo(side: PolicySide, resource: string, role: string): string {
  const rules = rulesForRole(side.policies, resource, role);
  const schedules = rules.flatMap((r) =>
    r.approvals.flatMap((s) =>
      s.onCall ? [[s.onCall, side.policies.schedules?.get(s.onCall) ?? null]] : [],
    ),
  );
  const bare = ({ source: _, ...rest }: { source: unknown }) => rest;
  const res = side.policies.resources.get(resource);
  return JSON.stringify([res ? bare(res) : null, rules.map((r: Rule) => bare(r)), schedules]);
}

/**
 * Each version decided under `before` and under `after`, as two `decideVersions` would, but a version whose
 * decision reads nothing that differs between the sides (the same settings; the same resource, rules and
 * schedules for its resource and role; the same code owners of its file) is decided once: a policy change
 * usually touches a few rules, and deciding 100,000 versions twice is most of whatif's time. A version that
 * cannot be read as a request (YAML or schema errors) is invalid under any policies.
 */
export function decideBoth(
  versions: readonly RequestVersion[],
  before: PolicySide,
  after: PolicySide,
  teams: PullFacts['teams'],
): { before: Decided[]; after: Decided[] } {
  const was = decideVersions(versions, before, teams);
  if (JSON.stringify(before.config) !== JSON.stringify(after.config))
    return { before: was, after: decideVersions(versions, after, teams) };
  const same = new Map<string, boolean>();
  const sameFor = (resource: string, role: string) => {
    const key = `${resource}\u0000${role}`;
    let v = same.get(key);
    if (v === undefined) {
      v = relevantTo(before, resource, role) === relevantTo(after, resource, role);
      same.set(key, v);
    }
    return v;
  };
  const sameOwners = (file: string) =>
    ownersOf(before.codeowners, file).owners.join('\u0000') ===
    ownersOf(after.codeowners, file).owners.join('\u0000');
  const now = was.map((d) => {
    const r = d.decision.request;
    if (r === null || (sameFor(r.resource, r.role) && sameOwners(d.version.file))) return d;
    return decideVersions([d.version], after, teams)[0] as Decided;
  });
  return { before: was, after: now };
}

const keyOf = (v: RequestVersion) => `${v.file}\u0000${v.commit ?? ''}\u0000${v.pull ?? ''}`;

/** Why a decision is what it is, in a line or a few: its reasons, its file errors, or the rule approving it. */
function reasonsOf(d: Decision): WhatifReason[] {
  const out: WhatifReason[] = [
    ...d.errors.map((e) => ({ rule: null, message: `line ${e.line}: ${e.message}` })),
    ...d.reasons.map((r) => ({ rule: r.rule, message: r.message })),
  ];
  if (out.length === 0 && d.status === 'approved' && d.rule)
    out.push({ rule: d.rule, message: `approved by rule ${d.rule}` });
  return out;
}

/**
 * The decisions whose status differs between `before` and `after` (matched by file and commit), in the
 * order of `before`; every other pair counts as unchanged. Both sets must decide the same versions.
 */
export function compareDecisions(before: readonly Decided[], after: readonly Decided[]): WhatifResult {
  const next = new Map(after.map((d) => [keyOf(d.version), d.decision]));
  if (next.size !== after.length || before.length !== after.length)
    throw new Error('compareDecisions: both sets must decide the same versions, once each');
  const changed: WhatifChange[] = [];
  for (const { version, decision: was } of before) {
    const now = next.get(keyOf(version));
    if (!now) throw new Error(`compareDecisions: ${version.file}@${version.commit} is decided only before`);
    if (now.status === was.status) continue;
    changed.push({
      file: version.file,
      commit: version.commit,
      ...(version.pull !== undefined ? { pull: version.pull } : {}),
      at: version.at,
      before: was.status,
      after: now.status,
      rule_before: was.rule,
      rule_after: now.rule,
      reasons: reasonsOf(now),
    });
  }
  return { changed, unchanged: before.length - changed.length };
}
