// Who has an unratified break-glass alarm (SPEC "Break-glass"): a requester whose `timebox-alarm` issue for an
// unratified access is open gets no emergency access until a code owner of `policies/` closes it. The
// decision reads `PullFacts.unratifiedAlarms`; this gathers it from the forge before deciding.
//
// Only Timebox's own issues count (anyone who may label an issue could otherwise lock someone out), and an
// alarm closed by anyone but a code owner of the policies still counts as open: closing it is the release.
import { type CodeOwners, findCodeOwners, ownersOf } from '../core/codeowners.js';
import { loadConfig } from '../repo/access-repo.js';
import type { RepoSource } from '../repo/source.js';
import type { Forge, ForgeIssue, ForgeUser } from './forge.js';
import { ALARM_LABEL } from './notices/markers.js';
import { unratifiedLogin } from './notices/render.js';

const lower = (s: string) => s.toLowerCase();

/** Whether the issue was opened by Timebox (`ownBot`, or any bot when Timebox's login is not known). */
function isTimeboxIssue(issue: ForgeIssue, ownBot: string | undefined): boolean {
  const user = issue.user;
  if (!user) return false;
  if (ownBot) return lower(user.login) === lower(ownBot);
  return user.type === 'Bot';
}

/** The logins (any case) that may release an alarm: code owners of the policy files, teams expanded. */
export async function policyOwners(
  forge: Forge,
  source: RepoSource,
): Promise<{ logins: Set<string>; problems: string[] }> {
  const problems: string[] = [];
  const { config } = await loadConfig(source);
  const dir = config.paths.policies;
  const files = (await source.list(dir)).filter((p) => /^[^/]+\.ya?ml$/.test(p.slice(dir.length + 1)));
  const codeowners: CodeOwners | null = await findCodeOwners((path) => source.read(path));
  const owners = new Set<string>();
  for (const f of files.length > 0 ? files : [`${dir}/`])
    for (const o of ownersOf(codeowners, f).owners) owners.add(lower(o));
  const logins = new Set<string>();
  await Promise.all(
    [...owners].map(async (o) => {
      if (!o.startsWith('@')) return; // an e-mail owner names no login
      if (!o.includes('/')) {
        logins.add(o.slice(1));
        return;
      }
      try {
        const members = await forge.teamMembers(o);
        if (members) for (const m of members) logins.add(lower(m));
        else problems.push(`team ${o} (a code owner of ${dir}/) is not visible to Timebox`);
      } catch (err) {
        problems.push(`could not read the members of ${o}: ${(err as Error).message}`);
      }
    }),
  );
  return { logins, problems };
}

export interface AlarmFacts {
  /** Requesters (as their alarm names them) whose break-glass is locked. */
  logins: string[];
  problems: string[];
}

/**
 * The requesters with an unratified break-glass alarm still in force: Timebox's open alarms, and its closed
 * ones whose closer is not a code owner of the policies (read from `base`). Only `who` (the pull request's
 * author) is looked at when given: closers are read one issue at a time, for that person only.
 */
export async function unratifiedAlarms(
  forge: Forge,
  opts: { who?: string; ownBot?: string; base: () => RepoSource },
): Promise<AlarmFacts> {
  const problems: string[] = [];
  const issues = (await forge.labelledIssues(ALARM_LABEL)).flatMap((issue) => {
    const login = unratifiedLogin(issue.title);
    if (!login || !isTimeboxIssue(issue, opts.ownBot)) return [];
    if (opts.who !== undefined && lower(login) !== lower(opts.who)) return [];
    return [{ issue, login }];
  });
  const locked = new Set(issues.filter((x) => x.issue.state === 'open').map((x) => x.login));
  const closed = issues.filter((x) => x.issue.state === 'closed' && !locked.has(x.login));
  if (closed.length > 0) {
    const owners = await policyOwners(forge, opts.base());
    problems.push(...owners.problems);
    const closers = await Promise.all(
      closed.map((x) => forge.issueCloser(x.issue.number).catch((): ForgeUser | null => null)),
    );
    closed.forEach((x, i) => {
      const by = closers[i];
      if (by && owners.logins.has(lower(by.login))) return;
      locked.add(x.login);
      problems.push(
        `alarm #${x.issue.number} was closed by ${by?.login ?? 'someone unknown'}, not a code owner of the policies: ${x.login}'s break-glass stays locked`,
      );
    });
  }
  return { logins: [...locked].sort(), problems };
}
