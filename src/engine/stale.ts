// Request pull requests left unapproved longer than `pending_ttl` (timebox.yaml, default 7d) are closed
// with a notice saying why and how to ask again. Approved ones, and pull requests without request
// files, are left alone. Decided afresh, like every check: a PR approved a minute ago stays open.
import { type Clock, fixedClock } from '../core/clock.js';
import { parseDuration } from '../core/duration.js';
import { loadConfig } from '../repo/access-repo.js';
import type { Forge } from './forge.js';
import type { Notices } from './notices/index.js';
import { type CheckCache, decidePull } from './pull-check.js';

export interface StaleResult {
  closed: number[];
  kept: number;
}

export async function closeStalePulls(
  forge: Forge,
  opts: { clock: Clock; botLogin: string; defaultBranch: string; notices: Notices; cache?: CheckCache },
): Promise<StaleResult> {
  const now = opts.clock.now();
  const { config } = await loadConfig(forge.source(opts.defaultBranch));
  const ttl = parseDuration(config.pending_ttl) ?? 7 * 24 * 3_600_000;
  const open = await forge.openPulls(opts.defaultBranch);
  const closed: number[] = [];
  let kept = 0;
  for (const p of open) {
    if (Date.parse(p.created_at ?? '') + ttl > now.getTime()) {
      kept += 1;
      continue;
    }
    const d = await decidePull(
      forge,
      p.number,
      {
        botLogin: opts.botLogin,
        clock: fixedClock(now, opts.clock),
        ...(opts.cache ? { cache: opts.cache } : {}),
      },
      await forge.pull(p.number),
    );
    if (d.decisions.length === 0 || d.conclusion === 'success') {
      kept += 1;
      continue;
    }
    await opts.notices.emit({
      kind: 'stale-closed',
      pull: p.number,
      ttl: config.pending_ttl,
      files: d.decisions.map((x) => ({ file: x.file, status: x.status })),
    });
    await forge.closePull(p.number);
    closed.push(p.number);
  }
  return { closed, kept };
}
