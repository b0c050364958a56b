// The first notifier: notices as comments on the pull request and `timebox-alarm` issues, over a Forge.
// Comments are found again by their marker and the one "ours" rule (./markers.ts); one open issue per title:
// raising an alarm that is already open adds nothing, clearing it comments (once, by marker) and closes it.
import type { Forge } from '../forge.js';
import { ALARM_CLOSED_MARKER, ALARM_LABEL, isOurs, ours } from './markers.js';
import type { Notice } from './notice.js';
import type { Delivery, Notifier } from './notifier.js';
import type { Rendered } from './render.js';

export function forgeNotifier(forge: Forge, botLogin: string): Notifier {
  return {
    name: 'forge',
    async notify(_notice: Notice, r: Rendered): Promise<Delivery> {
      const out: Delivery = {};
      if (r.comment) Object.assign(out, await comment(forge, botLogin, r.comment));
      if (r.issue) out.issue = await raiseIssue(forge, r.issue.title, r.issue.body);
      if (r.closeIssue)
        out.closed = await clearIssue(forge, botLogin, r.closeIssue.title, r.closeIssue.comment);
      return out;
    },
  };
}

async function comment(
  forge: Forge,
  botLogin: string,
  c: NonNullable<Rendered['comment']>,
): Promise<Delivery> {
  if (c.mode === 'always' || c.marker === null)
    return { commentId: await forge.createComment(c.pull, c.body), changed: true, posted: true };
  const marker = c.marker;
  const mine = (await forge.comments(c.pull)).find((x) => isOurs(x, botLogin, marker));
  if (c.mode === 'once') {
    if (mine) return { commentId: mine.id, changed: false, posted: false };
    return { commentId: await forge.createComment(c.pull, c.body), changed: true, posted: true };
  }
  if (mine) {
    if (mine.body === c.body) return { commentId: mine.id, changed: false, posted: false };
    await forge.updateComment(mine.id, c.body);
    return { commentId: mine.id, changed: true, posted: true };
  }
  return { commentId: await forge.createComment(c.pull, c.body), changed: true, posted: true };
}

/** Whether Timebox (`botLogin`) already commented with `marker` on the pull request. */
export async function hasOurComment(
  forge: Forge,
  pull: number,
  marker: string,
  botLogin: string,
): Promise<boolean> {
  return ours(await forge.comments(pull), botLogin, marker).length > 0;
}

/** The titles of the open alarm issues. */
export async function openAlarmTitles(forge: Forge): Promise<Set<string>> {
  return new Set((await forge.openIssues(ALARM_LABEL)).map((i) => i.title));
}

/** Opens the alarm unless one with the same title is open; returns the new issue's number, or null. */
async function raiseIssue(forge: Forge, title: string, body: string): Promise<number | null> {
  if ((await forge.openIssues(ALARM_LABEL)).some((i) => i.title === title)) return null;
  return forge.createIssue({ title, body, labels: [ALARM_LABEL] });
}

/**
 * Closes the open alarm with this title (if any) with a comment saying why; returns its number, or null. A
 * close retried after a crash between the two finds its comment by the marker and does not say it again.
 */
async function clearIssue(
  forge: Forge,
  botLogin: string,
  title: string,
  comment: string,
): Promise<number | null> {
  const issue = (await forge.openIssues(ALARM_LABEL)).find((i) => i.title === title);
  if (!issue) return null;
  if (!(await hasOurComment(forge, issue.number, ALARM_CLOSED_MARKER, botLogin)))
    await forge.createComment(issue.number, `${ALARM_CLOSED_MARKER}\n${comment}`);
  await forge.closeIssue(issue.number);
  return issue.number;
}
