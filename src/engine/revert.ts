// The revert pull request: after a grant is revoked, Timebox removes its request file through a pull
// request that it merges itself, with trailers (reason, activity) so that `git log` shows the revocation.
// Idempotent: a file already gone is not reverted again, and a revert PR Timebox opened before (a retry
// after a crash) is reused — but only after checking that it is Timebox's and that its diff, at the exact
// head commit that will be merged, is the removal of that one file and nothing else. Anyone with write
// access can push to a branch or open a PR on a predictable branch name; nothing they prepared is merged.
import { randomBytes } from 'node:crypto';
import { type RevertInput as CommitRevertInput, revertMessage } from '../core/trailers.js';
import type { Forge, ForgePull } from './forge.js';
import type { Notice, Notices } from './notices/index.js';
import { isOurs } from './notices/markers.js';
import { revertBody } from './notices/render.js';

export interface RevertInput {
  file: string;
  /** `expired`, `early revocation by alice`, … */
  reason: string;
  activity?: string;
  /** The PR that granted it, when known. */
  pull?: number;
  defaultBranch: string;
  /** Timebox's bot (`timebox[bot]`, `github-actions[bot]`): only pull requests it opened are reused. */
  botLogin: string;
  /** A break-glass grant: how its ratification was settled (trailers for the audit; src/engine/break-glass.ts). */
  glass?: RevertGlass;
}

export type RevertGlass = NonNullable<CommitRevertInput['glass']>;

export interface RevertResult {
  /** Nothing to do: the file is not on the default branch any more. */
  alreadyGone?: boolean;
  pull?: number;
  merged?: string;
  /** Why the revert PR was opened but not merged (a person must merge it). */
  mergeRefused?: string;
  /** Open pull requests on this file's revert branches that Timebox did not merge, and why. */
  ignored?: { pull: number; why: string }[];
}

/** The branch a revert of `file` lives on (before Timebox named them `<this>-<random>`). */
export function revertBranch(file: string): string {
  return `timebox/revert/${file.replace(/[^A-Za-z0-9._/-]/g, '-').replace(/\.\.+/g, '.')}`;
}

/** Whether `ref` is a revert branch of `file`: the old fixed name, or it with `-<8 hex>` as Timebox names them. */
export function isRevertBranchOf(ref: string, file: string): boolean {
  const stem = revertBranch(file);
  return ref === stem || (ref.startsWith(`${stem}-`) && /^[0-9a-f]{8}$/.test(ref.slice(stem.length + 1)));
}

export async function revertRequest(
  forge: Forge,
  notices: Notices,
  input: RevertInput,
): Promise<RevertResult> {
  const message = revertMessage(input);
  const base = input.defaultBranch;
  if ((await forge.blobAt(input.file, base)) === null) return { alreadyGone: true };

  const ignored: { pull: number; why: string }[] = [];
  const open = (await forge.openPulls()).filter((p) => isRevertBranchOf(p.head.ref, input.file));
  if (open.length > 0) {
    const botId = (await forge.account(input.botLogin))?.id ?? null;
    const tell = (pull: number, why: string) => notices.emit({ kind: 'revert-ignored', pull, why });
    for (const p of open) {
      const mine = isBot(p.user, input.botLogin, botId);
      const why = mine ? await notTheRemoval(forge, p, input.file, base) : 'Timebox did not open it';
      if (why === null) {
        // Checked at p.head.sha; merged only if the head is still exactly that commit.
        const out = await forge.merge(p.number, p.head.sha, message);
        if ('merged' in out) {
          await forge.deleteBranch(p.head.ref);
          await notices.emit(reverted(input, p.number, out.merged));
          return { pull: p.number, merged: out.merged, ...(ignored.length > 0 ? { ignored } : {}) };
        }
        if (out.status !== 409) return { pull: p.number, mergeRefused: out.refused, ignored };
        ignored.push({ pull: p.number, why: `its head moved after Timebox checked it (${out.refused})` });
        await tell(p.number, 'a commit was pushed to it after Timebox checked it');
        await forge.closePull(p.number);
        continue;
      }
      ignored.push({ pull: p.number, why });
      await tell(p.number, why);
      // Its own revert PR that it will not merge is closed; anyone else's is left to its reviewers.
      if (mine) await forge.closePull(p.number);
    }
  }

  // A fresh revert: Timebox's own commit, on a new branch created pointing straight at it.
  const sha = await forge.removalCommit(base, input.file, `${message.title}\n\n${message.body}`);
  const branch = await createBranch(forge, input.file, sha);
  const number = await forge.createPull({
    title: message.title,
    head: branch,
    base,
    body: revertBody(input.file, input.reason, input.activity),
  });
  const out = await forge.merge(number, sha, message);
  const extra = ignored.length > 0 ? { ignored } : {};
  if (!('merged' in out)) return { pull: number, mergeRefused: out.refused, ...extra };
  await forge.deleteBranch(branch);
  await notices.emit(reverted(input, number, out.merged));
  return { pull: number, merged: out.merged, ...extra };
}

function reverted(input: RevertInput, pull: number, merged: string): Notice {
  return {
    kind: 'reverted',
    file: input.file,
    reason: input.reason,
    pull,
    merged,
    ...(input.activity ? { activity: input.activity } : {}),
  };
}

/** Null when the PR's diff at its head is exactly the removal of `file` against `base`; else why not. */
async function notTheRemoval(forge: Forge, p: ForgePull, file: string, base: string): Promise<string | null> {
  if (p.base.ref !== base) return `it targets ${p.base.ref}, not ${base}`;
  const { owner, repo } = forge.repo;
  if (p.head.repo?.full_name.toLowerCase() !== `${owner}/${repo}`.toLowerCase())
    return 'its branch is in another repository';
  // The diff of that exact commit (a sha, not the branch, so what is checked is what the pinned merge takes).
  const files = await forge.compare(base, p.head.sha);
  const only = files[0];
  if (files.length === 1 && only?.filename === file && only.status === 'removed') return null;
  const listed = files
    .slice(0, 5)
    .map((f) => `${f.status} ${f.filename}`)
    .join(', ');
  return `its changes are not exactly the removal of ${file} (${listed || 'no changes'}${files.length > 5 ? ', …' : ''})`;
}

/**
 * `timebox/revert/<file>-<random>`, created at `sha`; a name someone already took is never reused. When a
 * branch is in the way of every such name (someone made `timebox/revert/requests`), `timebox-revert-<random>`
 * (a retry after a crash does not find that PR again: it opens another, and the first stays unmerged).
 */
async function createBranch(forge: Forge, file: string, sha: string): Promise<string> {
  const names = [revertBranch(file), revertBranch(file), 'timebox-revert'];
  for (const stem of names) {
    const branch = `${stem}-${randomBytes(4).toString('hex')}`;
    if (await forge.createBranch(branch, sha)) return branch;
  }
  throw new Error(`cannot create a revert branch for ${file}: every name is taken`);
}

/**
 * Whether the forge names Timebox's bot as the PR's author: the account with the bot's id (a login can be
 * renamed and taken by another account, an id cannot), of type Bot, and still called `botLogin`.
 */
function isBot(user: ForgePull['user'], botLogin: string, botId: number | null): boolean {
  return botId !== null && user?.id === botId && isOurs({ user }, botLogin);
}
