// The installed `timebox` command as a user runs it (compiled by `npm run build`, which `npm test` and `npm ci` run).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleRepo, ROOT, write } from '../helpers/repo.js';

const BIN = join(ROOT, 'bin/timebox.js');
const timebox = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
  });

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
});

describe('bin/timebox.js', () => {
  it('--help lists the commands and exits 0', () => {
    const r = timebox(['--help'], ROOT);
    expect(r.status).toBe(0);
    for (const c of ['check', 'verify', 'new']) expect(r.stdout).toContain(c);
  });

  it('a reader that closes the pipe early (`| head -1`) ends it quietly, without a stack trace', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" --help | head -1`], {
      encoding: 'utf8',
    });
    expect(r.stdout).toMatch(/^Usage: timebox/);
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
  });

  it('no arguments prints help and exits 2', () => {
    expect(timebox([], ROOT).status).toBe(2);
  });

  it('a hostile request file exits 1 with positioned errors and no stack trace', () => {
    const dir = exampleRepo();
    write(
      dir,
      'requests/x/evil.yaml',
      `%YAML 1.2\n---\nrequester: &a alice\nresource: *a\n__proto__: { polluted: yes }\n<<: { role: admin }\n`,
    );
    const r = timebox(['check', 'requests/x/evil.yaml'], dir, { NO_COLOR: '1' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('requests/x/evil.yaml:1:1: YAML directives');
    expect(r.stdout).toContain('aliases');
    expect(r.stdout).not.toContain('\u001b[');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--json prints exactly one JSON document on stdout', () => {
    const dir = exampleRepo();
    write(
      dir,
      'requests/alice/a.yaml',
      'requester: alice\nresource: orders-db\nrole: read-only\nduration: 1h\nreason: Reproduce BUG-1234\n',
    );
    const r = timebox(['check', '--json', '--teams', 'teams.yaml'], dir);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).results[0].status).toBe('pending');
  });
});
