// Reading a pull request's facts through the forge: changed request files, reviews, pushers, live
// permissions and team memberships. Everything is re-read on every event, so a redelivered or
// out-of-order webhook decides on the current state, never on the payload's.
import { type CodeOwners, ownersOf } from '../core/codeowners.js';
import { parseRequest } from '../core/decide.js';
import type { ChangedRequestFile, Config, Permission, Policies, PullFacts } from '../core/model.js';
import { compileGlob } from '../core/policy.js';
import type { RepoSource } from '../repo/source.js';
import { unratifiedAlarms } from './break-glass-alarms.js';
import { type PathChange, type RequestChanges, requestChanges } from './changes.js';
import { type ApiCommit, type ApiReview, type KnownPush, pullFacts } from './facts.js';
import type { Forge, ForgeFile, ForgePull } from './forge.js';

export interface ChangedFiles extends RequestChanges {
  /** The forge listed fewer files than the PR changes: what else it changes is unknown. */
  truncated: boolean;
}

/** A forge's changed file as a path change. */
export function pathChange(f: ForgeFile): PathChange {
  const status =
    f.status === 'added' || f.status === 'removed' || f.status === 'renamed' || f.status === 'unchanged'
      ? f.status
      : 'modified';
  return { path: f.filename, status, ...(f.previous_filename ? { previous: f.previous_filename } : {}) };
}

/**
 * The request files among a PR's changed files, with their text (src/engine/changes.ts: a rename is a
 * removal of the old path and an addition of the new one, as `timebox check --base` sees it).
 */
export async function changedFiles(
  forge: Forge,
  base: RepoSource,
  config: Config,
  files: readonly ForgeFile[],
  expected?: number,
): Promise<ChangedFiles> {
  const blobs = new Map(files.map((f) => [f.filename, f.sha ?? null]));
  const changed = await requestChanges(files.map(pathChange), config, {
    before: (path) => base.read(path),
    after: async (c) => {
      const sha = blobs.get(c.path);
      if (!sha) throw new Error(`${c.path}: GitHub gave no blob for this file`);
      return forge.readBlob(sha, c.path);
    },
  });
  return { ...changed, truncated: expected !== undefined && expected > files.length };
}

/**
 * The resources the changed requests ask for, or null when one cannot be told (a removal, a file that does
 * not parse): then every rule may matter.
 */
export function requestedResources(
  files: readonly ChangedRequestFile[],
  config: Config,
): { resource: string; role: string }[] | null {
  const out: { resource: string; role: string }[] = [];
  for (const f of files) {
    if (f.status === 'removed' || f.content === undefined) return null;
    const request = parseRequest(f.path, f.content, config).request;
    if (typeof request?.resource !== 'string' || typeof request.role !== 'string') return null;
    out.push({ resource: request.resource, role: request.role });
  }
  return out;
}

/** Whether a changed request asks for `emergency: true` (then break-glass alarms matter to its decision). */
export function asksEmergency(files: readonly ChangedRequestFile[], config: Config): boolean {
  return files.some(
    (f) =>
      f.status !== 'removed' &&
      f.content !== undefined &&
      parseRequest(f.path, f.content, config).request?.emergency === true,
  );
}

/**
 * `@org/team` names that policies or the changed files' CODEOWNERS refer to (lower-case). Given what is
 * requested, only what the decision can look at (src/core/decide.ts selects rules by resource and role first):
 * everything of the rules matching a request's resource and role, and the requesters of the rules matching
 * its resource (named when no rule allows the role). No other team's members need reading.
 */
export function referencedTeams(
  policies: Policies,
  codeowners: CodeOwners | null,
  paths: string[],
  requested: readonly { resource: string; role: string }[] | null = null,
): string[] {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (typeof v === 'string') {
      if (/^@[^/\s]+\/[^/\s]+$/.test(v)) out.add(v.toLowerCase());
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object') Object.values(v).forEach(visit);
  };
  const matches = (patterns: readonly string[] | null, value: string) =>
    patterns === null || patterns.some((p) => compileGlob(p).test(value));
  for (const rule of policies.rules) {
    if (requested === null) visit(rule);
    else if (requested.some((q) => matches(rule.resources, q.resource) && matches(rule.roles, q.role)))
      visit(rule);
    else if (requested.some((q) => matches(rule.resources, q.resource))) visit(rule.requesters);
  }
  for (const p of paths) for (const o of ownersOf(codeowners, p).owners) visit(o);
  return [...out].sort();
}

export interface FactsProblem {
  message: string;
}

export interface GatherOptions {
  /** The push of the `synchronize` delivery being handled: the forge's activity log may not show it yet. */
  latestPush?: KnownPush;
  /** Timebox's own login (`<slug>[bot]`): its pushes are known, and its alarm issues. */
  ownBot?: string;
  /**
   * Whether a changed request asks for `emergency: true`: only then do open break-glass alarms matter
   * (`PullFacts.unratifiedAlarms`). Not given: they are read.
   */
  emergency?: boolean | Promise<boolean>;
}

/** What to do when who pushed is unknown, said with the reason on the pull request. */
export function pushersRemedy(unknown: string): string {
  return `who pushed to this pull request is unknown: ${unknown}. No approval counts. If the push was made just now, the next event (a review, an edit) decides again; otherwise push the changes yourself to a new branch and open a new pull request from it.`;
}

/** Reviews, pushers, live permissions of the approvers and members of the referenced teams. */
export async function gatherFacts(
  forge: Forge,
  pull: ForgePull,
  /** May still be coming (it needs the policies): reviews and commits are read meanwhile. */
  teamNames: string[] | Promise<string[]>,
  options: GatherOptions = {},
): Promise<{ facts: PullFacts; problems: FactsProblem[] }> {
  const problems: FactsProblem[] = [];
  const [reviews, commits, pushed, alarms] = await Promise.all([
    forge.reviews(pull.number),
    forge.commits(pull.number),
    forge.pushers(pull, options),
    alarmsOf(forge, pull, options),
  ]);
  problems.push(...alarms.problems.map((message) => ({ message })));
  // GitHub lists at most 250 commits: the identities of the others are unknown, so nobody's approval can count.
  if (pushed.unknown) problems.push({ message: pushersRemedy(pushed.unknown) });
  if ((pull.commits ?? 0) > commits.length) {
    problems.push({
      message: `the pull request has ${pull.commits} commits and GitHub lists ${commits.length}; who authored the others is unknown, so no approval counts (squash it)`,
    });
    pushed.unknown ??= `GitHub lists ${commits.length} of its ${pull.commits} commits`;
  }
  // Only people who approved can need write access; everyone else's permission does not matter.
  const approvers = new Set<string>();
  for (const r of reviews) {
    if (r.state === 'APPROVED' && r.user && r.user.type !== 'Bot') approvers.add(r.user.login);
  }
  const permissions: Record<string, Permission> = {};
  await Promise.all(
    [...approvers].map(async (login) => {
      try {
        permissions[login] = await forge.permission(login);
      } catch (err) {
        // Anything but "not a collaborator" is said, and fails closed too.
        permissions[login] = 'none';
        problems.push({ message: `could not read ${login}'s permission: ${(err as Error).message}` });
      }
    }),
  );
  const teams: Record<string, string[]> = {};
  await Promise.all(
    (await teamNames).map(async (name) => {
      // A team that does not exist (or cannot be read) approves nobody: fail closed, and say so.
      try {
        const members = await forge.teamMembers(name);
        if (members) teams[name] = members;
        else
          problems.push({
            message: `team ${name} does not exist or is not visible to Timebox; it approves nothing`,
          });
      } catch (err) {
        problems.push({
          message: `could not read the members of ${name} (${(err as Error).message}); it approves nothing`,
        });
      }
    }),
  );
  const facts = pullFacts({
    author: pull.user?.login ?? '',
    headSha: pull.head.sha,
    reviews: reviews as ApiReview[],
    commits: commits as ApiCommit[],
    pushed,
    permissions,
    teams,
  });
  return {
    facts: alarms.logins.length > 0 ? { ...facts, unratifiedAlarms: alarms.logins } : facts,
    problems,
  };
}

/** Requesters whose break-glass is locked by an alarm; unreadable alarms lock the author (fail closed). */
async function alarmsOf(
  forge: Forge,
  pull: ForgePull,
  options: GatherOptions,
): Promise<{ logins: string[]; problems: string[] }> {
  if ((await options.emergency) === false) return { logins: [], problems: [] };
  const who = pull.user?.login;
  try {
    return await unratifiedAlarms(forge, {
      ...(who ? { who } : {}),
      ...(options.ownBot ? { ownBot: options.ownBot } : {}),
      base: () => forge.source(pull.base.sha),
    });
  } catch (err) {
    return {
      logins: who ? [who] : [],
      problems: [
        `could not read the break-glass alarms (${(err as Error).message}); no emergency access is given until they can be read`,
      ],
    };
  }
}
