// The keys whose signatures mark a commit as made by GitHub: the armored OpenPGP key files that
// `audit.signing_keys` in timebox.yaml names (GitHub's web-flow key, https://github.com/web-flow.gpg).
import type { Config, FileProblem } from '../core/model.js';
import { OpenPgpError, type PublicKey, readPublicKeys } from './openpgp.js';
import type { RepoSource } from './source.js';

export async function loadSigningKeys(
  source: RepoSource,
  config: Config,
): Promise<{ keys: PublicKey[]; errors: FileProblem[] }> {
  const keys: PublicKey[] = [];
  const errors: FileProblem[] = [];
  for (const path of config.audit?.signing_keys ?? []) {
    const text = await source.read(path);
    if (text === null) {
      errors.push({
        file: 'timebox.yaml',
        line: 1,
        column: 1,
        path: '$.audit.signing_keys',
        message: `${path} does not exist`,
      });
      continue;
    }
    try {
      keys.push(...(await readPublicKeys(text)));
    } catch (err) {
      if (!(err instanceof OpenPgpError)) throw err;
      errors.push({
        file: path,
        line: 1,
        column: 1,
        path: '$',
        message: `not an OpenPGP public key: ${err.message}`,
      });
    }
  }
  return { keys, errors };
}
