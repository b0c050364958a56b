// The one place notices become words (Markdown for the forge; a plain line for anything else). Values that
// come from request files and logins are hostile input: they go through `md`/`mention`.
import { md, mention, renderComment } from '../../report/pull-request.js';
import { ALARM_LABEL, COMMENT_MARKER, IGNORED_MARKER, MARK, STALE_MARKER } from './markers.js';
import type { BreakGlassNotice, Notice, UnratifiedNotice } from './notice.js';

/** GitHub refuses check-run summaries and comment bodies longer than this. */
export const MAX_TEXT = 65_000;

export interface Rendered {
  /** A comment on a pull request: `upsert` edits Timebox's comment with `marker`, `once` posts unless one exists. */
  comment?: { pull: number; marker: string | null; mode: 'upsert' | 'once' | 'always'; body: string };
  /** An alarm issue to have open (one per title). */
  issue?: { title: string; body: string };
  /** An alarm issue to close, if open, with a comment. */
  closeIssue?: { title: string; comment: string };
  /** One plain line for channels without Markdown. */
  text: string;
}

export function renderNotice(n: Notice): Rendered {
  switch (n.kind) {
    case 'pull-summary': {
      const body = summaryText(n);
      return {
        comment: { pull: n.pull, marker: COMMENT_MARKER, mode: 'upsert', body: truncate(body) },
        text: `#${n.pull}: ${n.decisions.map((d) => `${d.file} ${d.status}`).join(', ') || 'no access request changed'}`,
      };
    }
    case 'pull-refused':
      return {
        comment: {
          pull: n.pull,
          marker: COMMENT_MARKER,
          mode: 'upsert',
          body: `${COMMENT_MARKER}\n### Timebox\n\n${n.reason}\n`,
        },
        text: `#${n.pull}: nothing can be decided`,
      };
    case 'granted': {
      const g = n.grant;
      const body = [
        MARK.credentials(g.id),
        `**Granted.** ${mention(g.requester)} has **${md(g.role)}** on **${md(g.resource)}** until **${utc(n.expiresAt)}** (${relative(n.expiresAt - n.at)}), as \`${md(n.principal)}\`.`,
        '',
        'Credentials, sealed to your SSH keys on GitHub (only your private key opens them):',
        '',
        '```',
        n.credentials.trimEnd(),
        '```',
        '',
        `Save the block to a file and open it with \`timebox creds FILE\` or \`age -d -i ~/.ssh/id_ed25519 FILE\`. At expiry Timebox revokes the access, ends live sessions and removes \`${md(g.file)}\` with a pull request.`,
      ].join('\n');
      return {
        comment: { pull: n.pull, marker: MARK.credentials(g.id), mode: 'always', body },
        text: `${g.requester} has ${g.role} on ${g.resource} until ${utc(n.expiresAt)} (${g.file})`,
      };
    }
    case 'no-keys': {
      const g = n.grant;
      const body = [
        MARK.noKeys(g.id),
        `**Nothing granted yet.** ${mention(g.requester)} has no \`ssh-ed25519\` or \`ssh-rsa\` key on GitHub, so there is nothing to seal the credentials to.`,
        '',
        `Add one at https://github.com/settings/keys (\`ssh-keygen -t ed25519\` makes one). Timebox tries again at its next reconcile, within minutes, and grants **${md(g.role)}** on **${md(g.resource)}** then.`,
      ].join('\n');
      return {
        ...(n.pull !== null
          ? { comment: { pull: n.pull, marker: MARK.noKeys(g.id), mode: 'once' as const, body } }
          : {}),
        text: `nothing granted for ${g.file}: ${g.requester} has no SSH key to seal the credentials to`,
      };
    }
    case 'identity-refused': {
      const g = n.grant;
      const body = [
        MARK.identity(g.id),
        `**Nothing granted.** ${md(n.why)}.`,
        '',
        `Timebox seals credentials only to the GitHub account that opened this pull request. If that account was renamed, request the access again under its new login (\`requester:\` must be the new login).`,
      ].join('\n');
      return {
        ...(n.pull !== null
          ? { comment: { pull: n.pull, marker: MARK.identity(g.id), mode: 'once' as const, body } }
          : {}),
        issue: {
          title: `Timebox alarm: ${g.file} — the requester's login now names another GitHub account`,
          body: `Timebox refused to grant \`${md(g.file)}\` (commit ${n.commit}):\n\n> ${md(n.why)}\n\nNothing was granted and no credentials were sealed. Check who holds the login now; the original requester can ask again under their new login.`,
        },
        text: `nothing granted for ${g.file}: ${n.why}`,
      };
    }
    case 'reminder': {
      const g = n.grant;
      const body = [
        MARK.reminder(g.id),
        `${mention(g.requester)}, your **${md(g.role)}** on **${md(g.resource)}** ends at **${utc(n.endsAt)}** (${relative(n.endsAt - n.at)}).`,
        `To keep it, open a pull request that edits \`${md(g.file)}\` (an extension is approved like a request).`,
      ].join('\n');
      return {
        comment: { pull: n.pull, marker: MARK.reminder(g.id), mode: 'once', body },
        text: `${g.requester}'s ${g.role} on ${g.resource} ends at ${utc(n.endsAt)}`,
      };
    }
    case 'revocation-failing':
      return {
        issue: {
          title: revocationTitle(n.file),
          body: `Timebox could not revoke the access granted by \`${md(n.file)}\`:\n\n> ${md(n.message)}\n\nIt keeps retrying until the revocation is verified, and closes this issue then. Until then the access may still work (a native expiry such as PostgreSQL's \`VALID UNTIL\` still bounds it).`,
        },
        text: `revoking ${n.file} is failing: ${n.message}`,
      };
    case 'revocation-verified':
      return {
        closeIssue: {
          title: revocationTitle(n.file),
          comment: 'The revocation went through and was verified: nothing is left on the target.',
        },
        text: `revoking ${n.file} went through and was verified`,
      };
    case 'provenance-refused':
      return {
        issue: {
          title: `Timebox alarm: ${n.file} at ${n.commit.slice(0, 7)} was not approved through a pull request`,
          body: [
            `Timebox refused to provision \`${n.file.replace(/`/g, "'")}\` from commit ${n.commit}:`,
            '',
            `> ${md(n.reason)}`,
            '',
            'Nothing was granted for it. Revert the commit (or remove the file) and request the access through a pull request.',
          ].join('\n'),
        },
        text: `${n.file} at ${n.commit.slice(0, 7)} refused: ${n.reason}`,
      };
    case 'reverted':
      // The revert pull request is itself the record on the forge: nothing more is posted there.
      return {
        text: `removed ${n.file} (${n.reason}) with #${n.pull}${n.merged ? '' : ', not merged'}`,
      };
    case 'revert-ignored':
      return {
        comment: {
          pull: n.pull,
          marker: IGNORED_MARKER,
          mode: 'once',
          body: `${IGNORED_MARKER}\n**Timebox will not merge this pull request**: ${n.why}. Its branch is named like Timebox's revert branches; Timebox removes the request file through a pull request of its own. Review anything else here as any other change.`,
        },
        text: `#${n.pull} is not merged by Timebox: ${n.why}`,
      };
    case 'break-glass':
      return renderBreakGlass(n);
    case 'unratified':
      return renderUnratified(n);
    case 'stale-closed': {
      const files = n.files.map((x) => `\`${x.file.replace(/`/g, "'")}\` (${x.status})`).join(', ');
      return {
        comment: {
          pull: n.pull,
          marker: STALE_MARKER,
          mode: 'once',
          body: `${STALE_MARKER}\nTimebox closes this pull request: it has waited more than ${md(n.ttl)} without being approved (${files}). Nothing was granted. If the access is still needed, open a new request (\`timebox new\`).`,
        },
        text: `closed #${n.pull}: unapproved for more than ${n.ttl}`,
      };
    }
  }
}

/** A break-glass access: said once on the merged pull request (the summary already shows what must ratify). */
function renderBreakGlass(n: BreakGlassNotice): Rendered {
  const g = n.grant;
  const marker = GLASS_MARK.breakGlass(g.id);
  const who =
    n.ratifiers.length > 0 ? n.ratifiers.map((x) => md(x)).join(', ') : 'the approvals its rule needs';
  const body = [
    marker,
    `🚨 **Break-glass.** ${mention(g.requester)} has **${md(g.role)}** on **${md(g.resource)}**${n.expiresAt === undefined ? '' : ` until **${utc(n.expiresAt)}**`}, approved by rule **${md(n.rule)}** before its approvals.`,
    '',
    `Reason: ${md(n.reason)}`,
    '',
    `To ratify it, approve this pull request by **${utc(n.ratifyBy)}** (${relative(n.ratifyBy - n.at)}): ${who}. Unratified by then, the access is revoked, a \`${ALARM_LABEL}\` issue is opened and ${md(g.requester)}'s next emergency request is denied until a code owner of the policies closes it.`,
  ].join('\n');
  return {
    comment: { pull: n.pull, marker, mode: 'once', body },
    text: `break-glass: ${g.requester} has ${g.role} on ${g.resource} (rule ${n.rule}); ratify on #${n.pull} by ${utc(n.ratifyBy)}`,
  };
}

/** An unratified break-glass access: said once on the pull request, and an alarm issue (one per file). */
function renderUnratified(n: UnratifiedNotice): Rendered {
  const g = n.grant;
  const marker = GLASS_MARK.unratified(g.id);
  const missing =
    n.missing.length > 0 ? n.missing.map((x) => md(x)).join(', ') : 'the approvals its rule needs';
  return {
    comment: {
      pull: n.pull,
      marker,
      mode: 'once',
      body: `${marker}\n**Not ratified.** The break-glass access of ${mention(g.requester)} to **${md(g.resource)}** was not ratified by **${utc(n.ratifyBy)}** (missing: ${missing}). Timebox revokes it and has opened a \`${ALARM_LABEL}\` issue.`,
    },
    issue: {
      title: unratifiedTitle(g.requester, g.file),
      body: [
        `The break-glass access granted by \`${md(g.file)}\` (#${n.pull}, rule **${md(n.rule)}**) to ${mention(g.requester)} — **${md(g.role)}** on **${md(g.resource)}** — was not ratified by ${utc(n.ratifyBy)}.`,
        '',
        `Missing: ${missing}.`,
        '',
        `Timebox revokes the access. Until a code owner of the policies closes this issue, ${md(g.requester)}'s next request with \`emergency: true\` is denied (requests without it wait for their approvals as usual).`,
      ].join('\n'),
    },
    text: `unratified break-glass: ${g.requester}'s ${g.role} on ${g.resource} (${g.file}) was not ratified by ${utc(n.ratifyBy)}; revoked, alarm opened`,
  };
}

/** The decision on a pull request in full (the comment is this, cut to what GitHub takes). */
export function summaryText(
  n: Pick<Extract<Notice, { kind: 'pull-summary' }>, 'decisions' | 'previews' | 'headSha' | 'notes'>,
): string {
  const body = renderComment({ decisions: n.decisions, previews: n.previews, headSha: n.headSha });
  return n.notes.length > 0 ? `${body}\n${n.notes.map((x) => `- note: ${md(x)}`).join('\n')}\n` : body;
}

/** The body of a revert pull request (the record of an access that ended). */
export function revertBody(file: string, reason: string, activity?: string): string {
  return `Access granted by \`${file}\` has ended (${reason}). Timebox removes the request file so that the history shows it.${activity ? `\n\nActivity: ${activity}` : ''}`;
}

/** A check run's summary: the summary comment without its marker. */
export function checkSummary(comment: string): string {
  return truncate(comment.replace(COMMENT_MARKER, '').trim());
}

export function truncate(text: string): string {
  if (text.length <= MAX_TEXT) return text;
  return `${text.slice(0, MAX_TEXT)}\n\n… (cut: the full result is in the check run's annotations and \`timebox check\`)\n`;
}

export const revocationTitle = (file: string) => `Timebox alarm: revoking ${file} is failing`;

/** Markers of the break-glass comments, one per grant (each said once on the pull request). */
export const GLASS_MARK = {
  breakGlass: (id: string) => `<!-- timebox:break-glass ${id} -->`,
  unratified: (id: string) => `<!-- timebox:unratified ${id} -->`,
};

const UNRATIFIED_PREFIX = 'Timebox alarm: unratified break-glass access by ';

/** The alarm issue of an unratified break-glass access (one per request file). */
export const unratifiedTitle = (login: string, file: string) => `${UNRATIFIED_PREFIX}${login} (${file})`;

/** The requester named by an unratified break-glass alarm's title, or null when the title is another's. */
export function unratifiedLogin(title: string): string | null {
  if (!title.startsWith(UNRATIFIED_PREFIX)) return null;
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\[bot\])?) \(/.exec(
    title.slice(UNRATIFIED_PREFIX.length),
  );
  return m ? (m[1] as string) : null;
}

export function utc(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/:\d\d\.\d{3}Z$/, ' UTC')
    .replace('T', ' ');
}

/** `in 2 hours`, `in 15 minutes`, `now`. */
export function relative(ms: number): string {
  if (ms <= 30_000) return 'now';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 6) / 10;
  if (hours < 48) return `in ${hours} hour${hours === 1 ? '' : 's'}`;
  const days = Math.round(hours / 2.4) / 10;
  return `in ${days} days`;
}
