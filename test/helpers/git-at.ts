// git in a test repository as a given person at a given time, so that what the ledger reads from commit
// dates and identities is exact.
import { execFileSync } from 'node:child_process';

export interface Person {
  name: string;
  email: string;
}

export const ALICE: Person = { name: 'Alice', email: 'alice@example.com' };

/**
 * Runs git in `dir` with `author` (default ALICE) and `committer` (default the author) and both dates `when`;
 * its output.
 */
export function gitAt(
  dir: string,
  o: { when: string; author?: Person; committer?: Person },
  ...args: string[]
): string {
  const author = o.author ?? ALICE;
  const committer = o.committer ?? author;
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: author.name,
      GIT_AUTHOR_EMAIL: author.email,
      GIT_COMMITTER_NAME: committer.name,
      GIT_COMMITTER_EMAIL: committer.email,
      GIT_AUTHOR_DATE: o.when,
      GIT_COMMITTER_DATE: o.when,
    },
  });
}
