// The hidden markers Timebox puts in what it posts, and the one rule for "is this comment ours". Anyone can
// paste a marker into a comment, so a marker alone never makes a comment Timebox's: it must also be posted
// by exactly Timebox's bot account (login compared case-insensitively, as the forge does) of type Bot.
// Every reader of Timebox's comments (upsert, "said once", `timebox creds`) uses `isOurs` here.

/** The summary comment, updated in place on every event. */
export const COMMENT_MARKER = '<!-- timebox:summary -->';

/** What starts every credentials comment (`MARK.credentials(id)` adds the grant). */
export const CREDENTIALS_PREFIX = '<!-- timebox:credentials ';

/** Per-grant markers: each says whether that one thing was already said on the pull request. */
export const MARK = {
  credentials: (id: string) => `${CREDENTIALS_PREFIX}${id} -->`,
  noKeys: (id: string) => `<!-- timebox:no-keys ${id} -->`,
  identity: (id: string) => `<!-- timebox:identity ${id} -->`,
  reminder: (id: string) => `<!-- timebox:reminder ${id} -->`,
};

/** On a request pull request Timebox closed as stale: said once, even when the close is retried. */
export const STALE_MARKER = '<!-- timebox:stale-closed -->';

/** On an alarm issue Timebox closes: the closing comment is said once, even when the close is retried. */
export const ALARM_CLOSED_MARKER = '<!-- timebox:alarm-closed -->';

/** On a pull request whose branch looks like a revert branch but that Timebox will not merge. */
export const IGNORED_MARKER = '<!-- timebox:revert-ignored -->';

/** The label of the issues Timebox opens for what a person must look at. */
export const ALARM_LABEL = 'timebox-alarm';

export interface CommentLike {
  body?: string | null;
  user?: { login: string; type?: string | undefined } | null;
}

/** Whether `comment` was posted by Timebox's bot `botLogin`, and carries `marker` (when given) at its start. */
export function isOurs(
  comment: CommentLike,
  botLogins: string | readonly string[],
  marker?: string,
): boolean {
  const user = comment.user;
  if (user?.type !== 'Bot') return false;
  const logins = (typeof botLogins === 'string' ? [botLogins] : botLogins).map((l) => l.toLowerCase());
  if (!logins.includes(user.login.toLowerCase())) return false;
  return marker === undefined || (comment.body ?? '').startsWith(marker);
}

/** Timebox's comments with `marker`, oldest first. */
export function ours<T extends CommentLike>(
  comments: readonly T[],
  botLogins: string | readonly string[],
  marker: string,
): T[] {
  return comments.filter((c) => isOurs(c, botLogins, marker));
}
