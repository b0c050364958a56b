// The docs are tested: every shell block of README.md and docs/**/*.md that a user would run is run here,
// with `timebox` on PATH (bin/timebox.js of this checkout) in a temporary access repo made from this
// repository's policies, schemas, CODEOWNERS, teams example and sample request. ```sh blocks run as one
// script that must succeed; ```console blocks run command by command (`$ …`, `\` continues a line), and
// each command's output (stdout and stderr, as a terminal shows them) must be what the block shows, commit
// ids aside. A block that cannot run here is in SKIP, keyed by file and heading, with the reason; a SKIP
// entry that names no block fails, so the list cannot go stale.
//
// `npx timebox` in the docs runs this checkout's timebox (in a clone of Timebox, npx finds its own bin);
// any other npx is refused here, never fetched from the registry. `<timebox>` in a block stands for a
// clone of Timebox: this checkout.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, dropRolesOf } from '../helpers/postgres.js';
import { git, ROOT, tempDir } from '../helpers/repo.js';

interface Block {
  file: string;
  heading: string;
  /** 1-based among the runnable blocks under the same heading. */
  index: number;
  line: number;
  lang: string;
  text: string;
}

const SHELL = new Set(['sh', 'bash', 'shell', 'console']);

/** Keyed `file › heading` (every block under it) or `file › heading #n`. */
const SKIP: Record<string, string> = {
  'README.md › Try it':
    '`npm ci` reinstalls this checkout and `npm test` runs the whole suite, this test included; `npm run demo` is run by test/demo/demo.test.ts',
  'docs/audit.md › What the record trusts': 'downloads GitHub’s signing key from github.com',
  'docs/deployment.md › Install':
    '`npm ci` would reinstall this checkout under the running suite and `npm install -g` install into the machine’s npm prefix; test/cli/install.test.ts packs a copy of the checkout and installs the tarball into an empty prefix',
  'docs/deployment.md › The access repository #2': 'downloads GitHub’s signing key from github.com',
  'docs/github-app.md › Install the App on a real repository':
    'needs a GitHub App registered on github.com (its id, private key and webhook secret) and a repository it is installed on',
  'docs/github-app.md › Checking pull requests: `timebox-check.yml`':
    'runs in GitHub Actions on a pull request: GITHUB_TOKEN, the pull request number and head SHA from the event',
};

function docFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true }).sort((x, y) =>
      x.name.localeCompare(y.name),
    )) {
      if (e.isDirectory()) walk(`${dir}/${e.name}`);
      else if (e.name.endsWith('.md')) out.push(`${dir}/${e.name}`);
    }
  };
  walk('docs');
  return out;
}

function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  let heading = '';
  const perHeading = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const h = /^#{1,6}\s+(.*)$/.exec(line);
    if (h) {
      heading = (h[1] as string).trim();
      continue;
    }
    const open = /^(\s*)```(\w*)\s*$/.exec(line);
    if (!open) continue;
    const indent = (open[1] as string).length;
    const lang = open[2] as string;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j] as string); j++)
      body.push((lines[j] as string).slice(indent));
    if (SHELL.has(lang)) {
      const n = (perHeading.get(heading) ?? 0) + 1;
      perHeading.set(heading, n);
      blocks.push({ file, heading, index: n, line: i + 1, lang, text: body.join('\n') });
    }
    i = j;
  }
  return blocks;
}

const BLOCKS = docFiles().flatMap(blocksOf);
const keyOf = (b: Block) => `${b.file} › ${b.heading}`;
const skipped = (b: Block) => SKIP[`${keyOf(b)} #${b.index}`] ?? SKIP[keyOf(b)];

/** A folder with `timebox` (this checkout's bin/timebox.js) and the environment the blocks run in. */
function shellEnv(): NodeJS.ProcessEnv {
  const home = tempDir('timebox-doc-home-');
  const bin = join(home, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'timebox'),
    `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/timebox.js')}" "$@"\n`,
    { mode: 0o755 },
  );
  return {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: home,
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    GIT_AUTHOR_NAME: 'Alice',
    GIT_AUTHOR_EMAIL: 'alice@example.com',
    GIT_COMMITTER_NAME: 'Alice',
    GIT_COMMITTER_EMAIL: 'alice@example.com',
  };
}

const PRELUDE = `npx() { if [ "$1" = timebox ]; then shift; timebox "$@"; else echo "doc test: npx $1 is not run here" >&2; return 127; fi; }\n`;

/** This repository as an access repo: policies, schemas, CODEOWNERS, teams example, sample request; on main. */
function accessRepo(edit?: (dir: string) => void): string {
  const dir = tempDir('timebox-doc-access-');
  git(dir, 'init', '-q', '-b', 'main');
  for (const part of ['policies', 'schemas', 'requests', 'teams.example.yaml', '.github/CODEOWNERS'])
    cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  edit?.(dir);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'access repo');
  return dir;
}

interface Setup {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  cleanup?: () => Promise<void>;
}

/** What the prose around a block says is there before it runs, keyed like SKIP; by default an access repo. */
const SETUP: Record<string, () => Promise<Setup>> = {
  // "every schedule in schedules/": an access repo holding the page's own example schedule.
  'docs/on-call.md › `timebox oncall`': async () => {
    const page = readFileSync(join(ROOT, 'docs/on-call.md'), 'utf8');
    const example = /```yaml\n# schedules\/primary\.yaml\n([\s\S]*?)```/.exec(page)?.[1];
    if (!example) throw new Error('docs/on-call.md no longer has its schedules/primary.yaml example');
    return {
      cwd: accessRepo((dir) => {
        mkdirSync(join(dir, 'schedules'));
        writeFileSync(join(dir, 'schedules/primary.yaml'), example);
      }),
    };
  },
  // "Start from this one": an empty folder.
  'docs/deployment.md › The access repository': async () => ({ cwd: tempDir('timebox-doc-') }),
  // "in a clone of the access repo, with the provider admin URLs in the environment and the requesters'
  // SSH public keys in a file": a clone of a remote, a real PostgreSQL database, alice's key in keys.yaml.
  'docs/deployment.md › Offline (no GitHub)': async () => {
    const db = await createTestDatabase();
    const origin = accessRepo((dir) => {
      // The example policy's group role, as this database names it.
      const policy = join(dir, 'policies/qa.yaml');
      writeFileSync(policy, readFileSync(policy, 'utf8').replace('[orders_read]', `[${db.readRole}]`));
    });
    const cwd = join(tempDir('timebox-doc-'), 'access');
    execFileSync('git', ['clone', '-q', origin, cwd]);
    const key = join(tempDir('timebox-doc-key-'), 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', key]);
    writeFileSync(join(cwd, 'keys.yaml'), `alice:\n  - ${readFileSync(`${key}.pub`, 'utf8').trim()}\n`);
    const owner = git(cwd, 'rev-list', '--max-parents=0', 'HEAD').trim();
    // Every target the policies name: the three databases' connections and the SSH CA.
    const ca = join(tempDir('timebox-doc-ca-'), 'ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ca', '-f', ca]);
    return {
      cwd,
      env: {
        TIMEBOX_POSTGRES_ORDERS_URL: db.url,
        TIMEBOX_POSTGRES_CUSTOMERS_URL: db.url,
        TIMEBOX_POSTGRES_BILLING_URL: db.url,
        TIMEBOX_SSH_PROD_CA_KEY: ca,
        TIMEBOX_SSH_PROD_KRL: `${ca}.krl`,
      },
      async cleanup() {
        await dropRolesOf(db.url, owner);
        await db.drop();
      },
    };
  },
};

async function setupFor(b: Block): Promise<Setup> {
  const make = SETUP[`${keyOf(b)} #${b.index}`] ?? SETUP[keyOf(b)];
  return make ? make() : { cwd: accessRepo() };
}

/**
 * `<timebox>` → this checkout. A block that would install, pack or link with npm is never run as is: it
 * would reinstall this checkout under the running suite or change the machine's npm prefix. Such a block
 * needs a SKIP or SETUP entry.
 */
const substitute = (text: string) => {
  if (/\bnpm\s+(ci|install|i|pack|link|uninstall|update)\b/.test(text))
    throw new Error(
      'this block runs npm install/ci/pack/link: give it a SKIP (with the test that covers it) or SETUP entry',
    );
  return text.replaceAll('<timebox>', ROOT);
};

interface Command {
  line: number;
  command: string;
  expected: string;
}

/** `$ command` lines (with `\` continuations) and the output shown under each. */
function commandsOf(b: Block): Command[] {
  const out: Command[] = [];
  const lines = b.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.startsWith('$ ')) {
      if (out.length === 0 && line.trim())
        throw new Error(`${b.file}:${b.line + 1 + i}: output before any $ command`);
      if (out.length > 0) (out.at(-1) as Command).expected += `${line}\n`;
      continue;
    }
    let command = line.slice(2);
    const start = i;
    while (command.endsWith('\\') && i + 1 < lines.length)
      command = `${command.slice(0, -1)} ${lines[++i]?.trim()}`;
    out.push({ line: b.line + 1 + start, command, expected: '' });
  }
  return out;
}

/** Commit ids vary from run to run. */
const normalize = (text: string) =>
  text
    .replace(/\b[0-9a-f]{7,40}\b/g, '<sha>')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim();

describe('shell blocks in the docs', () => {
  it('finds the blocks, and every SKIP entry names one', () => {
    expect(BLOCKS.length).toBeGreaterThan(5);
    const keys = new Set(BLOCKS.flatMap((b) => [keyOf(b), `${keyOf(b)} #${b.index}`]));
    expect(Object.keys(SKIP).filter((k) => !keys.has(k))).toEqual([]);
  });

  for (const b of BLOCKS) {
    const reason = skipped(b);
    const title = `${b.file}:${b.line} (${b.heading}${b.index > 1 ? ` #${b.index}` : ''})`;
    if (reason) {
      it.skip(`${title}: ${reason}`, () => {});
      continue;
    }
    if (b.lang === 'console') {
      it(`${title}: each command prints what the block shows`, async () => {
        const setup = await setupFor(b);
        const { cwd } = setup;
        const env = { ...shellEnv(), ...setup.env };
        const commands = commandsOf(b);
        expect(commands.length).toBeGreaterThan(0);
        const marker = (n: number) => `@@timebox-doc-test ${n}@@`;
        const script =
          PRELUDE +
          commands.map((c, n) => `{ ${substitute(c.command)}\n} 2>&1; echo "${marker(n)} $?"`).join('\n');
        const r = spawnSync('bash', ['-c', script], { cwd, env, encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        let rest = r.stdout;
        for (const [n, c] of commands.entries()) {
          const end = rest.indexOf(marker(n));
          expect(
            end,
            `${b.file}:${c.line}: no output marker for \`${c.command}\`:\n${rest}`,
          ).toBeGreaterThanOrEqual(0);
          const output = rest.slice(0, end);
          const code = Number(/^ (\d+)/.exec(rest.slice(end + marker(n).length))?.[1]);
          rest = rest.slice(rest.indexOf('\n', end) + 1);
          expect(normalize(output), `${b.file}:${c.line}: $ ${c.command}`).toBe(normalize(c.expected));
          // Exit 1 is a decision (denied); 2 and above are usage or configuration errors.
          expect(code, `${b.file}:${c.line}: $ ${c.command} exited ${code}`).toBeLessThan(2);
        }
        await setup.cleanup?.();
      }, 60_000);
    } else {
      it(`${title}: runs without error`, async () => {
        const setup = await setupFor(b);
        try {
          const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', PRELUDE + substitute(b.text)], {
            cwd: setup.cwd,
            env: { ...shellEnv(), ...setup.env },
            encoding: 'utf8',
          });
          expect(r.status, `${b.file}:${b.line}\n${r.stdout}\n${r.stderr}`).toBe(0);
        } finally {
          await setup.cleanup?.();
        }
      }, 60_000);
    }
  }
});
