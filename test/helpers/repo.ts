// Real temporary git repositories holding an access repo, and an in-memory Io for running the CLI.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach } from 'vitest';
import type { Io } from '../../src/cli/context.js';
import { main } from '../../src/cli/main.js';
import { type Clock, systemClock } from '../../src/core/clock.js';

export const ROOT = resolve(import.meta.dirname, '../..');

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'timebox-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.com',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.com',
    },
  });
}

export function write(dir: string, path: string, text: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

/** A git repo on `main` with the example policies, policy tests and CODEOWNERS of this project, committed. */
export function exampleRepo(): string {
  const dir = tempDir();
  git(dir, 'init', '-q', '-b', 'main');
  cpSync(join(ROOT, 'policies'), join(dir, 'policies'), { recursive: true });
  cpSync(join(ROOT, '.github/CODEOWNERS'), join(dir, '.github/CODEOWNERS'));
  cpSync(join(ROOT, 'teams.example.yaml'), join(dir, 'teams.yaml'));
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'access repo');
  return dir;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  argv: string[],
  opts: { cwd: string; color?: boolean; env?: NodeJS.ProcessEnv; clock?: Clock },
): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    color: opts.color ?? false,
    isTTY: false,
    cwd: opts.cwd,
    env: opts.env ?? {},
    clock: opts.clock ?? systemClock,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}
