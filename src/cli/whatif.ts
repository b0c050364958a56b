// `timebox whatif --base REF`: every request the history holds, and the open ones, decided under the policies
// at REF and under those of the working tree; print what changes. Reading is here; deciding and comparing
// is src/core/whatif.ts.
import type { Decision } from '../core/model.js';
import {
  branchFiles,
  compareDecisions,
  decideBoth,
  historyVersions,
  openVersions,
  type WhatifChange,
  type WhatifResult,
} from '../core/whatif.js';
import { readHistory, resolveRef } from '../repo/history.js';
import { loadSigningKeys } from '../repo/signing-keys.js';
import { gitRevision, workingTree } from '../repo/source.js';
import { colors, type Io, loadRepoOrFail, loadTeams, parseAt, repoRoot } from './context.js';
import { ConfigError, EXIT } from './errors.js';

export interface WhatifOptions {
  repo?: string;
  /** The policies in force (and, unless `ref`, the branch whose history is replayed). */
  base: string;
  /** The branch whose history is replayed (default: `base`). */
  ref?: string;
  teams?: string;
  /** When open requests are decided (default: now). */
  at?: string;
  json?: boolean;
}

export async function runWhatif(io: Io, opts: WhatifOptions): Promise<number> {
  const root = repoRoot(io, opts.repo);
  const at = parseAt(opts.at, () => io.clock.now());
  const teams = await loadTeams(io, opts.teams);
  const baseSource = await gitRevision(root, opts.base);
  const tree = workingTree(root);
  const [base, proposed] = [await loadRepoOrFail(io, baseSource), await loadRepoOrFail(io, tree)];
  // Whose merges count, and the keys that show it, come from the base: a policy change cannot vouch for itself.
  const signing = await loadSigningKeys(baseSource, base.config);
  if (signing.errors.length > 0) throw new ConfigError('audit.signing_keys is invalid', signing.errors);
  const ref = opts.ref ?? opts.base;
  const { tip } = await resolveRef(root, ref);
  const dir = base.config.paths.requests;
  const commits = await readHistory(root, tip, dir, undefined, signing.keys);

  const past = historyVersions(commits, base.config);
  const paths = (await tree.list(dir)).filter((p) => p.endsWith('.yaml') || p.endsWith('.yml'));
  const files = await Promise.all(paths.map(async (path) => ({ path, text: (await tree.read(path)) ?? '' })));
  const open = openVersions(files, branchFiles(commits, base.config), at);
  const versions = [...past, ...open];
  const decided = decideBoth(versions, base, proposed, teams);
  const result = compareDecisions(decided.before, decided.after);
  io.stderr(
    `replayed ${past.length} merged version(s) of ${ref} (${tip.slice(0, 7)}) and ${open.length} open request(s): policies of ${baseSource.label} → working tree\n`,
  );
  if (opts.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else io.stdout(formatWhatif(io, result));
  return EXIT.ok;
}

const ARROW: Record<Decision['status'], number> = { approved: 0, pending: 1, denied: 2, invalid: 3 };

/** One block per change: where (file, commit or open, time), before → after, then why. */
export function formatWhatif(io: Pick<Io, 'color'>, result: WhatifResult): string {
  const c = colors(io);
  if (result.changed.length === 0) return `no decision changes (${result.unchanged} unchanged)\n`;
  const paint = (ch: WhatifChange) => {
    // Wider access (toward approved) in yellow for reviewers' attention; narrower in red.
    const text = `${ch.before} → ${ch.after}`;
    return ARROW[ch.after] < ARROW[ch.before] ? c.yellow(text) : c.red(text);
  };
  const blocks = result.changed.map((ch) =>
    [
      `${ch.file}  ${c.dim(ch.commit ? `${ch.commit.slice(0, 7)} ${ch.at}` : `open, at ${ch.at}`)}  ${paint(ch)}`,
      ...ch.reasons.map((r) => `    ${r.rule ? `${r.rule}: ` : ''}${r.message}`),
    ].join('\n'),
  );
  const counts = new Map<string, number>();
  for (const ch of result.changed) {
    const k = `${ch.before} → ${ch.after}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const summary = [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
  return `${blocks.join('\n')}\n\n${result.changed.length} changed (${summary}), ${result.unchanged} unchanged\n`;
}
