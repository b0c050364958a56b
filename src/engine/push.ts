// Provenance on push to the default branch: every request file added or changed must come from a merged
// pull request that was approved at its head, with the content that was decided (src/core/provenance.ts).
// Anything else raises a `timebox-alarm` issue naming the commit and the file (a notice). Provisioning is
// only ever done for what passes. Each verdict is decided once and recorded on the commit
// (src/engine/verdicts.ts): a redelivered push reads it back instead of judging the merge again with today's
// reviews and teams.
import type { Clock } from '../core/clock.js';
import { isRequestPath } from '../core/decide.js';
import type { Config } from '../core/model.js';
import type { PushedChange } from '../core/provenance.js';
import { loadConfig } from '../repo/access-repo.js';
import type { Forge } from './forge.js';
import type { Notices } from './notices/index.js';
import type { CheckCache } from './pull-check.js';
import { type Settled, settleProvenance, verdictAuthor } from './verdicts.js';

export { ALARM_LABEL } from './notices/markers.js';

export interface PushInput {
  ref: string;
  before: string;
  after: string;
  defaultBranch: string;
}

export interface PushResult {
  skipped?: string;
  /** Each change's verdict: read back from its record on the commit, or decided now and recorded. */
  provenance: Settled[];
  /** Issues opened (numbers); an alarm already open for the same commit and file is not repeated. */
  alarms: number[];
}

const ZERO = /^0{40}$/;

export async function checkPush(
  forge: Forge,
  push: PushInput,
  opts: { clock: Clock; botLogin: string; notices: Notices; cache?: CheckCache; appId?: number },
): Promise<PushResult> {
  if (push.ref !== `refs/heads/${push.defaultBranch}`)
    return { skipped: `not the default branch`, provenance: [], alarms: [] };
  if (ZERO.test(push.after)) return { skipped: 'branch deleted', provenance: [], alarms: [] };
  const config: Config = (await loadConfig(forge.source(push.after))).config;
  const changes = await pushedRequestChanges(forge, push, config);
  if (changes.length === 0) return { provenance: [], alarms: [] };

  // Read back when a verdict was recorded (a redelivery, another replica); decided and recorded otherwise.
  const provenance = await settleProvenance(forge, push.after, changes, {
    botLogin: opts.botLogin,
    author: verdictAuthor(opts.botLogin, opts.appId),
    clock: opts.clock,
    ...(opts.cache ? { cache: opts.cache } : {}),
  });
  const alarms: number[] = [];
  for (const p of provenance) {
    if (p.ok) continue;
    const { issue } = await opts.notices.emit({
      kind: 'provenance-refused',
      commit: push.after,
      file: p.path,
      reason: p.reason,
    });
    if (issue !== undefined && issue !== null) alarms.push(issue);
  }
  return { provenance, alarms };
}

/** Request files the push changed, with their blob at `after` (a new branch compares with nothing). */
async function pushedRequestChanges(forge: Forge, push: PushInput, config: Config): Promise<PushedChange[]> {
  if (ZERO.test(push.before)) {
    // The default branch was created by this push: everything in it is new.
    const paths = await forge.source(push.after).list(config.paths.requests);
    const blobs = await forge.treeBlobs(push.after);
    return paths.map((path) => ({ path, status: 'added', blob: blobs.get(path) ?? null }));
  }
  const out: PushedChange[] = [];
  for (const f of await forge.compare(push.before, push.after)) {
    if (f.status === 'renamed' && f.previous_filename && isRequestPath(f.previous_filename, config)) {
      out.push({ path: f.previous_filename, status: 'removed', blob: null });
    }
    if (!isRequestPath(f.filename, config)) continue;
    if (f.status === 'removed') out.push({ path: f.filename, status: 'removed', blob: null });
    else
      out.push({
        path: f.filename,
        status: f.status === 'added' || f.status === 'renamed' ? 'added' : 'modified',
        blob: f.sha ?? null,
      });
  }
  return out;
}
