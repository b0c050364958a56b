// `timebox creds FILE`: open credentials sealed to you (an armored age file, or `apply --json` output).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CredsError } from '../creds/errors.js';
import { openWith } from '../creds/seal.js';
import type { Io } from './context.js';
import { EXIT, UsageError } from './errors.js';

const ARMORED = /-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----\n?/g;

/** Every sealed block in the input, with the file it is for when the input is `apply --json` output. */
export function sealedBlocks(text: string): { file: string | null; armored: string }[] {
  try {
    const doc = JSON.parse(text) as { granted?: { file?: string; credentials?: string }[] };
    if (Array.isArray(doc.granted)) {
      return doc.granted
        .filter((g) => typeof g.credentials === 'string')
        .map((g) => ({ file: g.file ?? null, armored: g.credentials as string }));
    }
  } catch {
    // not JSON: look for armored blocks
  }
  return [...text.matchAll(ARMORED)].map((m) => ({ file: null, armored: m[0] }));
}

export async function runCreds(io: Io, input: string, opts: { identity?: string[] }): Promise<number> {
  const text = input === '-' ? readFileSync(0, 'utf8') : readInput(resolve(io.cwd, input), input);
  const blocks = sealedBlocks(text);
  if (blocks.length === 0)
    throw new UsageError(`${input} holds no sealed credentials (-----BEGIN AGE ENCRYPTED FILE-----)`);
  const home = io.env.HOME ?? homedir();
  const identities = (
    opts.identity?.length
      ? opts.identity.map((p) => resolve(io.cwd, p))
      : ['id_ed25519', 'id_rsa'].map((k) => join(home, '.ssh', k))
  ).filter((p) => existsSync(p));
  if (identities.length === 0)
    throw new UsageError('no SSH private key found: pass --identity ~/.ssh/id_ed25519');
  let failed = 0;
  for (const block of blocks) {
    let opened: string | null = null;
    const reasons: string[] = [];
    for (const path of identities) {
      try {
        opened = await openWith(block.armored, readFileSync(path, 'utf8'));
        break;
      } catch (err) {
        reasons.push(
          `${path}: ${err instanceof CredsError || err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
    if (opened === null) {
      failed++;
      io.stderr(
        `timebox: cannot open the credentials${block.file ? ` for ${block.file}` : ''}:\n  ${reasons.join('\n  ')}\n`,
      );
      continue;
    }
    if (block.file) io.stderr(`# ${block.file}\n`);
    io.stdout(opened.endsWith('\n') ? opened : `${opened}\n`);
  }
  return failed > 0 ? EXIT.failed : EXIT.ok;
}

function readInput(path: string, given: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${given}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
