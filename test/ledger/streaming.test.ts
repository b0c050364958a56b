// The ledger's memory does not grow with the length of history (issue 16): git log is parsed as its bytes
// arrive, the caches under .git/timebox/ are written and read one line at a time, and `audit --format json`
// is written in pieces. Each must give exactly what the whole-document versions gave.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditJson } from '../../src/cli/ledger.js';
import type { LedgerEvent } from '../../src/core/ledger.js';
import { cachedHistory, parseLog, readHistory } from '../../src/repo/history.js';
import { run, tempDir } from '../helpers/repo.js';

const FORMAT = '%x1e%H%x1f%P%x1f%cI%x1f%aI%x1f%an <%ae>%x1f%cn%x1f%s%x1f%(trailers:only,unfold)%x1f';

const requestText = (i: number) =>
  `requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-${1000 + i} in prod, naïve totals\n`;

/**
 * `n` commits through git fast-import, each adding a request file, with long subjects and non-ASCII text, so
 * that git log's output (well over one 64 KiB pipe read) is cut mid-record and mid-character.
 */
function longRepo(n: number): string {
  const dir = tempDir();
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  let stream = '';
  for (let i = 1; i <= n; i++) {
    const at = 1_767_225_600 + i * 60;
    const subject = `Request ${i}: ${'café ünïcödé '.repeat(12)}`;
    stream +=
      `commit refs/heads/main\nmark :${i}\nauthor Alice <alice@example.com> ${at} +0000\n` +
      `committer Alice <alice@example.com> ${at} +0000\n` +
      data(`${subject}\n\nTimebox-Request: requests/alice/${i}.yaml\nTimebox-Approved-By: carol\n`) +
      `${i > 1 ? `from :${i - 1}\n` : ''}M 100644 inline requests/alice/${i}.yaml\n${data(requestText(i))}\n`;
  }
  execFileSync('git', ['fast-import', '--quiet'], { cwd: dir, input: stream });
  execFileSync('git', ['reset', '-q', '--hard', 'main'], { cwd: dir });
  return dir;
}

describe('git log, parsed as it arrives', () => {
  it('gives the commits one parse of the whole output gives, across chunk and character boundaries', async () => {
    const dir = longRepo(400);
    const whole = execFileSync(
      'git',
      [
        'log',
        '--first-parent',
        '--diff-merges=first-parent',
        '-M',
        '--raw',
        '-z',
        '--no-abbrev',
        `--format=${FORMAT}`,
        'main',
        '--',
        'requests/',
      ],
      { cwd: dir, maxBuffer: 1 << 26 },
    );
    expect(whole.length).toBeGreaterThan(200_000);
    const expected = parseLog(whole).commits.reverse();
    // The same bytes as one string parse the same.
    expect(parseLog(whole.toString('utf8')).commits.reverse()).toEqual(expected);

    const commits = await readHistory(dir, 'HEAD', 'requests');
    expect(commits).toHaveLength(400);
    for (const [i, c] of commits.entries()) {
      const e = expected[i];
      expect(c.sha).toBe(e?.sha);
      expect(c.subject).toBe(e?.subject);
      expect(c.subject).toContain('café ünïcödé');
      expect(c.trailers).toEqual(e?.trailers);
      expect(c.changes).toEqual([
        { status: 'added', path: `requests/alice/${i + 1}.yaml`, content: requestText(i + 1) },
      ]);
    }
  });

  it('keeps no request text once the reader parsed it', async () => {
    const dir = longRepo(3);
    const commits = await readHistory(dir, 'HEAD', 'requests', (change) => {
      change.parsed = { request: null, error: null };
    });
    expect(commits.flatMap((c) => c.changes.map((ch) => ch.content))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('the caches, one JSON line at a time', () => {
  it('a cut-off or older cache is not used, and is replaced', async () => {
    const dir = longRepo(5);
    const first = await cachedHistory(dir, 'HEAD', 'requests');
    const cacheDir = join(dir, '.git/timebox');
    const [file] = readdirSync(cacheDir);
    expect(file).toMatch(/^ledger-[0-9a-f]+\.ndjson$/);
    const path = join(cacheDir, file as string);
    // The header, then one line per commit.
    expect(readFileSync(path, 'utf8').trimEnd().split('\n')).toHaveLength(6);
    expect((await cachedHistory(dir, 'HEAD', 'requests')).fromCache).toBe(5);

    truncateSync(path, readFileSync(path).length - 40);
    const cut = await cachedHistory(dir, 'HEAD', 'requests');
    expect(cut.fromCache).toBe(0);
    expect(cut.commits).toEqual(first.commits);
    expect((await cachedHistory(dir, 'HEAD', 'requests')).fromCache).toBe(5);

    // A whole-document cache of an earlier version is removed when the new one is written.
    const old = path.replace(/\.ndjson$/, '.json');
    writeFileSync(old, '{}');
    writeFileSync(path, '{"version":3,"count":0}\n');
    expect((await cachedHistory(dir, 'HEAD', 'requests')).fromCache).toBe(0);
    expect(existsSync(old)).toBe(false);
  });

  it('status and audit answer the same from a cut-off fold cache as without caches', async () => {
    const dir = longRepo(30);
    const at = ['status', '--json', '--at', '2026-01-01T00:20:00Z'];
    const audit = ['audit', '--until', '2026-01-02T00:00:00Z'];
    const uncached = [
      (await run([...at, '--no-cache'], { cwd: dir })).stdout,
      (await run([...audit, '--no-cache'], { cwd: dir })).stdout,
    ];
    expect([(await run(at, { cwd: dir })).stdout, (await run(audit, { cwd: dir })).stdout]).toEqual(uncached);
    const fold = readdirSync(join(dir, '.git/timebox')).find((f) => f.startsWith('fold-')) as string;
    expect(fold).toMatch(/\.ndjson$/);
    const path = join(dir, '.git/timebox', fold);
    truncateSync(path, readFileSync(path).length - 10);
    expect([(await run(at, { cwd: dir })).stdout, (await run(audit, { cwd: dir })).stdout]).toEqual(uncached);
    expect(JSON.parse(uncached[0] as string).grants.length).toBeGreaterThan(0);
  });
});

describe('audit --format json, in pieces', () => {
  /** The whole-document rendering the pieces replace. */
  const whole = (events: unknown[], notes: unknown[]) => {
    const lines = (items: unknown[]) =>
      items.length === 0 ? '[]' : `[\n${items.map((x) => JSON.stringify(x)).join(',\n')}\n]`;
    return `{"events":${lines(events)},\n"notes":${lines(notes)}}\n`;
  };
  const event = (i: number) =>
    ({
      time: '2026-01-01T00:00:00Z',
      type: 'granted',
      file: `requests/alice/${i}.yaml`,
      actor: 'carol',
      requester: 'alice',
      resource: 'orders-db',
      role: 'read-only',
      expires_at: '2026-01-01T02:00:00Z',
      ticket: null,
      pull_request: i,
      commit: 'a'.repeat(40),
      grant: `requests/alice/${i}.yaml@aaaaaaaaaaaa`,
      reason: 'x'.repeat(200),
    }) satisfies LedgerEvent;

  it('joined, are the one document, empty or larger than a piece', () => {
    const note = { commit: 'b'.repeat(40), message: 'a note' };
    for (const [events, notes] of [
      [[], []],
      [[event(1)], []],
      [[], [note]],
      [Array.from({ length: 6000 }, (_, i) => event(i)), [note, note]],
    ] as [LedgerEvent[], { commit: string; message: string }[]][]) {
      const pieces = [...auditJson(events, notes)];
      expect(pieces.join('')).toBe(whole(events, notes));
      if (events.length > 1000) expect(pieces.length).toBeGreaterThan(1);
    }
  });
});
