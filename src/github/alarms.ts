// `timebox-alarm` issues: what a person must look at (a refused push, a revocation that keeps failing).
// One open issue per title: raising an alarm that is already open adds nothing; clearing it comments and
// closes it.
import type { GitHub, RepoRef } from './client.js';

export const ALARM_LABEL = 'timebox-alarm';

export async function openAlarms(gh: GitHub, repo: RepoRef) {
  return gh.paginate('GET /repos/{owner}/{repo}/issues', {
    ...repo,
    state: 'open',
    labels: ALARM_LABEL,
    per_page: 100,
  });
}

/** Opens the alarm unless one with the same title is open; returns the new issue's number, or null. */
export async function raiseAlarmIssue(
  gh: GitHub,
  repo: RepoRef,
  title: string,
  body: string,
): Promise<number | null> {
  if ((await openAlarms(gh, repo)).some((i) => i.title === title)) return null;
  const { data } = await gh.request('POST /repos/{owner}/{repo}/issues', {
    ...repo,
    title,
    body,
    labels: [ALARM_LABEL],
  });
  return data.number;
}

/** Closes the open alarm with this title (if any) with a comment saying why; returns its number, or null. */
export async function clearAlarmIssue(
  gh: GitHub,
  repo: RepoRef,
  title: string,
  comment: string,
): Promise<number | null> {
  const issue = (await openAlarms(gh, repo)).find((i) => i.title === title);
  if (!issue) return null;
  await gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
    ...repo,
    issue_number: issue.number,
    body: comment,
  });
  await gh.request('PATCH /repos/{owner}/{repo}/issues/{issue_number}', {
    ...repo,
    issue_number: issue.number,
    state: 'closed',
    state_reason: 'completed',
  });
  return issue.number;
}
