// The CLI's output streams, its clock and the access-repo check that runs before every command reading one.
// Apart from context.ts (the commands' shared module, which re-exports Io and repoRoot) so that
// `timebox --help` loads neither ajv nor yaml.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Clock, systemClock } from '../core/clock.js';
import { UsageError } from './errors.js';

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  color: boolean;
  isTTY: boolean;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The one clock (src/core/clock.ts): every command reads the time and arms timers through it. */
  clock: Clock;
}

/**
 * `timebox … | head` closes the pipe before everything is written: that is the reader being done, not an
 * error, so the process ends quietly as other Unix tools do instead of crashing with a stack trace.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

export function processIo(): Io {
  const env = process.env;
  quietOnClosedPipe(process.stdout);
  const color = env.NO_COLOR
    ? false
    : env.FORCE_COLOR
      ? env.FORCE_COLOR !== '0'
      : Boolean(process.stdout.isTTY);
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    color,
    isTTY: Boolean(process.stdin.isTTY && process.stdout.isTTY),
    cwd: process.cwd(),
    env,
    clock: systemClock,
  };
}

export function repoRoot(io: Io, repo: string | undefined): string {
  return resolve(io.cwd, repo ?? '.');
}

/**
 * Commands that read an access repo refuse, with the remedy, a folder that is not one (no `policies/`,
 * `requests/` or `timebox.yaml`): "run it in your access repo, or pass --repo", rather than a git or loader error.
 */
export function requireAccessRepo(
  io: Io,
  repo: string | undefined,
  given: boolean,
  historyOnly = false,
): void {
  const root = repoRoot(io, repo);
  if (['policies', 'requests', 'timebox.yaml'].some((f) => existsSync(join(root, f)))) return;
  // `status` and `audit` read only git history: a checkout whose requests were all removed is fine.
  if (historyOnly && existsSync(join(root, '.git'))) return;
  if (given) {
    throw new UsageError(
      `--repo ${repo}: ${root} is not an access repo (it has no policies/, requests/ or timebox.yaml)`,
    );
  }
  throw new UsageError(
    `${root} is not an access repo (it has no policies/, requests/ or timebox.yaml): run timebox in your access repo, or pass --repo DIR`,
  );
}
